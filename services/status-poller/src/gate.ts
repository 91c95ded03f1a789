/**
 * Politeness towards the providers (DESIGN.md §5): every status call runs under
 * the provider's shared `ProviderGate` (@pinflow/limits: request rate,
 * concurrency cap and circuit breaker across every poller replica, in the
 * poller's database). Here: what the scheduler needs of the gate, and how one
 * call's results feed the breaker. Pure apart from the interface.
 */
import type { CallOutcome, GateDecision, GateStatus, Permit } from "@pinflow/limits";
import type { CheckResult, HoldReason } from "./poll.js";

/** What the scheduler needs of a ProviderGate. */
export interface CallGate {
  /** Waits up to `maxWaitMs` while only the rate or the concurrency cap stands in the way. */
  acquire(provider: string, maxWaitMs: number): Promise<GateDecision>;
  release(permit: Permit, outcome: CallOutcome): Promise<void>;
  /** null when the provider has no gate row (not configured). */
  status(provider: string): Promise<GateStatus | null>;
}

/** Operator control of a provider's checks (every replica obeys it: the state is in the database). */
export interface ProviderControl {
  setPaused(provider: string, paused: boolean): Promise<boolean>;
  status(provider: string): Promise<GateStatus | null>;
}

/** No limits at all: for tests that do not exercise them. */
export const OPEN_GATE: CallGate & ProviderControl = {
  acquire: async (provider) => ({ kind: "granted", permit: { provider, slot: -1, holder: "open-gate" } }),
  release: async () => undefined,
  status: async () => null,
  setPaused: async () => false,
};

/** Release without a verdict (no request went out): the breaker learns nothing. */
export const NO_CALL: CallOutcome = { kind: "no_call" };

const RATE_LIMITED = /\bHTTP 429\b/;
/** A provider asking for less (`Retry-After: 0`) still gets this much rest: never a tight retry loop. */
export const MIN_RETRY_AFTER_MS = 1000;

/**
 * What one provider call (one reference, or one batch) tells the breaker:
 * - `retry_after` when the provider said so (a `Retry-After`, at least 1 s; HTTP 429 without one: `defaultRetryAfterMs`);
 * - `failure` when no reference got a readable answer (5xx, timeout, empty/HTML/garbled body, an
 *   unknown status word of a single-reference call): the call as a whole failed;
 * - `ok` otherwise: the provider answered (pending, done, cancelled, not found — and a batch in which only
 *   some entries are unclear: the provider is up, those orders are odd).
 */
export function classifyCall(results: Iterable<CheckResult>, defaultRetryAfterMs: number): CallOutcome {
  let answered = 0;
  let retryAfterMs: number | undefined;
  for (const r of results) {
    switch (r.kind) {
      case "pending":
      case "done":
      case "cancelled":
      case "not_found":
        answered++;
        break;
      case "unknown": {
        const ms = r.retryAfterMs ?? (RATE_LIMITED.test(r.cause) ? defaultRetryAfterMs : undefined);
        if (ms !== undefined) retryAfterMs = Math.max(retryAfterMs ?? 0, ms);
        break;
      }
      default: {
        const never: never = r;
        throw new Error(`unhandled check result ${JSON.stringify(never)}`);
      }
    }
  }
  if (retryAfterMs !== undefined) return { kind: "retry_after", ms: Math.max(MIN_RETRY_AFTER_MS, retryAfterMs) };
  return answered > 0 ? { kind: "ok" } : { kind: "failure" };
}

/** The gate's block reasons are hold reasons of the schedule. */
export function holdReasonOf(blocked: Extract<GateDecision, { kind: "blocked" }>): HoldReason {
  return blocked.reason;
}
