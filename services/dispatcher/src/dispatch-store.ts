/** Storage of the dispatch state machine and the route table. */
import type { ProviderName } from "@pinflow/contracts";
import type { OutboxEntry } from "@pinflow/pg";
import type { DispatchRow, Offer } from "./dispatch.js";
import type { Catalog } from "./catalog.js";

export type InsertResult = "inserted" | "exists" | "reference_taken";

export interface DispatchStore {
  get(orderId: string): Promise<DispatchRow | null>;
  /**
   * Insert a new row (version 1) and its events in one transaction. "exists": the order has a row
   * already; "reference_taken": another order holds the reference (draw a new one).
   */
  insert(row: DispatchRow, events: readonly OutboxEntry[]): Promise<InsertResult>;
  /**
   * Compare-and-set: write `row` if the stored version is `row.version - 1`, and enqueue `events`
   * in the same transaction. False when another handler changed the row first. A new attempt's
   * reference is stored for good in the same transaction (ReferenceTaken if another order has it).
   */
  update(row: DispatchRow, events: readonly OutboxEntry[]): Promise<boolean>;
  /** The package's offers, best first, with product codes and prices from the imported catalog when known. */
  offers(packageId: string): Promise<Offer[]>;
  /** Whether the order has events in the outbox not yet on the stream (other than the one of msgID `except`). */
  hasUnpublishedEvents(orderId: string, except?: string): Promise<boolean>;
  /** Upsert the catalog: each listed package's offers are replaced; packages not listed are left alone. */
  seedRoutes(catalog: Catalog): Promise<void>;
  /**
   * What a provider call showed about our access: `denied` when the provider shut us out (znet's empty
   * body), null for a readable reply (which ends a shut-out). Calls without a readable reply record nothing.
   */
  recordAccess(provider: ProviderName, denied: { cause: string } | null, at: Date): Promise<void>;
  /** The provider's current shut-out, or null when its last readable reply let us in. */
  providerAccess(provider: ProviderName): Promise<ProviderAccess | null>;
}

/** A provider that shuts us out, as the dispatcher's calls last saw it (shared by every replica). */
export interface ProviderAccess {
  provider: ProviderName;
  shutOutSince: Date;
  lastDeniedAt: Date;
  /** The adapter's cause (secrets masked). */
  cause: string;
  deniedReplies: number;
}

export class ConcurrentUpdate extends Error {
  override name = "ConcurrentUpdate";
}

/** A reference is already used by another order or attempt (astronomically rare: the reference is drawn again). */
export class ReferenceTaken extends Error {
  override name = "ReferenceTaken";
}
