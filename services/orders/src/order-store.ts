import type { ProjectionMessage } from "@pinflow/bus";
import type { OrderStatus } from "@pinflow/contracts";
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

/** The orders service's storage: its projection of the stream plus the idempotency keys of its API. */
export interface OrderStore {
  checkpoint(): Promise<number>;
  /** Fold one stream message into the projection and move the checkpoint, atomically. */
  apply(message: ProjectionMessage): Promise<void>;
  get(orderId: string): Promise<OrderRecord | null>;
  timeline(orderId: string): Promise<TimelineEntry[]>;
  list(filter: { status?: OrderStatus; limit: number; cursor?: OrderCursor }): Promise<OrderPage>;
  /** Claim `key` for an order; returns the order id and request hash stored under the key (ours or an earlier one). */
  claimIdempotencyKey(key: string, requestHash: string, orderId: string): Promise<{ orderId: string; requestHash: string }>;
  ping(): Promise<void>;
  /** Forget the projection (rows, timeline, checkpoint): the next start replays the stream from the beginning. */
  resetProjection(): Promise<void>;
}
