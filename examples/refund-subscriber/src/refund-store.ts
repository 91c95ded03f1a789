import { fileURLToPath } from "node:url";
import { migrate, type Pool } from "@pinflow/pg";
import type { Refund } from "./refunds.js";

export const MIGRATIONS_DIR = fileURLToPath(new URL("../migrations", import.meta.url));

export interface RefundRow {
  orderId: string;
  cause: string;
  eventId: string;
  streamSeq: number;
}

/** The subscriber's own table: one row per refunded order. */
export class PgRefundStore {
  constructor(private readonly pool: Pool) {}

  static async prepare(pool: Pool): Promise<PgRefundStore> {
    await migrate(pool, MIGRATIONS_DIR);
    return new PgRefundStore(pool);
  }

  /**
   * Record the refund; false when the order was refunded before (a redelivery, a re-published
   * fact, or a second failure event of the order): the primary key decides, in one statement.
   */
  async record(refund: Refund, streamSeq: number): Promise<boolean> {
    const r = await this.pool.query(
      `INSERT INTO refund (order_id, tenant_id, cause, reason_code, event_id, stream_seq, failed_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7)
       ON CONFLICT (order_id) DO NOTHING`,
      [refund.orderId, refund.tenantId, refund.cause, refund.reasonCode, refund.eventId, streamSeq, refund.failedAt],
    );
    return (r.rowCount ?? 0) > 0;
  }

  async list(): Promise<RefundRow[]> {
    const r = await this.pool.query<{ order_id: string; cause: string; event_id: string; stream_seq: string }>(
      "SELECT order_id, cause, event_id, stream_seq FROM refund ORDER BY stream_seq",
    );
    return r.rows.map((row) => ({ orderId: row.order_id, cause: row.cause, eventId: row.event_id, streamSeq: Number(row.stream_seq) }));
  }
}
