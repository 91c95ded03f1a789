import type { WebhookAttemptView, WebhookDeliveryState, WebhookDeliveryView, WebhookPayload, WebhookView } from "@pinflow/contracts";
import { inTransaction, prepared, type Pool, type Queryable } from "@pinflow/pg";
import type { SealedPin } from "@pinflow/secrets";

/**
 * Queue one delivery per status change and per live endpoint of the order's tenant registered before
 * the change (its `from_seq`). Runs inside the projection's transaction; a replay's same event ids
 * queue nothing twice.
 */
export async function enqueueWebhookDeliveries(db: Queryable, changes: readonly WebhookPayload[]): Promise<void> {
  if (changes.length === 0) return;
  await db.query(
    prepared(
      `INSERT INTO webhook_delivery (webhook_id, event_id, order_id, seq, payload)
       SELECT e.webhook_id, r.id, r."orderId", r.version, r.payload
         FROM jsonb_to_recordset($1::jsonb) AS r(id uuid, "orderId" text, "tenantId" text, version bigint, payload jsonb)
         JOIN webhook_endpoint e ON e.tenant_id = r."tenantId" AND e.deleted_at IS NULL AND r.version > e.from_seq
       ON CONFLICT (webhook_id, event_id) DO NOTHING`,
      [JSON.stringify(changes.map((c) => ({ ...c, payload: c })))],
    ),
  );
}

export interface WebhookEndpoint {
  webhookId: string;
  tenantId: string;
  url: string;
  description: string;
  createdAt: string;
}

/** A delivery claimed for one try: where it goes, with what, and which try this is. */
export interface DueDelivery {
  deliveryId: string;
  webhookId: string;
  tenantId: string;
  url: string;
  secretSealed: SealedPin;
  eventId: string;
  version: number;
  payload: WebhookPayload;
  attempt: number;
}

export interface AttemptOutcome {
  statusCode: number | null;
  error: string | null;
  durationMs: number;
}

/** After a try: delivered, another try at `at`, or given up on (`failed`, visible and retryable by hand). */
export type NextStep = { kind: "delivered" } | { kind: "retry"; at: Date } | { kind: "failed" };

interface EndpointRow {
  webhook_id: string;
  tenant_id: string;
  url: string;
  description: string;
  created_at: Date;
}

const toEndpoint = (r: EndpointRow): WebhookEndpoint => ({ webhookId: r.webhook_id, tenantId: r.tenant_id, url: r.url, description: r.description, createdAt: r.created_at.toISOString() });

/** The webhook registrations and their delivery outbox in the orders database. */
export class PgWebhookStore {
  constructor(private readonly pool: Pool) {}

  /**
   * Register an endpoint, unless its tenant has `maxPerTenant` live ones already (then null). It gets
   * the changes of events after `fromSeq` (the stream's head now) or the projection's checkpoint,
   * whichever is later — so a registration during a rebuild does not get the replayed history.
   */
  async register(endpoint: Omit<WebhookEndpoint, "createdAt"> & { secretSealed: SealedPin }, maxPerTenant: number, fromSeq = 0): Promise<WebhookEndpoint | null> {
    return inTransaction(this.pool, async (db) => {
      // One registration per tenant at a time, so the limit holds under concurrent requests.
      await db.query("SELECT pg_advisory_xact_lock(hashtext('webhook:' || $1))", [endpoint.tenantId]);
      const count = await db.query<{ n: number }>("SELECT count(*)::int AS n FROM webhook_endpoint WHERE tenant_id = $1 AND deleted_at IS NULL", [endpoint.tenantId]);
      if (count.rows[0]!.n >= maxPerTenant) return null;
      const r = await db.query<EndpointRow>(
        `INSERT INTO webhook_endpoint (webhook_id, tenant_id, url, description, secret_sealed, from_seq)
         VALUES ($1, $2, $3, $4, $5, GREATEST($6::bigint, COALESCE((SELECT last_seq FROM projection_checkpoint WHERE name = 'order_view'), 0)))
         RETURNING webhook_id, tenant_id, url, description, created_at`,
        [endpoint.webhookId, endpoint.tenantId, endpoint.url, endpoint.description, JSON.stringify(endpoint.secretSealed), fromSeq],
      );
      return toEndpoint(r.rows[0]!);
    });
  }

  async get(webhookId: string): Promise<WebhookEndpoint | null> {
    const r = await this.pool.query<EndpointRow>("SELECT * FROM webhook_endpoint WHERE webhook_id = $1 AND deleted_at IS NULL", [webhookId]);
    return r.rows[0] ? toEndpoint(r.rows[0]) : null;
  }

  /** Live endpoints (of one tenant, or all), oldest first, with their delivery counts. */
  async list(filter: { tenantId?: string }): Promise<WebhookView[]> {
    const r = await this.pool.query<EndpointRow & { pending: number; delivered: number; failed: number }>(
      `SELECT e.*,
         (SELECT count(*)::int FROM webhook_delivery d WHERE d.webhook_id = e.webhook_id AND d.state = 'pending') AS pending,
         (SELECT count(*)::int FROM webhook_delivery d WHERE d.webhook_id = e.webhook_id AND d.state = 'delivered') AS delivered,
         (SELECT count(*)::int FROM webhook_delivery d WHERE d.webhook_id = e.webhook_id AND d.state = 'failed') AS failed
       FROM webhook_endpoint e WHERE e.deleted_at IS NULL AND ($1::text IS NULL OR e.tenant_id = $1)
       ORDER BY e.created_at, e.webhook_id LIMIT 1000`,
      [filter.tenantId ?? null],
    );
    return r.rows.map((row) => ({ ...toEndpoint(row), deliveries: { pending: row.pending, delivered: row.delivered, failed: row.failed } }));
  }

  /** Stop an endpoint: no new deliveries, its waiting ones cancelled (their record stays). */
  async remove(webhookId: string): Promise<boolean> {
    return inTransaction(this.pool, async (db) => {
      const r = await db.query("UPDATE webhook_endpoint SET deleted_at = now() WHERE webhook_id = $1 AND deleted_at IS NULL", [webhookId]);
      await db.query("UPDATE webhook_delivery SET state = 'cancelled' WHERE webhook_id = $1 AND state = 'pending'", [webhookId]);
      return (r.rowCount ?? 0) > 0;
    });
  }

  /** Deliveries of one endpoint, or of every endpoint (of one tenant), newest first, each with its tries. */
  async deliveries(
    scope: { webhookId?: string; tenantId?: string },
    query: { state?: WebhookDeliveryState; limit: number; before?: string },
  ): Promise<{ deliveries: WebhookDeliveryView[]; nextCursor: string | null }> {
    const r = await this.pool.query<{
      delivery_id: string; webhook_id: string; event_id: string; order_id: string; seq: string; payload: WebhookPayload; state: WebhookDeliveryState;
      attempts: number; next_attempt_at: Date; delivered_at: Date | null; created_at: Date; attempt_log: { attempt: number; at: string; status_code: number | null; error: string | null; duration_ms: number }[];
    }>(
      `SELECT d.*, COALESCE((SELECT jsonb_agg(a ORDER BY a.attempt) FROM webhook_attempt a WHERE a.delivery_id = d.delivery_id), '[]') AS attempt_log
         FROM webhook_delivery d JOIN webhook_endpoint e USING (webhook_id)
        WHERE ($1::text IS NULL OR d.webhook_id = $1) AND ($5::text IS NULL OR e.tenant_id = $5)
          AND ($2::text IS NULL OR d.state = $2) AND ($3::bigint IS NULL OR d.delivery_id < $3)
        ORDER BY d.delivery_id DESC LIMIT $4`,
      [scope.webhookId ?? null, query.state ?? null, query.before ?? null, query.limit + 1, scope.tenantId ?? null],
    );
    const rows = r.rows.slice(0, query.limit);
    return {
      deliveries: rows.map((d) => ({
        deliveryId: d.delivery_id,
        webhookId: d.webhook_id,
        eventId: d.event_id,
        orderId: d.order_id,
        version: Number(d.seq),
        status: d.payload.status,
        state: d.state,
        attempts: d.attempts,
        nextAttemptAt: d.state === "pending" ? d.next_attempt_at.toISOString() : null,
        deliveredAt: d.delivered_at?.toISOString() ?? null,
        createdAt: d.created_at.toISOString(),
        attemptLog: d.attempt_log.map(
          (a): WebhookAttemptView => ({ attempt: a.attempt, at: new Date(a.at).toISOString(), statusCode: a.status_code, error: a.error, durationMs: a.duration_ms }),
        ),
      })),
      nextCursor: r.rows.length > query.limit ? rows.at(-1)!.delivery_id : null,
    };
  }

  /**
   * Claim up to `limit` due deliveries for one try each: the try is counted and the delivery hidden
   * for `leaseMs`, so replicas never send the same one at once and a crashed sender's claim comes back.
   */
  async claimDue(limit: number, leaseMs: number): Promise<DueDelivery[]> {
    const r = await this.pool.query<{
      delivery_id: string; webhook_id: string; tenant_id: string; url: string; secret_sealed: SealedPin; event_id: string; seq: string; payload: WebhookPayload; attempts: number;
    }>(
      `WITH due AS (
         SELECT delivery_id FROM webhook_delivery WHERE state = 'pending' AND next_attempt_at <= now()
          ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED
       ), claimed AS (
         UPDATE webhook_delivery d SET attempts = d.attempts + 1, next_attempt_at = now() + make_interval(secs => $2::double precision / 1000)
           FROM due WHERE d.delivery_id = due.delivery_id
         RETURNING d.*
       )
       SELECT c.delivery_id, c.webhook_id, e.tenant_id, e.url, e.secret_sealed, c.event_id, c.seq, c.payload, c.attempts
         FROM claimed c JOIN webhook_endpoint e USING (webhook_id)`,
      [limit, leaseMs],
    );
    return r.rows.map((d) => ({
      deliveryId: d.delivery_id,
      webhookId: d.webhook_id,
      tenantId: d.tenant_id,
      url: d.url,
      secretSealed: d.secret_sealed,
      eventId: d.event_id,
      version: Number(d.seq),
      payload: d.payload,
      attempt: d.attempts,
    }));
  }

  /** Record one try and what comes next (only while the delivery is still pending: a removed endpoint's stays cancelled). */
  async recordAttempt(delivery: Pick<DueDelivery, "deliveryId" | "attempt">, outcome: AttemptOutcome, next: NextStep): Promise<void> {
    await inTransaction(this.pool, async (db) => {
      await db.query(
        "INSERT INTO webhook_attempt (delivery_id, attempt, status_code, error, duration_ms) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        [delivery.deliveryId, delivery.attempt, outcome.statusCode, outcome.error, outcome.durationMs],
      );
      if (next.kind === "delivered") await db.query("UPDATE webhook_delivery SET state = 'delivered', delivered_at = now() WHERE delivery_id = $1 AND state = 'pending'", [delivery.deliveryId]);
      else if (next.kind === "failed") await db.query("UPDATE webhook_delivery SET state = 'failed' WHERE delivery_id = $1 AND state = 'pending'", [delivery.deliveryId]);
      else await db.query("UPDATE webhook_delivery SET next_attempt_at = $2 WHERE delivery_id = $1 AND state = 'pending'", [delivery.deliveryId, next.at]);
    });
  }

  /** Send a given-up (failed) delivery of the endpoint again now; false when there is no such failed delivery. */
  async retry(webhookId: string, deliveryId: string): Promise<boolean> {
    const r = await this.pool.query(
      "UPDATE webhook_delivery SET state = 'pending', next_attempt_at = now() WHERE webhook_id = $1 AND delivery_id = $2 AND state = 'failed'",
      [webhookId, deliveryId],
    );
    return (r.rowCount ?? 0) > 0;
  }

  /** Deliveries waiting and given up on (for /metrics; each count reads a partial index only). */
  async backlog(): Promise<{ pending: number; failed: number }> {
    const r = await this.pool.query<{ pending: number; failed: number }>(
      `SELECT (SELECT count(*)::int FROM webhook_delivery WHERE state = 'pending') AS pending,
              (SELECT count(*)::int FROM webhook_delivery WHERE state = 'failed') AS failed`,
    );
    return r.rows[0]!;
  }
}
