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
  // Samples in the order their orders were done (the live rows' id order: the window keeps the newest).
  const done = [...folds.values()].filter((f) => f.completion !== null && f.completedAt !== null).sort((a, b) => a.completedAt!.getTime() - b.completedAt!.getTime());
  await inTransaction(pool, async (client) => {
    await client.query("DELETE FROM watch");
    await client.query("DELETE FROM completion_sample");
    for (const fold of folds.values()) {
      const w = fold.watch;
      if (w === null) continue;
      await client.query(
        `INSERT INTO watch (order_id, provider, reference, package_id, correlation_id, sent_event_id, state, attempt,
                            next_check_at, deadline_at, unclear_in_row, sent_at, last_outcome, last_pending_at, created_at, updated_at,
                            provider_order_id, tenant_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $12, $15, $16, $17)`,
        [w.orderId, w.provider, w.reference, w.packageId, w.correlationId, w.sentEventId, w.state, w.attempt, w.nextCheckAt, w.deadlineAt, w.unclearInRow, w.sentAt, w.lastOutcome, w.lastPendingAt, fold.updatedAt ?? w.sentAt, w.providerOrderId, w.tenantId],
      );
      watches++;
    }
    for (const fold of done) {
      const c = fold.completion!;
      await client.query(
        `INSERT INTO completion_sample (order_id, provider, package_id, lower_ms, upper_ms, recorded_at) VALUES ($1, $2, $3, $4, $5, $6)`,
        [c.orderId, c.provider, c.packageId, Math.round(c.lowerMs), Math.round(c.upperMs), fold.completedAt],
      );
      samples++;
    }
  });
  return { orders: folds.size, watches, samples, malformed };
}
