/**
 * Per-provider limits around every provider call (place, check, balance): the shared ProviderGate of
 * @pinflow/limits (rate, concurrency cap and circuit breaker across replicas, in PostgreSQL), and how
 * each call's result feeds the breaker.
 */
import { runUnderPermit, type CallOutcome, type GateDecision, type PermitGate } from "@pinflow/limits";
import type { BalanceResult, CheckResult, PlaceResult } from "@pinflow/providers";

/** What the dispatcher needs of a ProviderGate. */
export type CallGate = PermitGate;

/** No limits (tests that do not exercise them). */
export const OPEN_GATE: CallGate = {
  acquire: async (provider) => ({ kind: "granted", permit: { provider, slot: -1, holder: "open-gate" } }),
  release: async () => undefined,
};

/** Release without a verdict: no request went out, so the breaker learns nothing (failures are kept). */
export const NO_CALL: CallOutcome = { kind: "no_call" };

export type Blocked = Extract<GateDecision, { kind: "blocked" }>;

const RATE_LIMITED = /\bHTTP 429\b/;

/** An unclear answer: the provider's own "retry after" when it gave one (or said 429), else a failure. */
function unclear(cause: string, retryAfterMs: number | undefined, defaultRetryAfterMs: number): CallOutcome {
  if (retryAfterMs !== undefined) return { kind: "retry_after", ms: retryAfterMs };
  if (RATE_LIMITED.test(cause)) return { kind: "retry_after", ms: defaultRetryAfterMs };
  return { kind: "failure" };
}

/** Parsed replies (acceptances and refusals) are healthy; ambiguous ones are failures. */
export function classifyPlace(r: PlaceResult, defaultRetryAfterMs: number): CallOutcome {
  switch (r.kind) {
    case "accepted":
      return { kind: "ok" };
    case "refused":
      return r.providerCode === "local" ? NO_CALL : { kind: "ok" };
    case "ambiguous":
      return unclear(r.cause, r.retryAfterMs, defaultRetryAfterMs);
    default: {
      const never: never = r;
      throw new Error(`unhandled place result ${JSON.stringify(never)}`);
    }
  }
}

export function classifyCheck(r: CheckResult, defaultRetryAfterMs: number): CallOutcome {
  switch (r.kind) {
    case "pending":
    case "done":
    case "cancelled":
    case "not_found":
      return { kind: "ok" };
    case "unknown":
      return unclear(r.cause, r.retryAfterMs, defaultRetryAfterMs);
    default: {
      const never: never = r;
      throw new Error(`unhandled check result ${JSON.stringify(never)}`);
    }
  }
}

export function classifyBalance(r: BalanceResult, defaultRetryAfterMs: number): CallOutcome {
  return r.kind === "ok" ? { kind: "ok" } : unclear(r.cause, r.retryAfterMs, defaultRetryAfterMs);
}

/** What a reply showed about our access to the provider: let in (readable), shut out, or nothing (no readable reply). */
export type Access = "let_in" | { denied: string } | "unclear";

export function placeAccess(r: PlaceResult): Access {
  switch (r.kind) {
    case "accepted":
      return "let_in";
    case "refused":
      return r.providerCode === "local" ? "unclear" : "let_in";
    case "ambiguous":
      return r.accessDenied === true ? { denied: r.cause } : "unclear";
    default: {
      const never: never = r;
      throw new Error(`unhandled place result ${JSON.stringify(never)}`);
    }
  }
}

export function checkAccess(r: CheckResult): Access {
  if (r.kind === "unknown") return r.accessDenied === true ? { denied: r.cause } : "unclear";
  return "let_in";
}

export function balanceAccess(r: BalanceResult): Access {
  if (r.kind === "ok") return "let_in";
  return r.accessDenied === true ? { denied: r.cause } : "unclear";
}

/** Run one call under a permit; blocked (paused, circuit open, rate, busy) answers at once with the wait.
 *  A failed release is ignored: the call's result (or error) stands. */
export async function gated<T>(
  gate: CallGate,
  provider: string,
  maxWaitMs: number,
  call: () => Promise<T>,
  classify: (result: T) => CallOutcome,
): Promise<{ kind: "done"; result: T } | Blocked> {
  return runUnderPermit(gate, provider, maxWaitMs, call, classify, { ignoreReleaseErrors: true });
}
