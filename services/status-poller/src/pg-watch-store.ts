import { context, propagation } from "@opentelemetry/api";
import type { ProviderName } from "@pinflow/contracts";
import { enqueueEvents, inTransaction, outboxRows, prepared, type OutboxEntry, type OutboxDocumentRow, type Pool } from "@pinflow/pg";
import { GroupCommit } from "./group-commit.js";
import type { CompletionRecord, PendingRecord } from "./adaptive.js";
import type { CheckKind, Completion, Watch, WatchState } from "./poll.js";
import type { Backlog, CheckNowResult, Claim, TraceCarrier, WatchRow, WatchStore } from "./watch-store.js";

/** Most settles written by one statement (what queued up while the previous one was being written). */
const SETTLE_BATCH = 64;

/** One check's settle, as queued for the next statement. */
interface Settle {
  claim: Claim;
  next: Watch;
  events: OutboxDocumentRow[];
  now: Date;
  completion?: Completion | undefined;
}

interface Row {
  order_id: string;
  provider: ProviderName;
  reference: string;
  provider_order_id: string | null;
  package_id: string;
  correlation_id: string;
  sent_event_id: string;
  state: WatchState;
  attempt: number;
  next_check_at: Date;
  deadline_at: Date;
  lease_owner: string | null;
  lease_until: Date | null;
  unclear_in_row: number;
  sent_at: Date;
  last_outcome: CheckKind | null;
  last_pending_at: Date | null;
  updated_at: Date;
  tenant_id: string | null;
  trace_context?: TraceCarrier | null;
}

/** The active trace context as a carrier to store, or null outside a trace. */
function activeTraceCarrier(): TraceCarrier | null {
  const carrier: TraceCarrier = {};
  propagation.inject(context.active(), carrier);
  return Object.keys(carrier).length > 0 ? carrier : null;
}

function toWatchRow(r: Row): WatchRow {
  return {
    orderId: r.order_id,
    provider: r.provider,
    reference: r.reference,
    providerOrderId: r.provider_order_id,
    packageId: r.package_id,
    correlationId: r.correlation_id,
    sentEventId: r.sent_event_id,
    tenantId: r.tenant_id,
    state: r.state,
    attempt: r.attempt,
    nextCheckAt: r.next_check_at,
    deadlineAt: r.deadline_at,
    unclearInRow: r.unclear_in_row,
    sentAt: r.sent_at,
    lastOutcome: r.last_outcome,
    lastPendingAt: r.last_pending_at,
    leaseOwner: r.lease_owner,
    leaseUntil: r.lease_until,
    updatedAt: r.updated_at,
  };
}

function toWatch(row: WatchRow): Watch {
  const { leaseOwner: _o, leaseUntil: _u, updatedAt: _a, ...watch } = row;
  return watch;
}

/** Due and not held: no lease, or the holder's lease ran out (a crashed replica). */
const CLAIMABLE = `state = 'watching' AND next_check_at <= $1 AND (lease_until IS NULL OR lease_until <= $1)`;

export class PgWatchStore implements WatchStore {
  constructor(private readonly pool: Pool) {}

  async insertWatch(w: Watch, now: Date): Promise<boolean> {
    const r = await this.pool.query(
      prepared(
        `INSERT INTO watch (order_id, provider, reference, package_id, correlation_id, sent_event_id, state, attempt,
                            next_check_at, deadline_at, unclear_in_row, sent_at, last_outcome, last_pending_at, created_at, updated_at,
                            provider_order_id, tenant_id, trace_context)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15, $16, $17, $18)
         ON CONFLICT (order_id) DO NOTHING`,
        [
          w.orderId,
          w.provider,
          w.reference,
          w.packageId,
          w.correlationId,
          w.sentEventId,
          w.state,
          w.attempt,
          w.nextCheckAt,
          w.deadlineAt,
          w.unclearInRow,
          w.sentAt,
          w.lastOutcome,
          w.lastPendingAt,
          now,
          w.providerOrderId,
          w.tenantId,
          activeTraceCarrier(),
        ],
      ),
    );
    return (r.rowCount ?? 0) > 0;
  }

  async claimDue(now: Date, owner: string, leaseMs: number, limit: number, providers?: readonly ProviderName[]): Promise<Claim[]> {
    if (limit <= 0) return [];
    return this.leaseRows(CLAIMABLE, "next_check_at", now, owner, leaseMs, limit, providers ?? null);
  }

  async claimPastDeadline(now: Date, owner: string, leaseMs: number, limit: number, providers: readonly ProviderName[]): Promise<Claim[]> {
    if (limit <= 0 || providers.length === 0) return [];
    return this.leaseRows(
      "state = 'watching' AND deadline_at <= $1 AND (lease_until IS NULL OR lease_until <= $1)",
      "deadline_at",
      now,
      owner,
      leaseMs,
      limit,
      providers,
    );
  }

  /**
   * Compare-and-set in one statement: lock the first `limit` rows matching
   * `where` (in `orderBy` order) that nobody else is locking, then stamp our lease on them.
   */
  private async leaseRows(
    where: string,
    orderBy: "next_check_at" | "deadline_at",
    now: Date,
    owner: string,
    leaseMs: number,
    limit: number,
    providers: readonly ProviderName[] | null,
  ): Promise<Claim[]> {
    // Not a prepared statement: its result is `watch.*`, and a prepared one would fail ("cached plan
    // must not change result type") in a replica still running while a newer one adds a column.
    const r = await this.pool.query<Row>(
      `WITH due AS (
         SELECT order_id FROM watch
          WHERE ${where} AND ($5::text[] IS NULL OR provider = ANY($5::text[]))
          ORDER BY ${orderBy}
          LIMIT $4
          FOR UPDATE SKIP LOCKED
       )
       UPDATE watch w
          SET lease_owner = $2,
              lease_until = $1::timestamptz + ($3::bigint * interval '1 millisecond'),
              updated_at = $1
         FROM due
        WHERE w.order_id = due.order_id
       RETURNING w.*`,
      [now, owner, leaseMs, limit, providers ? [...providers] : null],
    );
    const key = orderBy === "next_check_at" ? "nextCheckAt" : "deadlineAt";
    const traceOf = new Map(r.rows.map((row) => [row.order_id, row.trace_context ?? null]));
    return r.rows
      .map(toWatchRow)
      .sort((a, b) => a[key].getTime() - b[key].getTime())
      .map((row) => ({ watch: toWatch(row), owner, leaseUntil: row.leaseUntil!, traceContext: traceOf.get(row.orderId) ?? null }));
  }

  async hold(claim: Claim, nextCheckAt: Date, now: Date): Promise<boolean> {
    const r = await this.pool.query(
      `UPDATE watch SET next_check_at = $5, lease_owner = NULL, lease_until = NULL, updated_at = $6
        WHERE order_id = $1 AND state = 'watching' AND lease_owner = $2 AND lease_until = $3 AND attempt = $4`,
      [claim.watch.orderId, claim.owner, claim.leaseUntil, claim.watch.attempt, nextCheckAt, now],
    );
    return (r.rowCount ?? 0) === 1;
  }

  /**
   * The check's result, its events and its completion sample in one statement (atomic like a
   * transaction): nothing of its own is written unless the claim still holds. Settles that arrive
   * while one is being written go together in the next statement (GroupCommit): one statement and
   * one commit for many checks, each row still under its own claim check.
   */
  complete(claim: Claim, next: Watch, events: readonly OutboxEntry[], now: Date, completion?: Completion): Promise<boolean> {
    // The outbox rows take the trace context now, in the caller's context (the check's span).
    return this.settles.submit({ claim, next, events: outboxRows(events), now, completion });
  }

  private readonly settles = new GroupCommit<Settle, boolean>((items) => this.settleMany(items), SETTLE_BATCH);

  /** Each settle's claim check, watch update, outbox rows and completion sample, in one statement: whether each claim still held. */
  private async settleMany(items: readonly Settle[]): Promise<boolean[]> {
    const input = items.map(({ claim, next, now }, k) => ({
      k,
      order_id: claim.watch.orderId,
      owner: claim.owner,
      lease_until: claim.leaseUntil,
      attempt: claim.watch.attempt,
      state: next.state,
      next_attempt: next.attempt,
      next_check_at: next.nextCheckAt,
      unclear_in_row: next.unclearInRow,
      last_outcome: next.lastOutcome,
      last_pending_at: next.lastPendingAt,
      now,
    }));
    const events = items.flatMap(({ events }, k) => events.map((row) => ({ k, ...row })));
    const samples = items.flatMap(({ completion: c, now }, k) =>
      c ? [{ k, order_id: c.orderId, provider: c.provider, package_id: c.packageId, lower_ms: Math.round(c.lowerMs), upper_ms: Math.round(c.upperMs), recorded_at: now }] : [],
    );
    const r = await this.pool.query<{ k: number }>(
      prepared(`WITH input AS (
         SELECT * FROM jsonb_to_recordset($1::jsonb) AS i(k int, order_id text, owner text, lease_until timestamptz, attempt int, state text,
           next_attempt int, next_check_at timestamptz, unclear_in_row int, last_outcome text, last_pending_at timestamptz, now timestamptz)),
       moved AS (
         UPDATE watch w
            SET state = i.state, attempt = i.next_attempt, next_check_at = i.next_check_at, unclear_in_row = i.unclear_in_row,
                last_outcome = i.last_outcome, last_pending_at = i.last_pending_at, lease_owner = NULL, lease_until = NULL, updated_at = i.now
           FROM input i
          WHERE w.order_id = i.order_id AND w.state = 'watching' AND w.lease_owner = i.owner AND w.lease_until = i.lease_until AND w.attempt = i.attempt
         RETURNING i.k),
       queued AS (
         INSERT INTO outbox (order_id, event, msg_id, once, trace_context)
         SELECT o.order_id, o.event, o.msg_id, o.once, o.trace_context
           FROM ROWS FROM (jsonb_to_recordset($2::jsonb) AS (k int, order_id text, event jsonb, msg_id text, once boolean, trace_context jsonb))
                WITH ORDINALITY AS o(k, order_id, event, msg_id, once, trace_context, n)
          WHERE o.k IN (SELECT k FROM moved)
          ORDER BY o.n),
       sampled AS (
         INSERT INTO completion_sample (order_id, provider, package_id, lower_ms, upper_ms, recorded_at)
         SELECT s.order_id, s.provider, s.package_id, s.lower_ms, s.upper_ms, s.recorded_at
           FROM jsonb_to_recordset($3::jsonb) AS s(k int, order_id text, provider text, package_id text, lower_ms bigint, upper_ms bigint, recorded_at timestamptz)
          WHERE s.k IN (SELECT k FROM moved)
         ON CONFLICT (order_id) DO NOTHING)
       SELECT k FROM moved`,
      [JSON.stringify(input), JSON.stringify(events), JSON.stringify(samples)]),
    );
    const held = new Set(r.rows.map((row) => row.k));
    return items.map((_, k) => held.has(k));
  }

  async release(claim: Claim, now: Date): Promise<void> {
    await this.pool.query(
      `UPDATE watch SET lease_owner = NULL, lease_until = NULL, updated_at = $4
        WHERE order_id = $1 AND lease_owner = $2 AND lease_until = $3`,
      [claim.watch.orderId, claim.owner, claim.leaseUntil, now],
    );
  }

  async checkNow(orderId: string, now: Date, record?: (watch: WatchRow) => OutboxEntry[]): Promise<CheckNowResult> {
    const scheduled = await inTransaction(this.pool, async (client) => {
      const r = await client.query<Row>(
        `UPDATE watch
            SET next_check_at = $2,
                unclear_in_row = CASE WHEN state = 'review' THEN 0 ELSE unclear_in_row END,
                state = 'watching',
                updated_at = $2
          WHERE order_id = $1 AND state IN ('watching', 'review')
         RETURNING *`,
        [orderId, now],
      );
      const row = r.rows[0] ? toWatchRow(r.rows[0]) : null;
      if (row && record) await enqueueEvents(client, record(row));
      return row;
    });
    if (scheduled) return { kind: "scheduled", watch: scheduled };
    const existing = await this.get(orderId);
    return existing ? { kind: "closed", watch: existing } : { kind: "not_found" };
  }

  async get(orderId: string): Promise<WatchRow | null> {
    const r = await this.pool.query<Row>("SELECT * FROM watch WHERE order_id = $1", [orderId]);
    return r.rows[0] ? toWatchRow(r.rows[0]) : null;
  }

  async backlog(now: Date): Promise<Backlog> {
    const r = await this.pool.query<{ due: string; oldest: Date | null }>(
      `SELECT count(*) AS due, min(next_check_at) AS oldest FROM watch WHERE ${CLAIMABLE}`,
      [now],
    );
    const row = r.rows[0];
    return { due: Number(row?.due ?? 0), oldestDueAt: row?.oldest ?? null };
  }

  async recentCompletions(perKey: number): Promise<CompletionRecord[]> {
    const r = await this.pool.query<{ provider: ProviderName; package_id: string; lower_ms: string; upper_ms: string; recorded_at: Date }>(
      `SELECT provider, package_id, lower_ms, upper_ms, recorded_at
         FROM (SELECT s.*, row_number() OVER (PARTITION BY provider, package_id ORDER BY id DESC) AS rn
                 FROM completion_sample s) recent
        WHERE rn <= $1
        ORDER BY id DESC`,
      [perKey],
    );
    return r.rows.map((row) => ({
      provider: row.provider,
      packageId: row.package_id,
      lowerMs: Number(row.lower_ms),
      upperMs: Number(row.upper_ms),
      doneAtMs: row.recorded_at.getTime(),
    }));
  }

  async pendingWatches(perKey: number): Promise<PendingRecord[]> {
    const r = await this.pool.query<{ provider: ProviderName; package_id: string; sent_at: Date; last_pending_at: Date | null }>(
      `SELECT provider, package_id, sent_at, last_pending_at
         FROM (SELECT provider, package_id, sent_at, last_pending_at,
                      row_number() OVER (PARTITION BY provider, package_id ORDER BY sent_at DESC) AS rn
                 FROM watch WHERE state = 'watching') pending
        WHERE rn <= $1`,
      [perKey],
    );
    return r.rows.map((row) => ({
      provider: row.provider,
      packageId: row.package_id,
      sentAtMs: row.sent_at.getTime(),
      lowerMs: row.last_pending_at ? Math.max(0, row.last_pending_at.getTime() - row.sent_at.getTime()) : 0,
    }));
  }

  async trimCompletions(perKey: number): Promise<number> {
    const r = await this.pool.query(
      `DELETE FROM completion_sample c
        USING (SELECT id, row_number() OVER (PARTITION BY provider, package_id ORDER BY id DESC) AS rn
                 FROM completion_sample) old
        WHERE c.id = old.id AND old.rn > $1`,
      [perKey],
    );
    return r.rowCount ?? 0;
  }
}
