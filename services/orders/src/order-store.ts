import type { DeadLetter, DeadLetterPage, ProjectionEntry, ProjectionMessage } from "@pinflow/bus";
import type { OrderChange } from "./order-change.js";
import type { OrderStatus, ReviewReason } from "@pinflow/contracts";
import type { OrderCursor } from "./cursor.js";
import type { OrderRecord } from "./order.js";

export interface TimelineEntry {
  seq: number;
  eventId: string;
  type: string;
  occurredAt: string;
  data: Record<string, unknown>;
}

export interface OrderPage {
  orders: OrderRecord[];
  nextCursor: string | null;
}

/** Which orders a list shows: `tenantId` absent only for an operator of every tenant. */
export interface ListFilter {
  tenantId?: string;
  status?: OrderStatus;
  reviewReason?: string;
  packageId?: string;
  provider?: string;
  /** Player ids starting with this text. */
  playerPrefix?: string;
  /** ISO times: created at or after `createdFrom`, before `createdBefore`. */
  createdFrom?: string;
  createdBefore?: string;
  limit: number;
  cursor?: OrderCursor;
}

/**
 * What folding one message did: applied, or recorded as a dead letter (`fresh`: not recorded
 * before, e.g. by an earlier run of a replay), with the order put in review when it could tell which.
 */
export type ApplyResult =
  | { kind: "applied" }
  | { kind: "dead_lettered"; letter: DeadLetter; fresh: boolean; review: ReviewReason | null };

/** The orders service's storage: its projection of the stream plus the idempotency keys of its API. */
export interface OrderStore {
  checkpoint(): Promise<number>;
  /**
   * Fold one stream message into the projection and move the checkpoint, atomically. A malformed
   * message, or an event the rules refuse (a PIN that is not the order's), is recorded as a dead
   * letter instead, with its order in review. Throws when the database fails.
   */
  apply(message: ProjectionMessage): Promise<ApplyResult>;
  /** Fold consecutive messages like `apply`, in one transaction (all or nothing); one result per message. */
  applyBatch(messages: readonly ProjectionMessage[]): Promise<ApplyResult[]>;
  /**
   * Commit consecutive messages with the changes the projection's handlers returned for them, and
   * the last one's sequence as the checkpoint, in one transaction (all or nothing); one result per message.
   */
  commit(entries: readonly ProjectionEntry<OrderChange>[]): Promise<ApplyResult[]>;
  /** Give up on a message that failed `tries` times: dead letter, order in review, checkpoint past it. */
  deadLetter(message: ProjectionMessage, error: string, tries: number): Promise<ApplyResult>;
  /** The dead-letter record, newest first. */
  deadLetters(query: { limit: number; before?: number }): Promise<DeadLetterPage>;
  get(orderId: string): Promise<OrderRecord | null>;
  /** The order with its version: the stream sequence of the last event that changed it (the live stream's event id). */
  getVersioned(orderId: string): Promise<{ order: OrderRecord; version: number } | null>;
  timeline(orderId: string): Promise<TimelineEntry[]>;
  list(filter: ListFilter): Promise<OrderPage>;
  /** Claim the tenant's `key` for an order; returns the order id and request hash stored under it (ours or an earlier one). */
  claimIdempotencyKey(tenantId: string, key: string, requestHash: string, orderId: string): Promise<{ orderId: string; requestHash: string }>;
  ping(): Promise<void>;
  /** Forget the projection (rows, timeline, checkpoint): the next start replays the stream from the beginning. */
  resetProjection(): Promise<void>;
}
