/**
 * The status-poller's rules, pure: no pg, NATS or Nest; time, randomness and the
 * sealed PIN are passed in. A watch is one order the poller follows after
 * `OrderSent` until the provider gives a final answer (PIN or cancel) or a
 * person must look (deadline, too many unclear replies).
 */
import type { CheckOutcome, EncryptedPin, EventData, EventOf, ProviderName } from "@pinflow/contracts";

// ---------------------------------------------------------------------------
// Clock

export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

// ---------------------------------------------------------------------------
// Policy

export interface PollPolicy {
  /** Delay from OrderSent to the first check. */
  firstDelayMs: number;
  /** Delays after the 1st, 2nd, … check; after the list, the last delay keeps growing. */
  delaysMs: readonly number[];
  /** Factor applied per check after `delaysMs` runs out (≥ 1). */
  growth: number;
  /** No delay (before jitter) is longer than this. */
  maxDelayMs: number;
  /** Bounded jitter as a fraction: 0.1 = ±10 %. */
  jitter: number;
  /** From OrderSent; past it without a final answer the order goes to review (never to failed). */
  deadlineMs: number;
  /** This many unclear replies (unknown / not found) in a row → review. */
  maxUnclearInRow: number;
}

/** The seed schedule: 60 s, then 30 s, 1 m, 2 m, 4 m, 8 m, capped at 10 m; review after 24 h. */
export const SEED_POLICY: PollPolicy = {
  firstDelayMs: 60_000,
  delaysMs: [30_000, 60_000, 120_000],
  growth: 2,
  maxDelayMs: 600_000,
  jitter: 0.1,
  deadlineMs: 24 * 60 * 60 * 1000,
  maxUnclearInRow: 10,
};

/** The delay before a policy's jitter, after `attempt` checks (0 = before the first). */
export function baseDelayMs(policy: PollPolicy, attempt: number): number {
  if (attempt <= 0) return Math.min(policy.firstDelayMs, policy.maxDelayMs);
  const listed = policy.delaysMs[attempt - 1];
  if (listed !== undefined) return Math.min(listed, policy.maxDelayMs);
  const last = policy.delaysMs.at(-1) ?? policy.firstDelayMs;
  const beyond = attempt - policy.delaysMs.length;
  // Grow step by step so a huge attempt number cannot overflow to Infinity/NaN.
  let delay = last;
  for (let i = 0; i < beyond && delay < policy.maxDelayMs; i++) delay *= Math.max(1, policy.growth);
  return Math.min(Math.round(delay), policy.maxDelayMs);
}

/**
 * The delay before the next check after `attempt` checks, with bounded jitter:
 * `random` in [0, 1) maps linearly to [-jitter, +jitter) of the base delay.
 */
export function nextDelayMs(policy: PollPolicy, attempt: number, random: number): number {
  const base = baseDelayMs(policy, attempt);
  const r = Math.min(Math.max(random, 0), 1);
  const jitter = Math.min(Math.max(policy.jitter, 0), 1);
  return Math.max(0, Math.round(base * (1 + jitter * (2 * r - 1))));
}

// ---------------------------------------------------------------------------
// Watch

export type WatchState = "watching" | "completed" | "failed" | "review";
export const WATCH_STATES: readonly WatchState[] = ["watching", "completed", "failed", "review"];

/** What a status check told us: the provider's union with the PIN already sealed at the adapter. */
export type CheckResult =
  | { kind: "pending"; note: string | null }
  | { kind: "done"; pin: EncryptedPin; note: string | null }
  | { kind: "cancelled"; note: string | null }
  /** The provider says it does not know the reference (may be a lag right after acceptance). */
  | { kind: "not_found"; message: string }
  /** Could not find out: empty body, HTML, 5xx, timeout, garbage, unknown state. */
  | { kind: "unknown"; cause: string };
export type CheckKind = CheckResult["kind"];
export const CHECK_KINDS: readonly CheckKind[] = ["pending", "done", "cancelled", "not_found", "unknown"];

export interface Watch {
  orderId: string;
  provider: ProviderName;
  reference: string;
  packageId: string;
  /** Carried into every event the watch produces. */
  correlationId: string;
  /** The OrderSent event id: the cause of every event the watch produces. */
  sentEventId: string;
  state: WatchState;
  /** Checks done so far. */
  attempt: number;
  nextCheckAt: Date;
  deadlineAt: Date;
  unclearInRow: number;
  sentAt: Date;
  lastOutcome: CheckKind | null;
}

/** A new watch for an accepted order; the schedule counts from when the order was sent. */
export function newWatch(sent: EventOf<"OrderSent">, policy: PollPolicy, random: number): Watch {
  const sentAt = new Date(sent.occurredAt);
  const deadlineAt = new Date(sentAt.getTime() + policy.deadlineMs);
  return {
    orderId: sent.orderId,
    provider: sent.data.provider,
    reference: sent.data.reference,
    packageId: sent.data.packageId,
    correlationId: sent.correlationId,
    sentEventId: sent.id,
    state: "watching",
    attempt: 0,
    nextCheckAt: earliest(new Date(sentAt.getTime() + nextDelayMs(policy, 0, random)), deadlineAt),
    deadlineAt,
    unclearInRow: 0,
    sentAt,
    lastOutcome: null,
  };
}

export function isPastDeadline(watch: Pick<Watch, "deadlineAt">, now: Date): boolean {
  return now.getTime() >= watch.deadlineAt.getTime();
}

// ---------------------------------------------------------------------------
// Decisions

/** An event to append, before it gets an id and a time; `discriminator` completes its msgId. */
export type EventDraft =
  | { type: "StatusChecked"; data: EventData<"StatusChecked">; discriminator: number; once: false }
  | { type: "PinReceived"; data: EventData<"PinReceived">; discriminator: undefined; once: true }
  | { type: "OrderFailed"; data: EventData<"OrderFailed">; discriminator: undefined; once: true }
  | { type: "ReviewRequired"; data: EventData<"ReviewRequired">; discriminator: string; once: false };

export interface Decision {
  watch: Watch;
  events: EventDraft[];
}

const NOTE_MAX = 500;

export function clip(text: string, max = NOTE_MAX): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

export function statusOutcome(result: CheckResult): CheckOutcome {
  switch (result.kind) {
    case "pending":
    case "done":
    case "cancelled":
      return result.kind;
    case "not_found":
    case "unknown":
      return "unknown";
    default:
      return assertNever(result);
  }
}

/** The provider's own words for a check, for the timeline (never a PIN: the adapter seals it away). */
export function checkNote(result: CheckResult): string | null {
  switch (result.kind) {
    case "pending":
    case "done":
    case "cancelled":
      return result.note === null ? null : clip(result.note);
    case "not_found":
      return clip(`not found: ${result.message}`);
    case "unknown":
      return clip(result.cause);
    default:
      return assertNever(result);
  }
}

/**
 * Fold one status check into the watch: a `StatusChecked` for every check,
 * then at most one settling event (`PinReceived`, `OrderFailed`) or a
 * `ReviewRequired`; otherwise the next check time. A watch that is no longer
 * watching is left as it is.
 */
export function decideCheck(watch: Watch, result: CheckResult, now: Date, policy: PollPolicy, random: number): Decision {
  switch (watch.state) {
    case "watching":
      break;
    case "completed":
    case "failed":
    case "review":
      return { watch, events: [] };
    default:
      return assertNever(watch.state);
  }

  const attempt = watch.attempt + 1;
  const note = checkNote(result);
  const checked: EventDraft = {
    type: "StatusChecked",
    data: { provider: watch.provider, reference: watch.reference, attempt, outcome: statusOutcome(result), note },
    discriminator: attempt,
    once: false,
  };
  const base: Watch = { ...watch, attempt, lastOutcome: result.kind };

  switch (result.kind) {
    case "done":
      return {
        watch: { ...base, state: "completed", unclearInRow: 0 },
        events: [
          checked,
          {
            type: "PinReceived",
            data: { provider: watch.provider, reference: watch.reference, pin: result.pin, note, checks: attempt },
            discriminator: undefined,
            once: true,
          },
        ],
      };
    case "cancelled":
      return {
        watch: { ...base, state: "failed", unclearInRow: 0 },
        events: [
          checked,
          {
            type: "OrderFailed",
            data: {
              provider: watch.provider,
              reference: watch.reference,
              reasonCode: "provider_cancelled",
              message: clip(note === null ? `${watch.provider} cancelled the order` : `${watch.provider} cancelled the order: ${note}`),
            },
            discriminator: undefined,
            once: true,
          },
        ],
      };
    case "pending": {
      const next: Watch = { ...base, unclearInRow: 0 };
      if (isPastDeadline(watch, now)) return review(next, checked, "deadline_exceeded", deadlineMessage(next, note));
      return { watch: reschedule(next, now, policy, random), events: [checked] };
    }
    case "not_found":
    case "unknown": {
      const next: Watch = { ...base, unclearInRow: watch.unclearInRow + 1 };
      if (next.unclearInRow >= policy.maxUnclearInRow) {
        return review(next, checked, "unknown_status", clip(`${next.unclearInRow} unclear status replies in a row from ${watch.provider}; last: ${note ?? "-"}`));
      }
      if (isPastDeadline(watch, now)) return review(next, checked, "deadline_exceeded", deadlineMessage(next, note));
      return { watch: reschedule(next, now, policy, random), events: [checked] };
    }
    default:
      return assertNever(result);
  }
}

function reschedule(watch: Watch, now: Date, policy: PollPolicy, random: number): Watch {
  const next = new Date(now.getTime() + nextDelayMs(policy, watch.attempt, random));
  // The last check happens at the deadline itself, so a late PIN is still caught before review.
  return { ...watch, nextCheckAt: earliest(next, watch.deadlineAt) };
}

function review(watch: Watch, checked: EventDraft, reason: "deadline_exceeded" | "unknown_status", message: string): Decision {
  return {
    watch: { ...watch, state: "review" },
    events: [
      checked,
      {
        type: "ReviewRequired",
        data: { stage: "monitoring", reason, provider: watch.provider, reference: watch.reference, message: clip(message) },
        discriminator: `monitoring:${watch.attempt}`,
        once: false,
      },
    ],
  };
}

function deadlineMessage(watch: Watch, note: string | null): string {
  const hours = (watch.deadlineAt.getTime() - watch.sentAt.getTime()) / 3_600_000;
  const span = hours >= 1 ? `${Math.round(hours * 10) / 10} h` : `${Math.round(hours * 60 * 10) / 10} min`;
  return `no final answer from ${watch.provider} within ${span} (${watch.attempt} checks); last: ${note ?? watch.lastOutcome ?? "-"}`;
}

function earliest(a: Date, b: Date): Date {
  return a.getTime() <= b.getTime() ? a : b;
}

export function assertNever(value: never): never {
  throw new Error(`unexpected value: ${JSON.stringify(value)}`);
}
