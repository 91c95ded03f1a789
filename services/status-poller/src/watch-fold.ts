/**
 * The watch rows as a fold of the order stream (DESIGN.md I5, issue 8): pure, no pg or NATS. Every
 * fact of a watch is on the stream: OrderSent opens it (as `newWatch` does), each StatusChecked
 * (written at the check's time, with its attempt and outcome) advances it, and PinReceived,
 * OrderFailed and ReviewRequired (stage monitoring) settle it. The completion sample of the adaptive
 * schedule is derived from the same facts the live code uses: the last pending check and the done check.
 *
 * Not facts, and so derived here rather than recovered: leases (none after a rebuild), the row's
 * created/updated times (the first and the last event's time), and `nextCheckAt`. The live next-check
 * time has random jitter and, in adaptive mode, follows a schedule learnt at that moment; a rebuilt
 * watch gets the un-jittered preset due time (random 0.5 = no jitter), capped at the deadline.
 */
import type { CheckOutcome, OrderEvent, ProviderName } from "@pinflow/contracts";
import { assertNever, completionOf, isPastDeadline, newWatch, nextCheckDelayMs, PRESET_CADENCE, type CheckKind, type Completion, type Watch } from "./poll.js";
import type { PollPolicy } from "./policy.js";

/** `random` that gives no jitter (withJitter: 2·0.5 − 1 = 0). */
const NO_JITTER = 0.5;

export interface WatchFold {
  /** Null until the order's OrderSent. */
  watch: Watch | null;
  /** The order's time to done, once a check found it done. */
  completion: Completion | null;
  /** When the done check was made (the sample's `recorded_at`). */
  completedAt: Date | null;
  /** The time of the last event that changed the watch. */
  updatedAt: Date | null;
}

export const EMPTY_WATCH_FOLD: WatchFold = { watch: null, completion: null, completedAt: null, updatedAt: null };

/** The policy the poller follows for a provider (planner.policyFor). */
export type PolicyOf = (provider: ProviderName) => PollPolicy;

/**
 * What StatusChecked's outcome (`unknown` for both unclear kinds) says the check's kind was: the live
 * code's note of a not-found reply is `not found: …` (checkNote).
 */
export function checkKindOf(outcome: CheckOutcome, note: string | null): CheckKind {
  return outcome === "unknown" && note !== null && note.startsWith("not found: ") ? "not_found" : outcome;
}

export function evolveWatch(state: WatchFold, event: OrderEvent, policyOf: PolicyOf): WatchFold {
  const at = new Date(event.occurredAt);
  switch (event.type) {
    case "OrderSent": {
      if (state.watch !== null) return state; // a redelivered OrderSent inserts nothing
      const watch = newWatch(event, policyOf(event.data.provider), NO_JITTER);
      return { ...state, watch, updatedAt: at };
    }
    case "StatusChecked": {
      const w = state.watch;
      if (w === null) return state;
      // A check of a watch in review means an operator re-opened it (check-now resets the unclear count).
      const before: Watch = w.state === "review" ? { ...w, state: "watching", unclearInRow: 0 } : w;
      if (before.state !== "watching") return state;
      const policy = policyOf(before.provider);
      const kind = checkKindOf(event.data.outcome, event.data.note);
      const base: Watch = { ...before, attempt: event.data.attempt, lastOutcome: kind };
      switch (kind) {
        case "done":
          return { watch: { ...base, state: "completed", unclearInRow: 0 }, completion: completionOf(before, at), completedAt: at, updatedAt: at };
        case "cancelled":
          return { ...state, watch: { ...base, state: "failed", unclearInRow: 0 }, updatedAt: at };
        case "pending": {
          const next: Watch = { ...base, unclearInRow: 0, lastPendingAt: at };
          // A check that sends the watch to review leaves its next-check time (decideCheck); the ReviewRequired follows.
          return { ...state, watch: isPastDeadline(before, at) ? next : reschedule(next, at, policy), updatedAt: at };
        }
        case "not_found":
        case "unknown": {
          const next: Watch = { ...base, unclearInRow: before.unclearInRow + 1 };
          const toReview = next.unclearInRow >= policy.maxUnclearInRow || isPastDeadline(before, at);
          return { ...state, watch: toReview ? next : reschedule(next, at, policy), updatedAt: at };
        }
        default:
          return assertNever(kind);
      }
    }
    case "PinReceived":
      return settle(state, "completed", at);
    case "OrderFailed":
      return settle(state, "failed", at);
    case "ReviewRequired":
      return event.data.stage === "monitoring" ? settle(state, "review", at) : state;
    case "CompletedByOperator":
      return settle(state, "completed", at);
    case "FailedByOperator":
      return settle(state, "failed", at);
    case "RecheckRequested": {
      // What check-now did: a watching or review watch is due at once (a review one re-opened, its unclear count reset).
      const watch = state.watch;
      if (watch === null || (watch.state !== "watching" && watch.state !== "review")) return state;
      const unclearInRow = watch.state === "review" ? 0 : watch.unclearInRow;
      return { ...state, watch: { ...watch, state: "watching", unclearInRow, nextCheckAt: at }, updatedAt: at };
    }
    case "OrderCreated":
    case "DispatchFailed":
    case "DispatchHeld":
    case "PlacementStarted":
    case "PlacementAnswered":
    case "ReconcileAnswered":
    case "RedispatchRequested":
      // Before acceptance: the dispatcher's business (a watch starts with OrderSent).
      return state;
    default:
      return assertNever(event);
  }
}

function settle(state: WatchFold, to: "completed" | "failed" | "review", at: Date): WatchFold {
  if (state.watch === null) return state;
  return { ...state, watch: { ...state.watch, state: to }, updatedAt: at };
}

/** The un-jittered preset due time after a check at `at` (derived, not a fact), never past the deadline. */
function reschedule(watch: Watch, at: Date, policy: PollPolicy): Watch {
  const delay = nextCheckDelayMs(policy, PRESET_CADENCE, at.getTime() - watch.sentAt.getTime(), watch.attempt, NO_JITTER);
  const next = at.getTime() + delay;
  return { ...watch, nextCheckAt: new Date(Math.min(next, watch.deadlineAt.getTime())) };
}
