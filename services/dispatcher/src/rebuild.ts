/**
 * Rebuild the dispatch rows from the order stream (DESIGN.md I5): every order's events are folded
 * (dispatch-fold.ts) and its row written; outputs of the rules the stream does not show yet go to
 * the outbox (their msgIDs make a copy already on the stream a no-op). Leases and next-check times
 * are not facts: a rebuilt open placement is reconciled at once.
 */
import { causedBy, foldStreamByOrder, type NatsConnection } from "@pinflow/bus";
import type { EventNames } from "@pinflow/contracts";
import { inTransaction, type OutboxEntry, type Pool } from "@pinflow/pg";
import type { Logger } from "pino";
import { randomUUID } from "node:crypto";
import type { DispatchPolicy, DispatchRow } from "./dispatch.js";
import { EMPTY_FOLD, evolveDispatch, type DispatchFold } from "./dispatch-fold.js";
import { outboxEntries } from "./dispatch-events.js";
import { insertRows } from "./pg-dispatch-store.js";

/** Rows written per transaction. */
const WRITE_CHUNK = 2_000;

export interface RebuildResult {
  /** Orders on the stream. */
  orders: number;
  /** Rows written (orders the dispatcher handled). */
  rows: number;
  /** Outputs appended again through the outbox. */
  pendingEvents: number;
  /** Malformed messages skipped. */
  malformed: number;
}

/** Fold the whole stream per order (in stream order). */
export async function foldStream(nc: NatsConnection, names: EventNames, policy: DispatchPolicy, logger: Logger): Promise<{ folds: Map<string, DispatchFold>; malformed: number }> {
  return foldStreamByOrder(nc, names, EMPTY_FOLD, (state, event) => evolveDispatch(state, event, policy), logger);
}

/** Delete every dispatch row, then write the rows the stream gives (stop the dispatcher first). */
export async function rebuildDispatchRows(pool: Pool, nc: NatsConnection, names: EventNames, policy: DispatchPolicy, logger: Logger, now: Date = new Date()): Promise<RebuildResult> {
  const { folds, malformed } = await foldStream(nc, names, policy, logger);
  await inTransaction(pool, (client) => client.query("DELETE FROM dispatch"));
  let rows = 0;
  let pendingEvents = 0;
  let chunk: { rows: DispatchRow[]; outbox: OutboxEntry[] } = { rows: [], outbox: [] };
  const write = async () => {
    const { rows: written, outbox } = chunk;
    chunk = { rows: [], outbox: [] };
    await inTransaction(pool, (client) => insertRows(client, written, outbox));
    rows += written.length;
    pendingEvents += outbox.length;
  };
  for (const [orderId, fold] of folds) {
    if (fold.row === null || fold.order === null) continue;
    // The order's tenant stays on what the rebuild appends again.
    const origin = causedBy({ id: randomUUID(), orderId, correlationId: `rebuild-${orderId}`, tenantId: fold.tenantId ?? undefined });
    chunk.outbox.push(...outboxEntries(origin, fold.pending, fold.row.generation, now, randomUUID));
    chunk.rows.push({ ...fold.row, version: 1, updatedAt: now });
    if (chunk.rows.length >= WRITE_CHUNK) await write();
  }
  await write();
  return { orders: folds.size, rows, pendingEvents, malformed };
}
