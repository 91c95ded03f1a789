/**
 * Rebuild the status-poller's rows from the order stream (DESIGN.md I5): every order's events are
 * folded (watch-fold.ts) and its watch and completion sample written. Leases are not facts (none after
 * a rebuild); next-check times are the un-jittered preset due times (watch-fold.ts).
 * Every completed order's sample is written (in the order the orders were done, as the live ids
 * are); the poller trims them to its window when it starts (planner.refresh), as it does live.
 * Not on the stream, so not rebuilt: an operator's check-now (POST …/check-now) whose check has not
 * been made yet (a re-opened review stays in review; press it again).
 */
import { foldStreamByOrder, type NatsConnection } from "@pinflow/bus";
import type { EventNames } from "@pinflow/contracts";
import { inTransaction, type Pool } from "@pinflow/pg";
import type { Logger } from "pino";
import { EMPTY_WATCH_FOLD, evolveWatch, type PolicyOf, type WatchFold } from "./watch-fold.js";

/** Rows per insert statement. */
const WRITE_CHUNK = 2_000;
const WATCH_COLUMNS = `order_id, provider, reference, package_id, correlation_id, sent_event_id, state, attempt, next_check_at, deadline_at,
  unclear_in_row, sent_at, last_outcome, last_pending_at, created_at, updated_at, provider_order_id, tenant_id`;

export interface RebuildResult {
  /** Orders on the stream. */
  orders: number;
  /** Watch rows written (orders that were sent). */
  watches: number;
  /** Completion samples written. */
  samples: number;
  /** Malformed messages skipped. */
  malformed: number;
}

/** Fold the whole stream per order (in stream order); `order` lists the orders by their first event. */
export async function foldStream(nc: NatsConnection, names: EventNames, policyOf: PolicyOf, logger: Logger): Promise<{ folds: Map<string, WatchFold>; malformed: number }> {
  return foldStreamByOrder(nc, names, EMPTY_WATCH_FOLD, (state, event) => evolveWatch(state, event, policyOf), logger);
}

/** Replace every watch and completion sample with what the stream gives (stop the pollers first). */
export async function rebuildWatchRows(pool: Pool, nc: NatsConnection, names: EventNames, policyOf: PolicyOf, logger: Logger): Promise<RebuildResult> {
  const { folds, malformed } = await foldStream(nc, names, policyOf, logger);
  let watches = 0;
  let samples = 0;
  const done = [...folds.values()].filter((f) => f.completion !== null && f.completedAt !== null).sort((a, b) => a.completedAt!.getTime() - b.completedAt!.getTime());
  await inTransaction(pool, async (client) => {
    await client.query("DELETE FROM watch");
    await client.query("DELETE FROM completion_sample");
    // Many rows per statement, each chunk as one JSON document.
    const watched = [...folds.values()].filter((f) => f.watch !== null);
    for (let i = 0; i < watched.length; i += WRITE_CHUNK) {
      const rows = watched.slice(i, i + WRITE_CHUNK).map((fold) => {
        const w = fold.watch!;
        return {
          order_id: w.orderId, provider: w.provider, reference: w.reference, package_id: w.packageId, correlation_id: w.correlationId,
          sent_event_id: w.sentEventId, state: w.state, attempt: w.attempt, next_check_at: w.nextCheckAt, deadline_at: w.deadlineAt,
          unclear_in_row: w.unclearInRow, sent_at: w.sentAt, last_outcome: w.lastOutcome, last_pending_at: w.lastPendingAt,
          created_at: w.sentAt, updated_at: fold.updatedAt ?? w.sentAt, provider_order_id: w.providerOrderId, tenant_id: w.tenantId,
        };
      });
      await client.query(
        `INSERT INTO watch (${WATCH_COLUMNS}) SELECT ${WATCH_COLUMNS} FROM jsonb_populate_recordset(NULL::watch, $1::jsonb)`,
        [JSON.stringify(rows)],
      );
      watches += rows.length;
    }
    // Samples in the order their orders were done (the live rows' id order: the window keeps the newest).
    for (let i = 0; i < done.length; i += WRITE_CHUNK) {
      const rows = done.slice(i, i + WRITE_CHUNK).map((fold) => {
        const c = fold.completion!;
        return { order_id: c.orderId, provider: c.provider, package_id: c.packageId, lower_ms: Math.round(c.lowerMs), upper_ms: Math.round(c.upperMs), recorded_at: fold.completedAt };
      });
      await client.query(
        `INSERT INTO completion_sample (order_id, provider, package_id, lower_ms, upper_ms, recorded_at)
         SELECT order_id, provider, package_id, lower_ms, upper_ms, recorded_at
         FROM ROWS FROM (jsonb_to_recordset($1::jsonb) AS (order_id text, provider text, package_id text, lower_ms bigint, upper_ms bigint, recorded_at timestamptz))
           WITH ORDINALITY AS r(order_id, provider, package_id, lower_ms, upper_ms, recorded_at, n)
         ORDER BY n`,
        [JSON.stringify(rows)],
      );
      samples += rows.length;
    }
  });
  return { orders: folds.size, watches, samples, malformed };
}
