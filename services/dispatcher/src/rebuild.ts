/**
 * Rebuild the dispatch rows from the order stream (DESIGN.md I5): every order's events are folded
 * (dispatch-fold.ts) and its row written; outputs of the rules the stream does not show yet go to
 * the outbox (their msgIDs make a copy already on the stream a no-op). Leases and next-check times
 * are not facts: a rebuilt open placement is reconciled at once.
 */
import { causedBy, factMsgId, makeEvent, foldStreamByOrder, type NatsConnection } from "@pinflow/bus";
import type { EventNames, OrderEvent } from "@pinflow/contracts";
import { inTransaction, type OutboxEntry, type Pool } from "@pinflow/pg";
import type { Logger } from "pino";
import { randomUUID } from "node:crypto";
import type { DispatchPolicy, EventDraft } from "./dispatch.js";
import { EMPTY_FOLD, evolveDispatch, type DispatchFold } from "./dispatch-fold.js";
import { PgDispatchStore } from "./pg-dispatch-store.js";

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
  const store = new PgDispatchStore(pool);
  let rows = 0;
  let pendingEvents = 0;
  for (const [orderId, fold] of folds) {
    if (fold.row === null || fold.order === null) continue;
    const origin = causedBy({ id: randomUUID(), orderId, correlationId: `rebuild-${orderId}` });
    const outbox = fold.pending.map((d) => entry(d, makeEventFromDraft(d, origin, now)));
    const result = await store.insert({ ...fold.row, version: 1, updatedAt: now }, outbox);
    if (result !== "inserted") throw new Error(`could not write the rebuilt row of order ${orderId}: ${result}`);
    rows++;
    pendingEvents += outbox.length;
  }
  return { orders: folds.size, rows, pendingEvents, malformed };
}

function makeEventFromDraft(draft: EventDraft, origin: ReturnType<typeof causedBy>, at: Date): OrderEvent {
  return makeEvent(draft.type, origin, draft.data as never, at, randomUUID());
}

function entry(draft: EventDraft, event: OrderEvent): OutboxEntry {
  if (draft.type === "DispatchHeld") return { event, msgId: factMsgId(event, draft.seq), once: false };
  return { event, msgId: factMsgId(event), once: true };
}
