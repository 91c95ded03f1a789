import type { ProviderName } from "@pinflow/contracts";
import type { OutboxEntry } from "@pinflow/pg";
import type { CompletionRecord, PendingRecord } from "./adaptive.js";
import type { Completion, Watch } from "./poll.js";

/** A watch this process holds for one check, until `leaseUntil`. */
export interface Claim {
  watch: Watch;
  owner: string;
  leaseUntil: Date;
  /** The trace context stored with the watch (of the OrderSent that created it); its checks continue that trace. */
  traceContext?: TraceCarrier | null;
}

/** W3C trace-context fields (`traceparent`, `tracestate`) as stored. */
export type TraceCarrier = Record<string, string>;

export interface WatchRow extends Watch {
  leaseOwner: string | null;
  leaseUntil: Date | null;
  updatedAt: Date;
}

export type CheckNowResult =
  | { kind: "scheduled"; watch: WatchRow }
  /** The watch is settled (completed or failed): nothing left to check. */
  | { kind: "closed"; watch: WatchRow }
  | { kind: "not_found" };

export interface Backlog {
  /** Watches due now that nobody holds. */
  due: number;
  /** The earliest `next_check_at` among them. */
  oldestDueAt: Date | null;
}

export interface WatchStore {
  /**
   * Insert a new watch; false when one already exists for the order (a redelivered OrderSent).
   * The active trace context (the OrderSent's consume span) is stored with it.
   */
  insertWatch(watch: Watch, now: Date): Promise<boolean>;
  /**
   * Claim up to `limit` due watches nobody holds (or whose holder's lease has
   * expired) for `owner` until `now + leaseMs`. Concurrent callers get disjoint rows.
   */
  claimDue(now: Date, owner: string, leaseMs: number, limit: number, providers?: readonly ProviderName[]): Promise<Claim[]>;
  /**
   * Like claimDue, but only watches of `providers` whose deadline has passed
   * (providers this process cannot check now: none configured, or held back).
   */
  claimPastDeadline(now: Date, owner: string, leaseMs: number, limit: number, providers: readonly ProviderName[]): Promise<Claim[]>;
  /**
   * A check that was not made (the provider's limits held it back): move the
   * watch's next check to `nextCheckAt` and give the claim back, leaving the
   * attempt and unclear counts as they are. False when the claim was lost.
   */
  hold(claim: Claim, nextCheckAt: Date, now: Date): Promise<boolean>;
  /**
   * In one transaction: verify the claim still holds (same owner, lease and
   * attempt), store `next`, enqueue `events` in the outbox, and record the
   * order's time to done when it completed. False (and nothing written) when
   * the claim was lost.
   */
  complete(claim: Claim, next: Watch, events: readonly OutboxEntry[], now: Date, completion?: Completion): Promise<boolean>;
  /** Give a claim back unused, so any replica can take it at once. */
  release(claim: Claim, now: Date): Promise<void>;
  /**
   * Make a watch due now; a watch in review is re-opened for another check. `record` gives the
   * events that record the request (an operator's RecheckRequested), enqueued in the same transaction.
   */
  checkNow(orderId: string, now: Date, record?: (watch: WatchRow) => OutboxEntry[]): Promise<CheckNowResult>;
  get(orderId: string): Promise<WatchRow | null>;
  backlog(now: Date): Promise<Backlog>;
  /** The most recent `perKey` completion samples of every (provider, package), newest first. */
  recentCompletions(perKey: number): Promise<CompletionRecord[]>;
  /**
   * The watches still pending of every (provider, package), the `perKey` sent most recently of
   * each: when sent and when a check last said pending (the adaptive learner's orders not done yet).
   */
  pendingWatches(perKey: number): Promise<PendingRecord[]>;
  /** Delete all but the most recent `perKey` completion samples of every (provider, package); how many went. */
  trimCompletions(perKey: number): Promise<number>;
}
