import { deadLetterOf, orderIdOfSubject, type DeadLetterKind, type DeadLetterPage, type ProjectionEntry, type ProjectionMessage } from "@pinflow/bus";
import type { EncryptedPin, OrderReasonCode, OrderStatus, ReviewReason, WebhookPayload } from "@pinflow/contracts";
import { inTransaction, listDeadLetters, prepared, readCheckpoint, recordDeadLetter, writeCheckpoint, type Pool, type Queryable } from "@pinflow/pg";
import { encodeCursor } from "./cursor.js";
import { markForReview, timelineSummary, unstorableOrder, type OrderRecord, type PinCheck } from "./order.js";
import { orderChange, type OrderChange } from "./order-change.js";
import type { VersionedOrder } from "./order-changes.js";
import type { ApplyResult, ListFilter, OrderPage, OrderStore, TimelineEntry } from "./order-store.js";
import { enqueueWebhookDeliveries } from "./webhooks/pg-webhook-store.js";
import { statusChangePayload, type ChangeCause } from "./webhooks/webhook-payload.js";

const CHECKPOINT = "order_view";
/** The projection's name in the dead-letter record. */
export const PROJECTION_CONSUMER = CHECKPOINT;

interface OrderRow {
  order_id: string;
  tenant_id: string;
  package_id: string;
  player_id: string;
  extra: string | null;
  status: OrderStatus;
  provider: string | null;
  reference: string | null;
  provider_note: string | null;
  reason_code: OrderReasonCode | null;
  review_reason: string | null;
  pin_sealed: EncryptedPin | null;
  checks: number;
  created_at: Date;
  updated_at: Date;
  last_seq: string;
}

/**
 * The columns of OrderRow, named: a prepared statement whose result is `*` would fail ("cached
 * plan must not change result type") in a replica still running while a newer one adds a column.
 */
const ORDER_COLUMNS =
  "order_id, tenant_id, package_id, player_id, extra, status, provider, reference, provider_note, reason_code, review_reason, pin_sealed, checks, created_at, updated_at, last_seq";

function toRecord(row: OrderRow): OrderRecord {
  return {
    orderId: row.order_id,
    tenantId: row.tenant_id,
    packageId: row.package_id,
    playerId: row.player_id,
    extra: row.extra,
    status: row.status,
    provider: row.provider,
    reference: row.reference,
    providerNote: row.provider_note,
    reasonCode: row.reason_code,
    reviewReason: row.review_reason,
    pinSealed: row.pin_sealed,
    checks: row.checks,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}

export class PgOrderStore implements OrderStore {
  constructor(
    private readonly pool: Pool,
    /** Whether a PIN opens for its order and reference (a PinReceived whose PIN does not is refused). */
    private readonly pinOpens: PinCheck,
    /**
     * After each committed fold: the rows it wrote (with their versions) and every order its messages
     * were about (live streams of this replica listen; see OrderChanges).
     */
    private readonly committed: (commit: { changed: VersionedOrder[]; touched: string[] }) => void = () => undefined,
  ) {}

  checkpoint(): Promise<number> {
    return readCheckpoint(this.pool, CHECKPOINT);
  }

  async apply(message: ProjectionMessage): Promise<ApplyResult> {
    return (await this.applyBatch([message]))[0]!;
  }

  /** Fold consecutive messages with the changes the projection's handlers would return for them (`orderChange`); see `commit`. */
  applyBatch(messages: readonly ProjectionMessage[]): Promise<ApplyResult[]> {
    return this.commit(messages.map((message) => (message.ok ? { message, change: orderChange(message.event, this.pinOpens) } : { message, change: undefined })));
  }

  /**
   * Commit consecutive messages' changes in one transaction: the orders they touch are read once
   * (locked), changed in memory in stream order, and written back with one statement per table,
   * then the checkpoint moves to the last message. All or nothing.
   */
  async commit(entries: readonly ProjectionEntry<OrderChange>[]): Promise<ApplyResult[]> {
    const last = entries[entries.length - 1];
    if (last === undefined) return [];
    const messages = entries.map((e) => e.message);
    let rows: OrderRows | undefined;
    const results = await inTransaction(this.pool, async (db) => {
      rows = await OrderRows.load(db, messages.map(orderIdOf));
      const out: ApplyResult[] = [];
      for (const entry of entries) out.push(await this.fold(db, rows, entry));
      await rows.write(db);
      await writeCheckpoint(db, CHECKPOINT, last.message.seq);
      return out;
    });
    this.announce(rows!, messages);
    return results;
  }

  private announce(rows: OrderRows, messages: readonly ProjectionMessage[]): void {
    const touched = messages.map(orderIdOf).filter((id): id is string => id !== null);
    this.committed({ changed: rows.changes(), touched });
  }

  async deadLetter(message: ProjectionMessage, error: string, tries: number): Promise<ApplyResult> {
    return inTransaction<ApplyResult>(this.pool, async (db) => {
      const letter = deadLetterOf({ consumer: PROJECTION_CONSUMER, kind: message.ok ? "failed" : "malformed", ...letterFields(message), error, attempts: tries });
      const fresh = await recordDeadLetter(db, letter);
      // Marking the order is best effort (a savepoint): whatever made the event fail (e.g. text the
      // database refuses) must not stop the dead letter from being stored.
      let review: ReviewReason | null = null;
      await db.query("SAVEPOINT mark_order");
      try {
        const rows = await OrderRows.load(db, [orderIdOf(message)]);
        review = markOrder(rows, message, "unprocessable_event");
        await rows.write(db);
        await db.query("RELEASE SAVEPOINT mark_order");
      } catch {
        review = null;
        await db.query("ROLLBACK TO SAVEPOINT mark_order");
      }
      await writeCheckpoint(db, CHECKPOINT, message.seq);
      return { kind: "dead_lettered", letter, fresh, review };
    }).then((result) => {
      // The order's row may have changed (marked for review): its streams read it.
      const id = orderIdOf(message);
      this.committed({ changed: [], touched: id === null ? [] : [id] });
      return result;
    });
  }

  deadLetters(query: { limit: number; before?: number }): Promise<DeadLetterPage> {
    return listDeadLetters(this.pool, query);
  }

  /** One message's change into the rows: applied, or (malformed, or refused by the rules) recorded as a dead letter with its order in review. */
  private async fold(db: Queryable, rows: OrderRows, entry: ProjectionEntry<OrderChange>): Promise<ApplyResult> {
    // A malformed message (nothing to route, so no change) is recorded.
    if (entry.change === undefined) return this.giveUp(db, rows, entry.message, "malformed", entry.message.reason, "unprocessable_event");
    const { message, change } = entry;
    const event = message.event;
    // The other replica has folded this event already (its row has moved past it): folding it
    // again would write the order's older state over its later one.
    if (rows.folded(event.orderId, message.seq)) return { kind: "applied" };
    const current = rows.get(event.orderId);
    const folded = change.fold(current);
    if (folded.kind === "refuse") return this.giveUp(db, rows, message, "unapplicable", folded.error, folded.reason);
    const next = folded.next;
    if (next && next !== current) rows.set(next, message.seq, causeOf(event));
    if (next) rows.addTimeline({ seq: message.seq, orderId: event.orderId, eventId: event.id, type: event.type, occurredAt: event.occurredAt, summary: timelineSummary(event) });
    return { kind: "applied" };
  }

  /**
   * Record the message as a dead letter and put its order in review where we can tell which order
   * (the event's, else the subject's). Only projection rows change besides the record, all from the
   * message itself, so a replay gives the same rows.
   */
  private async giveUp(db: Queryable, rows: OrderRows, message: ProjectionMessage, kind: DeadLetterKind, error: string, reason: ReviewReason): Promise<ApplyResult> {
    const letter = deadLetterOf({ consumer: PROJECTION_CONSUMER, kind, ...letterFields(message), error, attempts: 1 });
    const fresh = await recordDeadLetter(db, letter);
    return { kind: "dead_lettered", letter, fresh, review: markOrder(rows, message, reason) };
  }

  async get(orderId: string): Promise<OrderRecord | null> {
    const r = await this.pool.query<OrderRow>(prepared(`SELECT ${ORDER_COLUMNS} FROM order_view WHERE order_id = $1`, [orderId]));
    return r.rows[0] ? toRecord(r.rows[0]) : null;
  }

  async getVersioned(orderId: string): Promise<{ order: OrderRecord; version: number } | null> {
    const r = await this.pool.query<OrderRow>(prepared(`SELECT ${ORDER_COLUMNS} FROM order_view WHERE order_id = $1`, [orderId]));
    const row = r.rows[0];
    return row ? { order: toRecord(row), version: Number(row.last_seq) } : null;
  }

  async timeline(orderId: string): Promise<TimelineEntry[]> {
    const r = await this.pool.query<{ seq: string; event_id: string; type: string; occurred_at: Date; summary: Record<string, unknown> }>(
      "SELECT seq, event_id, type, occurred_at, summary FROM order_timeline WHERE order_id = $1 ORDER BY seq",
      [orderId],
    );
    return r.rows.map((row) => ({
      seq: Number(row.seq),
      eventId: row.event_id,
      type: row.type,
      occurredAt: row.occurred_at.toISOString(),
      data: row.summary,
    }));
  }

  async list(filter: ListFilter): Promise<OrderPage> {
    const params: unknown[] = [];
    const where: string[] = [];
    if (filter.tenantId) {
      params.push(filter.tenantId);
      where.push(`tenant_id = $${params.length}`);
    }
    if (filter.reviewReason) {
      params.push(filter.reviewReason);
      where.push(`review_reason = $${params.length}`);
    }
    if (filter.status) {
      params.push(filter.status);
      where.push(`status = $${params.length}`);
    }
    const equal: [keyof ListFilter, string][] = [["packageId", "package_id"], ["provider", "provider"]];
    for (const [field, column] of equal) {
      if (filter[field] === undefined) continue;
      params.push(filter[field]);
      where.push(`${column} = $${params.length}`);
    }
    if (filter.playerPrefix !== undefined) {
      params.push(filter.playerPrefix);
      where.push(`starts_with(player_id, $${params.length})`);
    }
    if (filter.createdFrom !== undefined) {
      params.push(filter.createdFrom);
      where.push(`created_at >= $${params.length}`);
    }
    if (filter.createdBefore !== undefined) {
      params.push(filter.createdBefore);
      where.push(`created_at < $${params.length}`);
    }
    const cursor = filter.cursor;
    if (cursor) {
      params.push(cursor.createdAt, cursor.orderId);
      where.push(`(created_at, order_id) < ($${params.length - 1}, $${params.length})`);
    }
    params.push(filter.limit + 1);
    const r = await this.pool.query<OrderRow>(
      `SELECT * FROM order_view ${where.length ? `WHERE ${where.join(" AND ")}` : ""}
       ORDER BY created_at DESC, order_id DESC LIMIT $${params.length}`,
      params,
    );
    const rows = r.rows.slice(0, filter.limit).map(toRecord);
    const last = rows.at(-1);
    return { orders: rows, nextCursor: r.rows.length > filter.limit && last ? encodeCursor(last) : null };
  }

  async claimIdempotencyKey(tenantId: string, key: string, requestHash: string, orderId: string): Promise<{ orderId: string; requestHash: string }> {
    await this.pool.query(
      "INSERT INTO idempotency_key (tenant_id, key, request_hash, order_id) VALUES ($1, $2, $3, $4) ON CONFLICT (tenant_id, key) DO NOTHING",
      [tenantId, key, requestHash, orderId],
    );
    const r = await this.pool.query<{ order_id: string; request_hash: string }>(
      "SELECT order_id, request_hash FROM idempotency_key WHERE tenant_id = $1 AND key = $2",
      [tenantId, key],
    );
    const row = r.rows[0]!;
    return { orderId: row.order_id, requestHash: row.request_hash };
  }

  async resetProjection(): Promise<void> {
    await resetOrderProjection(this.pool);
  }

  async ping(): Promise<void> {
    await this.pool.query("SELECT 1");
  }
}

/**
 * Forget the projection (rows, timeline, checkpoint): the next start replays the stream. The
 * dead-letter record and the idempotency keys stay (they are records, not projection rows).
 */
export async function resetOrderProjection(pool: Pool): Promise<void> {
  await inTransaction(pool, async (db) => {
    await db.query("TRUNCATE order_view, order_timeline");
    await db.query("DELETE FROM projection_checkpoint WHERE name = $1", [CHECKPOINT]);
  });
}


/** The order a message is about: its event's, else (malformed) the one its subject names. */
function orderIdOf(message: ProjectionMessage): string | null {
  return message.ok ? message.event.orderId : orderIdOfSubject(message.subject);
}

function letterFields(message: ProjectionMessage) {
  return { seq: message.seq, subject: message.subject, data: message.data, event: message.ok ? message.event : null };
}

/** Put the message's order in review (a new one kept in review when its OrderCreated could not be stored); the review reason, or null. */
function markOrder(rows: OrderRows, message: ProjectionMessage, reason: ReviewReason): ReviewReason | null {
  const orderId = orderIdOf(message);
  if (orderId === null || rows.folded(orderId, message.seq)) return null;
  const event = message.ok ? message.event : null;
  const current = rows.get(orderId);
  const next = current ? markForReview(current, reason, event?.occurredAt ?? null) : event?.type === "OrderCreated" ? unstorableOrder(event) : null;
  if (next && next !== current) rows.set(next, message.seq, event ? causeOf(event) : null);
  return next?.status === "review" ? reason : null;
}

function causeOf(event: { id: string; type: string; occurredAt: string }): ChangeCause {
  return { eventId: event.id, type: event.type, occurredAt: event.occurredAt };
}

interface TimelineRow {
  seq: number;
  orderId: string;
  eventId: string;
  type: string;
  occurredAt: string;
  summary: Record<string, unknown>;
}

/**
 * The `order_view` rows one transaction works on: read once and locked, changed in memory, written
 * back with one multi-row upsert (each order once, with the sequence of its last change), plus the
 * new timeline entries in one insert.
 *
 * Every orders replica folds the stream into the same rows, each from where its own consumer is, so
 * a row's `last_seq` (its last change) says how far its order has been folded: an event at or
 * before it is skipped (`folded`), and a row written by the replica behind never replaces one with
 * a later change (the upsert's condition; two replicas creating the same row see no row to lock).
 */
class OrderRows {
  private readonly changed = new Map<string, { record: OrderRecord; seq: number }>();
  private readonly timeline: TimelineRow[] = [];
  /** Status changes for the tenants' webhooks (README "Webhooks"), queued in the same transaction. */
  private readonly statusChanges: WebhookPayload[] = [];

  private constructor(
    private readonly current: Map<string, OrderRecord | null>,
    /** Each order's `last_seq` as read (0: no row yet), then as changed here. */
    private readonly lastSeq: Map<string, number>,
  ) {}

  static async load(db: Queryable, orderIds: readonly (string | null)[]): Promise<OrderRows> {
    const ids = [...new Set(orderIds.filter((id): id is string => id !== null))];
    const current = new Map<string, OrderRecord | null>(ids.map((id) => [id, null]));
    const lastSeq = new Map<string, number>();
    if (ids.length > 0) {
      const r = await db.query<OrderRow>(prepared(`SELECT ${ORDER_COLUMNS} FROM order_view WHERE order_id = ANY($1::text[]) ORDER BY order_id FOR UPDATE`, [ids]));
      for (const row of r.rows) {
        current.set(row.order_id, toRecord(row));
        lastSeq.set(row.order_id, Number(row.last_seq));
      }
    }
    return new OrderRows(current, lastSeq);
  }

  get(orderId: string): OrderRecord | null {
    return this.current.get(orderId) ?? null;
  }

  /** Whether the order's row already holds the event at `seq` (its last change is at or after it). */
  folded(orderId: string, seq: number): boolean {
    return seq <= (this.lastSeq.get(orderId) ?? 0);
  }

  /** `cause`: the event that changed it (null: no readable event, then no webhook delivery). */
  set(record: OrderRecord, seq: number, cause: ChangeCause | null): void {
    const payload = cause ? statusChangePayload(this.current.get(record.orderId) ?? null, record, cause, seq) : null;
    if (payload) this.statusChanges.push(payload);
    this.current.set(record.orderId, record);
    this.lastSeq.set(record.orderId, seq);
    this.changed.set(record.orderId, { record, seq });
  }

  /** The rows this fold changed, each with the sequence of its last change (its version). */
  changes(): VersionedOrder[] {
    return [...this.changed.values()].map(({ record, seq }) => ({ order: record, version: seq }));
  }

  addTimeline(row: TimelineRow): void {
    this.timeline.push(row);
  }

  /** One statement per table; the rows go as one JSON document (cheaper to send than 15 array parameters). */
  async write(db: Queryable): Promise<void> {
    if (this.changed.size > 0) {
      const rows = [...this.changed.values()].map(({ record: o, seq }) => ({
        order_id: o.orderId, tenant_id: o.tenantId, package_id: o.packageId, player_id: o.playerId, extra: o.extra, status: o.status, provider: o.provider,
        reference: o.reference, provider_note: o.providerNote, reason_code: o.reasonCode, review_reason: o.reviewReason,
        pin_sealed: o.pinSealed, checks: o.checks, created_at: o.createdAt, updated_at: o.updatedAt, last_seq: seq,
      }));
      const written = await db.query<{ order_id: string }>(
        prepared(
          `INSERT INTO order_view (order_id, tenant_id, package_id, player_id, extra, status, provider, reference, provider_note,
             reason_code, review_reason, pin_sealed, checks, created_at, updated_at, last_seq)
           SELECT * FROM jsonb_to_recordset($1::jsonb) AS r(order_id text, tenant_id text, package_id text, player_id text, extra text, status text,
             provider text, reference text, provider_note text, reason_code text, review_reason text, pin_sealed jsonb, checks int,
             created_at timestamptz, updated_at timestamptz, last_seq bigint)
           ON CONFLICT (order_id) DO UPDATE SET status = EXCLUDED.status, provider = EXCLUDED.provider,
             reference = EXCLUDED.reference, provider_note = EXCLUDED.provider_note, reason_code = EXCLUDED.reason_code,
             review_reason = EXCLUDED.review_reason, pin_sealed = EXCLUDED.pin_sealed, checks = EXCLUDED.checks,
             updated_at = EXCLUDED.updated_at, last_seq = EXCLUDED.last_seq
           WHERE order_view.last_seq < EXCLUDED.last_seq
           RETURNING order_id`,
          [JSON.stringify(rows)],
        ),
      );
      // A row the other replica had already moved further is not this fold's change to announce.
      if (written.rows.length < this.changed.size) {
        const kept = new Set(written.rows.map((r) => r.order_id));
        for (const orderId of [...this.changed.keys()]) if (!kept.has(orderId)) this.changed.delete(orderId);
      }
    }
    if (this.timeline.length > 0) {
      const rows = this.timeline.map((e) => ({ seq: e.seq, order_id: e.orderId, event_id: e.eventId, type: e.type, occurred_at: e.occurredAt, summary: e.summary }));
      await db.query(
        prepared(
          `INSERT INTO order_timeline (seq, order_id, event_id, type, occurred_at, summary)
           SELECT * FROM jsonb_to_recordset($1::jsonb) AS r(seq bigint, order_id text, event_id uuid, type text, occurred_at timestamptz, summary jsonb)
           ON CONFLICT (seq) DO NOTHING`,
          [JSON.stringify(rows)],
        ),
      );
    }
    await enqueueWebhookDeliveries(db, this.statusChanges);
  }
}
