import { causedBy, makeEvent, type DeadLetter, type DeadLetterPage, type DeadLetterSink, type DeadLetterView } from "@pinflow/bus";
import type { EventData } from "@pinflow/contracts";
import type pg from "pg";
import { enqueueEvents, type OutboxEntry } from "./outbox.js";
import { inTransaction, type Queryable } from "./pool.js";

/**
 * The dead-letter record of a service (its own `dead_letter` table, created by each service's
 * migrations): messages a consumer gave up on, one row per (consumer, stream sequence).
 */

/** At most this many bytes of a message are kept (events are small; a huge one is cut). */
export const DEAD_LETTER_RAW_MAX = 16 * 1024;

/** Store a dead letter in the caller's transaction; false when this (consumer, seq) was recorded before. */
export async function recordDeadLetter(db: Queryable, letter: DeadLetter): Promise<boolean> {
  const raw = Buffer.from(letter.data.buffer, letter.data.byteOffset, Math.min(letter.data.byteLength, DEAD_LETTER_RAW_MAX));
  const r = await db.query(
    `INSERT INTO dead_letter (consumer, kind, stream_seq, subject, event_id, event_type, order_id, raw, raw_bytes, error, attempts)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
     ON CONFLICT (consumer, stream_seq) DO NOTHING`,
    [letter.consumer, letter.kind, letter.seq, letter.subject, letter.eventId, letter.eventType, letter.orderId, raw, letter.data.byteLength, letter.error, letter.attempts],
  );
  return (r.rowCount ?? 0) > 0;
}

interface DeadLetterRow {
  id: string;
  consumer: string;
  kind: string;
  stream_seq: string;
  subject: string;
  event_id: string | null;
  event_type: string | null;
  order_id: string | null;
  raw: Buffer;
  raw_bytes: number;
  error: string;
  attempts: number;
  created_at: Date;
}

/** Newest first; `before` is the `nextCursor` of the previous page. */
export async function listDeadLetters(db: Queryable, query: { limit: number; before?: number }): Promise<DeadLetterPage> {
  const params: unknown[] = [];
  let where = "";
  if (query.before !== undefined) {
    params.push(query.before);
    where = "WHERE id < $1";
  }
  params.push(query.limit + 1);
  const r = await db.query<DeadLetterRow>(`SELECT * FROM dead_letter ${where} ORDER BY id DESC LIMIT $${params.length}`, params);
  const rows = r.rows.slice(0, query.limit);
  const decoder = new TextDecoder("utf-8");
  const deadLetters = rows.map(
    (row): DeadLetterView => ({
      id: row.id,
      consumer: row.consumer,
      kind: row.kind,
      seq: Number(row.stream_seq),
      subject: row.subject,
      eventId: row.event_id,
      eventType: row.event_type,
      orderId: row.order_id,
      error: row.error,
      attempts: row.attempts,
      raw: decoder.decode(row.raw),
      rawBytes: row.raw_bytes,
      rawTruncated: row.raw.length < row.raw_bytes,
      createdAt: row.created_at.toISOString(),
    }),
  );
  return { deadLetters, nextCursor: r.rows.length > query.limit ? rows.at(-1)!.id : null };
}

/**
 * The dead-letter sink of a service with an outbox (dispatcher, status-poller): records the letter
 * and, when it names an order, appends a `ReviewRequired(unprocessable_event)` for that order in the
 * same transaction, so the order shows review instead of waiting for an event that will never be handled.
 */
export class OutboxDeadLetters implements DeadLetterSink {
  constructor(
    private readonly pool: pg.Pool,
    private readonly opts: {
      stage: EventData<"ReviewRequired">["stage"];
      /** Called after a commit that enqueued an event (the relay's kick). */
      committed: () => void;
      clock?: () => Date;
    },
  ) {}

  async record(letter: DeadLetter): Promise<void> {
    const entries = letter.orderId === null ? [] : [this.reviewOf(letter, letter.orderId)];
    const enqueued = await inTransaction(this.pool, async (db) => {
      if (!(await recordDeadLetter(db, letter))) return false; // recorded by an earlier delivery (or replica)
      await enqueueEvents(db, entries);
      return entries.length > 0;
    });
    if (enqueued) this.opts.committed();
  }

  private reviewOf(letter: DeadLetter, orderId: string): OutboxEntry {
    const origin =
      letter.eventId !== null && letter.correlationId !== null
        ? causedBy({ id: letter.eventId, orderId, correlationId: letter.correlationId, tenantId: letter.tenantId ?? undefined })
        : { orderId, correlationId: orderId, causationId: null, ...(letter.tenantId ? { tenantId: letter.tenantId } : {}) };
    const message = `${letter.eventType ?? "a message"} #${letter.seq} could not be processed by ${letter.consumer} (${letter.kind}, ${letter.attempts} deliveries): ${letter.error}`;
    const event = makeEvent(
      "ReviewRequired",
      origin,
      { stage: this.opts.stage, reason: "unprocessable_event", provider: null, reference: null, message: message.slice(0, 500) },
      (this.opts.clock ?? (() => new Date()))(),
    );
    // Not once-only: the order may have had a ReviewRequired already; deduplicated per dead letter.
    return { event, msgId: `ReviewRequired:${orderId}:dead-letter:${letter.consumer}:${letter.seq}`, once: false };
  }
}
