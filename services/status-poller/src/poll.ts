/**
 * The status-poller's rules, pure: no pg, NATS or Nest; time, randomness and the
 * sealed PIN are passed in. A watch is one order the poller follows after
 * `OrderSent` until the provider gives a final answer (PIN or cancel) or a
 * person must look (deadline, too many unclear replies).
 */
import type { CheckOutcome, EncryptedPin, EventData, EventOf, ProviderName } from "@pinflow/contracts";
import { learntDelayMs, scheduleFor, type CompletionSample, type LearntSchedule, type LearntSchedules } from "./adaptive.js";
import { withinBudgetDelayMs } from "./check-budget.js";
import { nextDelayMs, type PollPolicy, type ProviderPolling } from "./policy.js";

// ---------------------------------------------------------------------------
// Clock

export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

// ---------------------------------------------------------------------------
// Policy (presets and the fixed back-off live in policy.ts; the learnt schedule in adaptive.ts)

export {
  DEFAULT_ADAPTIVE,
  DEFAULT_POLICY,
  POLL_MODES,
  PRESETS,
  PRESET_NAMES,
  SEED_POLICY,
  baseDelayMs,
  nextDelayMs,
  withJitter,
  type AdaptiveSettings,
  type PollMode,
  type PollPolicy,
  type PollingPlan,
  type PresetName,
  type ProviderPolling,
} from "./policy.js";

/**
 * Where a watch's next check goes. `preset`: the policy's back-off by attempt
 * (exactly the behaviour before adaptive mode). `learnt`: from the time
 * already waited, on a schedule learnt from the provider's completions
 * (adaptive.ts); the policy still gives the jitter, the deadline and the
 * unclear-reply limit.
 */
export type Cadence = { kind: "preset" } | { kind: "learnt"; schedule: LearntSchedule };

export const PRESET_CADENCE: Cadence = { kind: "preset" };

/**
 * The delay (with jitter) from a check `elapsedMs` after sent, after `attempt` checks, to the next
 * one; never earlier than the policy's per-watch check budget allows (check-budget.ts).
 */
export function nextCheckDelayMs(policy: PollPolicy, cadence: Cadence, elapsedMs: number, attempt: number, random: number): number {
  return withinBudgetDelayMs(policy.checkBudget, attempt, elapsedMs, cadenceDelayMs(policy, cadence, elapsedMs, attempt, random));
}

function cadenceDelayMs(policy: PollPolicy, cadence: Cadence, elapsedMs: number, attempt: number, random: number): number {
  switch (cadence.kind) {
    case "preset":
      return nextDelayMs(policy, attempt, random);
    case "learnt":
      return learntDelayMs(cadence.schedule, elapsedMs, policy.jitter, random);
    default:
      return assertNever(cadence);
  }
}

/** The cadence a provider's (and package's) watch follows now: learnt when adaptive and learnt enough, else the preset. */
export function cadenceFor(polling: ProviderPolling, learnt: LearntSchedules, provider: ProviderName, packageId: string): Cadence {
  switch (polling.mode) {
    case "preset":
      return PRESET_CADENCE;
    case "adaptive": {
      const schedule = scheduleFor(learnt, provider, packageId);
      return schedule ? { kind: "learnt", schedule } : PRESET_CADENCE;
    }
    default:
      return assertNever(polling);
  }
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
  /**
   * Could not find out: empty body, HTML, 5xx, timeout, garbage, unknown state.
   * `retryAfterMs`: the provider asked to be left alone that long (HTTP 429 / Retry-After).
   */
  | { kind: "unknown"; cause: string; retryAfterMs?: number };
export type CheckKind = CheckResult["kind"];
export const CHECK_KINDS: readonly CheckKind[] = ["pending", "done", "cancelled", "not_found", "unknown"];

export interface Watch {
  orderId: string;
  provider: ProviderName;
  reference: string;
  /**
   * The provider's order id recorded in OrderSent (x-stor `order_id`): what x-stor's documented check
   * asks by. Null when the dispatcher learnt of the acceptance by reconciling (asked by `reference`).
   */
  providerOrderId: string | null;
  packageId: string;
  /** Carried into every event the watch produces. */
  correlationId: string;
  /** The OrderSent event id: the cause of every event the watch produces. */
  sentEventId: string;
  /** The order's tenant (OrderSent's), carried into every event the watch produces; null for orders from before tenants. */
  tenantId: string | null;
  state: WatchState;
  /** Checks done so far. */
  attempt: number;
  nextCheckAt: Date;
  deadlineAt: Date;
  unclearInRow: number;
  sentAt: Date;
  lastOutcome: CheckKind | null;
  /** When a check last said "pending" (null: none did yet): the order was not done then. */
  lastPendingAt: Date | null;
}

/**
 * A new watch for an accepted order; the schedule counts from when the order was sent. An order the
 * provider finished in its place reply (`pinInPlaceReply`: the dispatcher appended its PinReceived) is
 * recorded settled (`completed`, no check made) and never checked.
 */
export function newWatch(sent: EventOf<"OrderSent">, policy: PollPolicy, random: number, cadence: Cadence = PRESET_CADENCE): Watch {
  const sentAt = new Date(sent.occurredAt);
  const deadlineAt = new Date(sentAt.getTime() + policy.deadlineMs);
  return {
    orderId: sent.orderId,
    provider: sent.data.provider,
    reference: sent.data.reference,
    providerOrderId: sent.data.providerOrderId,
    packageId: sent.data.packageId,
    correlationId: sent.correlationId,
    sentEventId: sent.id,
    tenantId: sent.tenantId ?? null,
    state: sent.data.pinInPlaceReply === true ? "completed" : "watching",
    attempt: 0,
    nextCheckAt: earliest(new Date(sentAt.getTime() + nextCheckDelayMs(policy, cadence, 0, 0, random)), deadlineAt),
    deadlineAt,
    unclearInRow: 0,
    sentAt,
    lastOutcome: null,
    lastPendingAt: null,
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
  /** Set when the check found the order done: how long it took, for the adaptive schedule. */
  completion?: Completion;
}

/** A completed order's time to done, as the interval the checks pin it to (ms after sent). */
export interface Completion extends CompletionSample {
  orderId: string;
  provider: ProviderName;
  packageId: string;
}

/** Not done at the last pending check (or at sending), done by `now`. */
export function completionOf(watch: Watch, now: Date): Completion {
  const sent = watch.sentAt.getTime();
  const upperMs = Math.max(0, now.getTime() - sent);
  const lowerMs = Math.min(upperMs, Math.max(0, (watch.lastPendingAt?.getTime() ?? sent) - sent));
  return { orderId: watch.orderId, provider: watch.provider, packageId: watch.packageId, lowerMs, upperMs };
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

/** Whether the watch still waits for a final answer; a settled watch ignores further results. */
function isWatching(watch: Watch): boolean {
  switch (watch.state) {
    case "watching":
      return true;
    case "completed":
    case "failed":
    case "review":
      return false;
    default:
      return assertNever(watch.state);
  }
}

/**
 * Fold one status check into the watch: a `StatusChecked` for every check,
 * then at most one settling event (`PinReceived`, `OrderFailed`) or a
 * `ReviewRequired`; otherwise the next check time. A watch that is no longer
 * watching is left as it is.
 */
export function decideCheck(
  watch: Watch,
  result: CheckResult,
  now: Date,
  policy: PollPolicy,
  random: number,
  cadence: Cadence = PRESET_CADENCE,
): Decision {
  if (!isWatching(watch)) return { watch, events: [] };

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
        completion: completionOf(watch, now),
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
      const next: Watch = { ...base, unclearInRow: 0, lastPendingAt: now };
      if (isPastDeadline(watch, now)) return review(next, checked, "deadline_exceeded", deadlineMessage(next, note));
      return { watch: reschedule(next, now, policy, random, cadence), events: [checked] };
    }
    case "not_found":
    case "unknown": {
      const next: Watch = { ...base, unclearInRow: watch.unclearInRow + 1 };
      if (next.unclearInRow >= policy.maxUnclearInRow) {
        return review(next, checked, "unknown_status", clip(`${next.unclearInRow} unclear status replies in a row from ${watch.provider}; last: ${note ?? "-"}`));
      }
      if (isPastDeadline(watch, now)) return review(next, checked, "deadline_exceeded", deadlineMessage(next, note));
      return { watch: reschedule(next, now, policy, random, cadence), events: [checked] };
    }
    default:
      return assertNever(result);
  }
}

/**
 * Why a due check was not made: the provider's limits held it back (ProviderGate:
 * paused by an operator, circuit open, request rate, calls in flight), the
 * provider asked to be left alone (HTTP 429 / Retry-After), or no replica here
 * can check this provider at all.
 */
export type HoldReason = "paused" | "circuit_open" | "retry_after" | "rate_limited" | "busy" | "no_checker";
export const HOLD_REASONS: readonly HoldReason[] = ["paused", "circuit_open", "retry_after", "rate_limited", "busy", "no_checker"];

/**
 * Whether the provider is unreachable for a while (not just busy for a moment).
 * Past its deadline, a watch held for such a reason goes to review without a
 * last check; one held for a moment (rate, concurrency) waits for that check.
 */
export function isOutage(reason: HoldReason): boolean {
  switch (reason) {
    case "paused":
    case "circuit_open":
    case "retry_after":
    case "no_checker":
      return true;
    case "rate_limited":
    case "busy":
      return false;
    default:
      return assertNever(reason);
  }
}

/**
 * A due check that was not made. An outage only delays: the check moves to
 * `now + waitMs` (never past the deadline) with the attempt count, the unclear
 * count and the timeline untouched (no StatusChecked: nothing was learnt).
 * Past the deadline during an outage, the watch goes to review all the same
 * (`deadline_exceeded`, saying why there was no last check); held only for a
 * moment (rate, concurrency), it keeps its last check.
 */
export function decideHeld(watch: Watch, now: Date, waitMs: number, reason: HoldReason): Decision {
  if (!isWatching(watch)) return { watch, events: [] };
  const wait = Math.max(0, waitMs);
  if (isPastDeadline(watch, now)) {
    if (isOutage(reason)) {
      const message = `${deadlineMessage(watch, null)}; no last check: ${holdText(watch.provider, reason)}`;
      return {
        watch: { ...watch, state: "review" },
        events: [
          {
            type: "ReviewRequired",
            data: { stage: "monitoring", reason: "deadline_exceeded", provider: watch.provider, reference: watch.reference, message: clip(message) },
            // No check was made, so the attempt does not tell this review from an earlier one (check-now re-opens reviews).
            discriminator: `monitoring:${watch.attempt}:held:${now.getTime()}`,
            once: false,
          },
        ],
      };
    }
    return { watch: { ...watch, nextCheckAt: new Date(now.getTime() + wait) }, events: [] };
  }
  return { watch: { ...watch, nextCheckAt: earliest(new Date(now.getTime() + wait), watch.deadlineAt) }, events: [] };
}

export function holdText(provider: ProviderName, reason: HoldReason): string {
  switch (reason) {
    case "paused":
      return `${provider} checks are paused by an operator`;
    case "circuit_open":
      return `${provider} is failing (circuit open)`;
    case "retry_after":
      return `${provider} asked us to retry later (rate limited)`;
    case "rate_limited":
      return `${provider} request rate limit reached`;
    case "busy":
      return `${provider} has its maximum of calls in flight`;
    case "no_checker":
      return `no status checker is configured for ${provider}`;
    default:
      return assertNever(reason);
  }
}

function reschedule(watch: Watch, now: Date, policy: PollPolicy, random: number, cadence: Cadence): Watch {
  const elapsedMs = now.getTime() - watch.sentAt.getTime();
  const next = new Date(now.getTime() + nextCheckDelayMs(policy, cadence, elapsedMs, watch.attempt, random));
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
