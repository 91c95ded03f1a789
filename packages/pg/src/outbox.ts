import { context, propagation, ROOT_CONTEXT } from "@opentelemetry/api";
import type { OrderEvent } from "@pinflow/contracts";
import type { EventPublisher } from "@pinflow/bus";
import type { Logger } from "pino";
import type pg from "pg";
import { inTransaction, prepared, type Queryable } from "./pool.js";
import { ensureSchema } from "./schema.js";

/** The outbox table: events committed with the state change that caused them, published after. */
export const OUTBOX_DDL = `
CREATE TABLE IF NOT EXISTS outbox (
  id bigserial PRIMARY KEY,
  order_id text NOT NULL,
  event jsonb NOT NULL,
  msg_id text NOT NULL,
  once boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now(),
  published_at timestamptz
);
CREATE INDEX IF NOT EXISTS outbox_unpublished ON outbox (id) WHERE published_at IS NULL;
ALTER TABLE outbox ADD COLUMN IF NOT EXISTS trace_context jsonb;
`;

export interface OutboxEntry {
  event: OrderEvent;
  msgId: string;
  once: boolean;
}

/**
 * Add events to the outbox inside the caller's transaction, in one statement. The active trace
 * context (e.g. the span of the consumed event that caused them) is stored with them, so the relay
 * publishes them in the same trace.
 */
export async function enqueueEvents(db: Queryable, entries: readonly OutboxEntry[]): Promise<void> {
  if (entries.length === 0) return;
  await db.query(prepared(`INSERT INTO outbox (order_id, event, msg_id, once, trace_context) ${selectOutboxRows("$1")}`, [outboxDocument(entries)]));
}

/**
 * The outbox rows of `entries` as one JSON document, for `selectOutboxRows` (a statement can then
 * insert them together with other changes). Carries the active trace context.
 */
export function outboxDocument(entries: readonly OutboxEntry[]): string {
  return JSON.stringify(outboxRows(entries));
}

/** One outbox row of `outboxDocument` (before JSON). */
export interface OutboxDocumentRow {
  order_id: string;
  event: OrderEvent;
  msg_id: string;
  once: boolean;
  trace_context: Record<string, string> | null;
}

/** The outbox rows of `entries` with the active trace context, to be sent later as part of a document. */
export function outboxRows(entries: readonly OutboxEntry[]): OutboxDocumentRow[] {
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  const traceContext = Object.keys(carrier).length > 0 ? carrier : null;
  return entries.map((e) => ({ order_id: e.event.orderId, event: e.event, msg_id: e.msgId, once: e.once, trace_context: traceContext }));
}

/**
 * `SELECT` of the outbox columns (order_id, event, msg_id, once, trace_context) from a document of
 * `outboxDocument` in parameter `param`, in the document's order (the relay publishes by id).
 */
export function selectOutboxRows(param: string): string {
  return `SELECT order_id, event, msg_id, once, trace_context
    FROM ROWS FROM (jsonb_to_recordset(${param}::jsonb) AS (order_id text, event jsonb, msg_id text, once boolean, trace_context jsonb))
      WITH ORDINALITY AS o(order_id, event, msg_id, once, trace_context, n)
    ORDER BY n`;
}

/** Create the outbox table (safe while other replicas do the same). */
export async function ensureOutbox(pool: pg.Pool): Promise<void> {
  // Already current (its newest column is there): no DDL at all. Even `ADD COLUMN IF NOT EXISTS` takes
  // the table's exclusive lock, and a replica starting beside a running relay (row locks taken,
  // its update to come) would deadlock with it.
  const current = await pool.query(
    "SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = 'outbox' AND column_name = 'trace_context'",
  );
  if ((current.rowCount ?? 0) > 0) return;
  await ensureSchema(pool, OUTBOX_DDL);
}

/**
 * Publishes committed outbox rows to JetStream in id order. Rows are claimed
 * with SKIP LOCKED, so several replicas can relay at once; a crash between
 * publish and mark only republishes, and the msgID makes that a no-op.
 */
export class OutboxRelay {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;

  constructor(
    private readonly pool: pg.Pool,
    private readonly publisher: EventPublisher,
    private readonly logger: Logger,
    private readonly intervalMs = 250,
    private readonly batch = 200,
  ) {}

  start(): void {
    this.timer = setInterval(() => this.kick(), this.intervalMs);
    this.kick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }

  /** Relay now (called right after a commit, so events leave without waiting for the timer). */
  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.drain()
      .then(() => undefined)
      .catch((error) => this.logger.error({ err: error }, "outbox relay failed; will retry"))
      .finally(() => {
        this.running = undefined;
        if (this.again) {
          this.again = false;
          this.kick();
        }
      });
  }

  /**
   * Publish until the outbox is empty. A batch's orders are published side by side (their publishes
   * pipelined on the connection), each order's events one after the other in outbox order; an order
   * whose publish fails stops there (its later events wait, so the stream never shows them out of
   * order). What was published is marked in one statement; then a failure is thrown for a retry.
   */
  async drain(): Promise<number> {
    let total = 0;
    for (;;) {
      const { published, rows, failure, waiting } = await inTransaction(this.pool, async (client) => {
        // The batch, each row with its order's unpublished ids (locked by this relay or not), for `firstInLine`.
        const r = await client.query<OutboxRow & { line: string[] }>(
          prepared(
            `WITH batch AS (
               SELECT id, order_id, event, msg_id, once, trace_context FROM outbox WHERE published_at IS NULL ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED),
             lines AS (
               SELECT order_id, array_agg(id::text ORDER BY id) AS line FROM outbox
               WHERE published_at IS NULL AND order_id IN (SELECT order_id FROM batch) GROUP BY order_id)
             SELECT b.id, b.event, b.msg_id, b.once, b.trace_context, l.line FROM batch b JOIN lines l USING (order_id) ORDER BY b.id`,
            [this.batch],
          ),
        );
        const chains = firstInLine(groupByOrder(r.rows));
        const done: string[] = [];
        let failure: unknown;
        await Promise.all(
          [...chains.values()].map(async (chain) => {
            for (const row of chain) {
              try {
                await this.publish(row);
              } catch (error) {
                failure ??= error;
                return;
              }
              done.push(row.id);
            }
          }),
        );
        if (done.length > 0) await client.query(prepared("UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])", [done]));
        const waiting = r.rows.length - [...chains.values()].reduce((n, c) => n + c.length, 0);
        return { published: done.length, rows: r.rowCount ?? 0, failure, waiting };
      });
      total += published;
      if (failure !== undefined) throw failure;
      // Rows left for another relay to go first are retried on the next kick or tick, not in a busy loop.
      if (rows < this.batch || waiting > 0) return total;
    }
  }

  private publish(row: OutboxRow): Promise<unknown> {
    const parent = row.trace_context ? propagation.extract(ROOT_CONTEXT, row.trace_context) : ROOT_CONTEXT;
    return context.with(parent, () => this.publisher.publish(row.event, { msgId: row.msg_id, once: row.once }));
  }
}

interface OutboxRow {
  id: string;
  event: OrderEvent;
  msg_id: string;
  once: boolean;
  trace_context: Record<string, string> | null;
}

/**
 * Of each chain, the part that may be published now: the rows that come first among the order's
 * unpublished rows, up to the first gap. With SKIP LOCKED, another relay (replica) may hold some of
 * an order's rows — its earlier ones, or one between two of this batch's — and publishing past them
 * would put later events on the stream before earlier ones (a poller's ReviewRequired before the
 * StatusChecked that caused it; a dispatcher's reconcile answers swapped, and a rebuild that
 * disagrees with the live row). What is cut off stays unpublished, for after the rows before it.
 * Each row carries `line`: its order's unpublished ids, read by the statement that took the batch.
 */
function firstInLine(chains: Map<string, (OutboxRow & { line: string[] })[]>): Map<string, OutboxRow[]> {
  const ready = new Map<string, OutboxRow[]>();
  for (const [orderId, chain] of chains) {
    const line = chain[0]!.line;
    let n = 0;
    while (n < chain.length && chain[n]!.id === line[n]) n++;
    if (n > 0) ready.set(orderId, chain.slice(0, n));
  }
  return ready;
}

/** The rows per order, each order's in the order given. */
function groupByOrder<R extends OutboxRow>(rows: readonly R[]): Map<string, R[]> {
  const chains = new Map<string, R[]>();
  for (const row of rows) {
    const chain = chains.get(row.event.orderId);
    if (chain) chain.push(row);
    else chains.set(row.event.orderId, [row]);
  }
  return chains;
}
