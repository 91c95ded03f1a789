import { deadLetterOf, orderIdOfSubject, type DeadLetterKind, type DeadLetterPage, type ProjectionMessage } from "@pinflow/bus";
import type { EncryptedPin, OrderReasonCode, OrderStatus, ReviewReason } from "@pinflow/contracts";
import { inTransaction, listDeadLetters, readCheckpoint, recordDeadLetter, writeCheckpoint, type Pool, type PoolClient, type Queryable } from "@pinflow/pg";
import { encodeCursor } from "./cursor.js";
import { admit, evolve, markForReview, timelineSummary, unstorableOrder, type OrderRecord, type PinCheck } from "./order.js";
import type { ApplyResult, ListFilter, OrderPage, OrderStore, TimelineEntry } from "./order-store.js";

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
}

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
  ) {}

  checkpoint(): Promise<number> {
    return readCheckpoint(this.pool, CHECKPOINT);
  }

  async apply(message: ProjectionMessage): Promise<ApplyResult> {
    return inTransaction(this.pool, async (db) => {
      let result: ApplyResult = { kind: "applied" };
      if (!message.ok) {
        result = await this.giveUp(db, message, "malformed", message.reason, 1, "unprocessable_event");
      } else {
        const event = message.event;
        const current = await this.load(db, event.orderId, true);
        const admission = admit(current, event, this.pinOpens);
        if (admission.kind === "refuse") {
          result = await this.giveUp(db, message, "unapplicable", admission.error, 1, admission.reason);
        } else {
          const next = evolve(current, event);
          if (next && next !== current) await this.save(db, next, message.seq);
          if (next) {
            await db.query(
              `INSERT INTO order_timeline (seq, order_id, event_id, type, occurred_at, summary)
               VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (seq) DO NOTHING`,
              [message.seq, event.orderId, event.id, event.type, event.occurredAt, JSON.stringify(timelineSummary(event))],
            );
          }
        }
      }
      await writeCheckpoint(db, CHECKPOINT, message.seq);
      return result;
    });
  }

  async deadLetter(message: ProjectionMessage, error: string, tries: number): Promise<ApplyResult> {
    return inTransaction(this.pool, async (db) => {
      const result = await this.giveUp(db, message, message.ok ? "failed" : "malformed", error, tries, "unprocessable_event");
      await writeCheckpoint(db, CHECKPOINT, message.seq);
      return result;
    });
  }

  deadLetters(query: { limit: number; before?: number }): Promise<DeadLetterPage> {
    return listDeadLetters(this.pool, query);
  }

  /**
   * Record the message as a dead letter and put its order in review where we can tell which order
   * (the event's, else the subject's). Only projection rows change besides the record, all from the
   * message itself, so a replay gives the same rows. Marking the order is best effort (a savepoint):
   * whatever made the event fail must not stop the dead letter from being stored.
   */
  private async giveUp(
    db: PoolClient,
    message: ProjectionMessage,
    kind: DeadLetterKind,
    error: string,
    tries: number,
    reason: ReviewReason,
  ): Promise<ApplyResult> {
    const event = message.ok ? message.event : null;
    const letter = deadLetterOf({ consumer: PROJECTION_CONSUMER, kind, seq: message.seq, subject: message.subject, data: message.data, event, error, attempts: tries });
    const fresh = await recordDeadLetter(db, letter);
    const orderId = event?.orderId ?? orderIdOfSubject(message.subject);
    let review: ReviewReason | null = null;
    if (orderId !== null) {
      await db.query("SAVEPOINT mark_order");
      try {
        const current = await this.load(db, orderId, true);
        const next = current ? markForReview(current, reason, event?.occurredAt ?? null) : event?.type === "OrderCreated" ? unstorableOrder(event) : null;
        if (next && next !== current) await this.save(db, next, message.seq);
        if (next?.status === "review") review = reason;
        await db.query("RELEASE SAVEPOINT mark_order");
      } catch {
        await db.query("ROLLBACK TO SAVEPOINT mark_order");
      }
    }
    return { kind: "dead_lettered", letter, fresh, review };
  }

  async get(orderId: string): Promise<OrderRecord | null> {
    return this.load(this.pool, orderId, false);
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

  private async load(db: Queryable, orderId: string, forUpdate: boolean): Promise<OrderRecord | null> {
    const r = await db.query<OrderRow>(`SELECT * FROM order_view WHERE order_id = $1${forUpdate ? " FOR UPDATE" : ""}`, [orderId]);
    return r.rows[0] ? toRecord(r.rows[0]) : null;
  }

  private async save(db: Queryable, o: OrderRecord, seq: number): Promise<void> {
    await db.query(
      `INSERT INTO order_view (order_id, package_id, player_id, extra, status, provider, reference, provider_note,
         reason_code, review_reason, pin_sealed, checks, created_at, updated_at, last_seq, tenant_id)
       VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16)
       ON CONFLICT (order_id) DO UPDATE SET status = EXCLUDED.status, provider = EXCLUDED.provider,
         reference = EXCLUDED.reference, provider_note = EXCLUDED.provider_note, reason_code = EXCLUDED.reason_code,
         review_reason = EXCLUDED.review_reason, pin_sealed = EXCLUDED.pin_sealed, checks = EXCLUDED.checks,
         updated_at = EXCLUDED.updated_at, last_seq = EXCLUDED.last_seq`,
      [o.orderId, o.packageId, o.playerId, o.extra, o.status, o.provider, o.reference, o.providerNote, o.reasonCode,
        o.reviewReason, o.pinSealed ? JSON.stringify(o.pinSealed) : null, o.checks, o.createdAt, o.updatedAt, seq, o.tenantId],
    );
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

