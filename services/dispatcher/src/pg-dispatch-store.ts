import { HoldReason, Money, ProviderName, ReasonCode } from "@pinflow/contracts";
import { enqueueEvents, inTransaction, outboxDocument, prepared, selectOutboxRows, type OutboxEntry, type Pool, type Queryable } from "@pinflow/pg";
import { z } from "zod";
import type { Catalog } from "./catalog.js";
import type { DispatchRow, Hold, Offer, PastAttempt, Placement } from "./dispatch.js";
import { ReferenceTaken, type DispatchStore, type InsertResult, type ProviderAccess } from "./dispatch-store.js";

interface DbRow {
  order_id: string;
  state: string;
  package_id: string;
  player_id: string;
  extra: string | null;
  route: unknown;
  offer_index: number;
  history: unknown;
  provider: string | null;
  reference: string | null;
  product_code: Record<string, string> | null;
  max_cost: string | null;
  attempt: number;
  place_calls: number;
  reconcile_tries: number;
  not_found_streak: number;
  next_try_at: Date | null;
  lease_until: Date | null;
  cost: string | null;
  balance: string | null;
  provider_order_id: string | null;
  reason_code: string | null;
  provider_code: string | null;
  message: string | null;
  place_error: string | null;
  last_error: string | null;
  hold_reason: string | null;
  hold_message: string | null;
  held_since: Date | null;
  holds: number;
  generation: number;
  version: number;
  created_at: Date;
  updated_at: Date;
}

export class CorruptRow extends Error {
  override name = "CorruptRow";
}

const COLUMNS = [
  "order_id",
  "state",
  "package_id",
  "player_id",
  "extra",
  "route",
  "offer_index",
  "history",
  "provider",
  "reference",
  "product_code",
  "max_cost",
  "attempt",
  "place_calls",
  "reconcile_tries",
  "not_found_streak",
  "next_try_at",
  "lease_until",
  "cost",
  "balance",
  "provider_order_id",
  "reason_code",
  "provider_code",
  "message",
  "place_error",
  "last_error",
  "hold_reason",
  "hold_message",
  "held_since",
  "holds",
  "generation",
  "version",
  "created_at",
  "updated_at",
] as const;

type Column = (typeof COLUMNS)[number];

const StoredOffer = z.object({
  provider: ProviderName,
  productCode: z.record(z.string(), z.string()),
  maxCost: Money,
  price: Money.nullable().default(null),
  priceImportedAt: z.string().nullable().default(null),
});
const StoredAttempt = z.object({
  provider: ProviderName,
  reference: z.string().nullable(),
  reasonCode: ReasonCode,
  providerCode: z.string().nullable(),
  message: z.string(),
});

function toDb(row: DispatchRow): Record<Column, unknown> {
  const base = {
    order_id: row.orderId,
    state: row.state,
    package_id: row.packageId,
    player_id: row.playerId,
    extra: row.extra,
    route: JSON.stringify(row.route),
    history: JSON.stringify(row.history),
    holds: row.holds,
    generation: row.generation,
    attempt: row.attempt,
    version: row.version,
    created_at: row.createdAt,
    updated_at: row.updatedAt,
  };
  const none = {
    offer_index: 0,
    provider: null,
    reference: null,
    product_code: null,
    max_cost: null,
    place_calls: 0,
    reconcile_tries: 0,
    not_found_streak: 0,
    next_try_at: null,
    lease_until: null,
    cost: null,
    balance: null,
    provider_order_id: null,
    reason_code: null,
    provider_code: null,
    message: null,
    place_error: null,
    last_error: null,
    hold_reason: null,
    hold_message: null,
    held_since: null,
  };
  if (row.state === "unrouted") return { ...base, ...none, reason_code: row.reasonCode, message: row.message };
  const placement = {
    ...none,
    offer_index: row.offerIndex,
    provider: row.provider,
    reference: row.reference,
    product_code: JSON.stringify(row.productCode),
    max_cost: row.maxCost,
    place_calls: row.placeCalls,
    reconcile_tries: row.reconcileTries,
    not_found_streak: row.notFoundStreak,
    next_try_at: row.nextTryAt,
    lease_until: row.leaseUntil,
    place_error: row.placeError,
    last_error: row.lastError,
    hold_reason: row.hold?.reason ?? null,
    hold_message: row.hold?.message ?? null,
    held_since: row.hold?.since ?? null,
  };
  switch (row.state) {
    case "ready":
    case "placing":
    case "unknown":
      return { ...base, ...placement };
    case "sent":
      return { ...base, ...placement, cost: row.cost, balance: row.balance, provider_order_id: row.providerOrderId };
    case "refused":
      return { ...base, ...placement, reason_code: row.reasonCode, provider_code: row.providerCode, message: row.message };
    case "review":
      return { ...base, ...placement, message: row.message };
    default: {
      const never: never = row;
      throw new CorruptRow(`unknown state ${JSON.stringify(never)}`);
    }
  }
}

function parseJson<T>(orderId: string, what: string, schema: z.ZodType<T>, value: unknown): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new CorruptRow(`dispatch row of order ${orderId} has an unreadable ${what}`);
  return parsed.data;
}

function fromDb(r: DbRow): DispatchRow {
  const base = {
    orderId: r.order_id,
    packageId: r.package_id,
    playerId: r.player_id,
    extra: r.extra,
    attempt: r.attempt,
    version: r.version,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    route: parseJson(r.order_id, "route", z.array(StoredOffer), r.route) as Offer[],
    history: parseJson(r.order_id, "history", z.array(StoredAttempt), r.history) as PastAttempt[],
    holds: r.holds,
    generation: r.generation,
  };
  if (r.state === "unrouted") {
    const reason = ReasonCode.safeParse(r.reason_code ?? "no_route");
    if (!reason.success) throw new CorruptRow(`dispatch row of order ${r.order_id} has reason code ${JSON.stringify(r.reason_code)}`);
    return { ...base, state: "unrouted", reasonCode: reason.data, message: r.message ?? "" };
  }
  const provider = ProviderName.safeParse(r.provider);
  if (!provider.success || r.reference === null || r.product_code === null) {
    throw new CorruptRow(`dispatch row of order ${r.order_id} in state ${r.state} lacks its placement`);
  }
  const placement: Placement = {
    offerIndex: r.offer_index,
    provider: provider.data,
    reference: r.reference,
    productCode: r.product_code,
    maxCost: r.max_cost,
    placeCalls: r.place_calls,
    reconcileTries: r.reconcile_tries,
    notFoundStreak: r.not_found_streak,
    nextTryAt: r.next_try_at,
    leaseUntil: r.lease_until,
    placeError: r.place_error,
    lastError: r.last_error,
    hold: readHold(r),
  };
  switch (r.state) {
    case "ready":
      return { ...base, ...placement, state: "ready" };
    case "placing":
      return { ...base, ...placement, state: "placing" };
    case "unknown":
      return { ...base, ...placement, state: "unknown" };
    case "sent":
      return { ...base, ...placement, state: "sent", cost: r.cost, balance: r.balance, providerOrderId: r.provider_order_id };
    case "refused": {
      const reason = ReasonCode.safeParse(r.reason_code);
      if (!reason.success) throw new CorruptRow(`dispatch row of order ${r.order_id} has reason code ${JSON.stringify(r.reason_code)}`);
      return { ...base, ...placement, state: "refused", reasonCode: reason.data, providerCode: r.provider_code ?? "", message: r.message ?? "" };
    }
    case "review":
      return { ...base, ...placement, state: "review", message: r.message ?? "" };
    default:
      throw new CorruptRow(`dispatch row of order ${r.order_id} has unknown state ${JSON.stringify(r.state)}`);
  }
}

function readHold(r: DbRow): Hold | null {
  if (r.hold_reason === null || r.held_since === null) return null;
  const reason = HoldReason.safeParse(r.hold_reason);
  if (!reason.success) throw new CorruptRow(`dispatch row of order ${r.order_id} has hold reason ${JSON.stringify(r.hold_reason)}`);
  return { reason: reason.data, message: r.hold_message ?? "", since: r.held_since };
}

function isUniqueViolation(error: unknown, ...constraints: string[]): boolean {
  const e = error as { code?: string; constraint?: string };
  return e?.code === "23505" && constraints.includes(e.constraint ?? "");
}

/** The reference of a row's current attempt, kept forever so no other order or attempt ever reuses it. */
async function claimReference(db: Queryable, row: DispatchRow): Promise<void> {
  if (row.state === "unrouted") return;
  const r = await db.query<{ order_id: string }>(
    prepared(
      `INSERT INTO dispatch_reference (reference, order_id, provider, offer_index) VALUES ($1, $2, $3, $4)
       ON CONFLICT (reference) DO UPDATE SET order_id = dispatch_reference.order_id
       RETURNING order_id`,
      [row.reference, row.orderId, row.provider, row.offerIndex],
    ),
  );
  if (r.rows[0]?.order_id !== row.orderId) throw new ReferenceTaken(`reference ${row.reference} belongs to another order`);
}

/**
 * Write many new rows (a rebuild) in the caller's transaction: one statement for the rows, one for
 * their references (each kept for its order; ReferenceTaken when another order holds one) and the
 * outbox entries. The rows go as one JSON document, read back with the table's own row type.
 */
export async function insertRows(db: Queryable, rows: readonly DispatchRow[], events: readonly OutboxEntry[]): Promise<void> {
  if (rows.length === 0) return;
  const json = rows.map((row) => ({ ...toDb(row), route: row.route, history: row.history, product_code: row.state === "unrouted" ? null : row.productCode }));
  const r = await db.query(
    `INSERT INTO dispatch (${COLUMNS.join(", ")}) SELECT ${COLUMNS.join(", ")} FROM jsonb_populate_recordset(NULL::dispatch, $1::jsonb)
     ON CONFLICT (order_id) DO NOTHING`,
    [JSON.stringify(json)],
  );
  if (r.rowCount !== rows.length) throw new Error(`${rows.length - (r.rowCount ?? 0)} of ${rows.length} rows exist already`);
  const references = rows.flatMap((row) => (row.state === "unrouted" ? [] : [{ reference: row.reference, order_id: row.orderId, provider: row.provider, offer_index: row.offerIndex }]));
  const claimed = await db.query<{ reference: string }>(
    `WITH wanted AS (SELECT * FROM jsonb_to_recordset($1::jsonb) AS w(reference text, order_id text, provider text, offer_index int)),
          added AS (INSERT INTO dispatch_reference (reference, order_id, provider, offer_index) SELECT * FROM wanted ON CONFLICT (reference) DO NOTHING)
     SELECT w.reference FROM wanted w JOIN dispatch_reference d ON d.reference = w.reference WHERE d.order_id <> w.order_id LIMIT 1`,
    [JSON.stringify(references)],
  );
  if (claimed.rows[0]) throw new ReferenceTaken(`reference ${claimed.rows[0].reference} belongs to another order`);
  await enqueueEvents(db, events);
}

export class PgDispatchStore implements DispatchStore {
  constructor(private readonly pool: Pool) {}

  async get(orderId: string): Promise<DispatchRow | null> {
    const r = await this.pool.query<DbRow>(prepared(`SELECT ${COLUMNS.join(", ")} FROM dispatch WHERE order_id = $1`, [orderId]));
    const row = r.rows[0];
    return row === undefined ? null : fromDb(row);
  }

  /**
   * A new row, its reference and its outbox rows in one statement, atomic by itself: the reference
   * is added only with the row (a row that exists already writes nothing, so no reference is kept
   * for a write that lost), and a reference held already makes the whole statement fail — then the
   * transaction below tells whether it is this order's own (a restore) or another's.
   */
  async insert(row: DispatchRow, events: readonly OutboxEntry[]): Promise<InsertResult> {
    const values = toDb(row);
    const n = COLUMNS.length;
    try {
      const r = await this.pool.query<{ inserted: number }>(
        prepared(
          `WITH inserted AS (
             INSERT INTO dispatch (${COLUMNS.join(", ")}) VALUES (${COLUMNS.map((_, i) => `$${i + 1}`).join(", ")})
             ON CONFLICT (order_id) DO NOTHING
             RETURNING order_id),
           referenced AS (
             INSERT INTO dispatch_reference (reference, order_id, provider, offer_index)
             SELECT $${n + 1}::text, order_id, $${n + 2}::text, $${n + 3}::int FROM inserted WHERE $${n + 1}::text IS NOT NULL),
           queued AS (
             INSERT INTO outbox (order_id, event, msg_id, once, trace_context)
             SELECT q.* FROM (${selectOutboxRows(`$${n + 4}`)}) q WHERE EXISTS (SELECT 1 FROM inserted))
           SELECT count(*)::int AS inserted FROM inserted`,
          [
            ...COLUMNS.map((c) => values[c]),
            row.state === "unrouted" ? null : row.reference,
            row.state === "unrouted" ? null : row.provider,
            values.offer_index,
            outboxDocument(events),
          ],
        ),
      );
      return r.rows[0]!.inserted === 1 ? "inserted" : "exists";
    } catch (error) {
      if (!isUniqueViolation(error, "dispatch_reference_key", "dispatch_reference_pkey")) throw error;
    }
    return this.insertClaimingReference(row, values, events);
  }

  /** The insert as a transaction, for a reference already in `dispatch_reference`: this order's own, or another's ("reference_taken"). */
  private async insertClaimingReference(row: DispatchRow, values: Record<Column, unknown>, events: readonly OutboxEntry[]): Promise<InsertResult> {
    try {
      return await inTransaction(this.pool, async (client) => {
        const r = await client.query(
          prepared(
            `INSERT INTO dispatch (${COLUMNS.join(", ")}) VALUES (${COLUMNS.map((_, i) => `$${i + 1}`).join(", ")})
             ON CONFLICT (order_id) DO NOTHING`,
            COLUMNS.map((c) => values[c]),
          ),
        );
        if (r.rowCount !== 1) return "exists";
        await claimReference(client, row);
        await enqueueEvents(client, events);
        return "inserted";
      });
    } catch (error) {
      if (error instanceof ReferenceTaken || isUniqueViolation(error, "dispatch_reference_key", "dispatch_reference_pkey")) return "reference_taken";
      throw error;
    }
  }

  async update(row: DispatchRow, events: readonly OutboxEntry[]): Promise<boolean> {
    const values = toDb(row);
    // created_at too: a new dispatch generation (an operator's "dispatch again") opens the row anew.
    const set = COLUMNS.filter((c) => c !== "order_id");
    // Most writes keep the reference the row already holds (the claim, the answer's commit), and that
    // reference was claimed for this order when it was first written (insert, insertRows, or a
    // transaction below): then the row and its outbox rows go in one statement, atomic by itself.
    const fast = await this.pool.query<{ updated: number; current: number }>(
      prepared(
        `WITH current AS (SELECT 1 FROM dispatch WHERE order_id = $1 AND version = $${set.length + 2}),
         updated AS (
           UPDATE dispatch SET ${set.map((c, i) => `${c} = $${i + 2}`).join(", ")}
            WHERE order_id = $1 AND version = $${set.length + 2} AND reference IS NOT DISTINCT FROM $${set.indexOf("reference") + 2}
           RETURNING order_id),
         queued AS (
           INSERT INTO outbox (order_id, event, msg_id, once, trace_context)
           SELECT q.* FROM (${selectOutboxRows(`$${set.length + 3}`)}) q WHERE EXISTS (SELECT 1 FROM updated))
         SELECT (SELECT count(*)::int FROM updated) AS updated, (SELECT count(*)::int FROM current) AS current`,
        [row.orderId, ...set.map((c) => values[c]), row.version - 1, outboxDocument(events)],
      ),
    );
    const { updated, current } = fast.rows[0]!;
    if (updated === 1) return true;
    // Not the version we hold: another handler wrote first.
    if (current === 0) return false;
    // The row takes a new reference (the next offer, a restore, a new generation): claim it in the transaction.
    try {
      return await inTransaction(this.pool, async (client) => {
        const r = await client.query(
          prepared(`UPDATE dispatch SET ${set.map((c, i) => `${c} = $${i + 2}`).join(", ")}
           WHERE order_id = $1 AND version = $${set.length + 2}`, [row.orderId, ...set.map((c) => values[c]), row.version - 1]),
        );
        if (r.rowCount !== 1) return false;
        await claimReference(client, row);
        await enqueueEvents(client, events);
        return true;
      });
    } catch (error) {
      if (isUniqueViolation(error, "dispatch_reference_key", "dispatch_reference_pkey")) {
        throw new ReferenceTaken(`reference of order ${row.orderId} is taken`, { cause: error });
      }
      throw error;
    }
  }

  async offers(packageId: string): Promise<Offer[]> {
    return readOffers(this.pool, packageId);
  }

  async hasUnpublishedEvents(orderId: string, except?: string): Promise<boolean> {
    // The partial index outbox_unpublished holds only rows not yet relayed: a short scan.
    const r = await this.pool.query(prepared("SELECT 1 FROM outbox WHERE published_at IS NULL AND order_id = $1 AND msg_id IS DISTINCT FROM $2 LIMIT 1", [orderId, except ?? null]));
    return (r.rowCount ?? 0) > 0;
  }

  async recordAccess(provider: ProviderName, denied: { cause: string } | null, at: Date): Promise<void> {
    if (denied === null) {
      // A readable reply: the provider lets us in (a no-op unless it had shut us out).
      await this.pool.query(prepared("UPDATE provider_access SET shut_out_since = NULL WHERE provider = $1 AND shut_out_since IS NOT NULL", [provider]));
      return;
    }
    await this.pool.query(
      `INSERT INTO provider_access (provider, shut_out_since, last_denied_at, last_cause, denied_replies) VALUES ($1, $2, $2, $3, 1)
       ON CONFLICT (provider) DO UPDATE SET shut_out_since = COALESCE(provider_access.shut_out_since, EXCLUDED.shut_out_since),
         last_denied_at = EXCLUDED.last_denied_at, last_cause = EXCLUDED.last_cause, denied_replies = provider_access.denied_replies + 1`,
      [provider, at, denied.cause.slice(0, 500)],
    );
  }

  async providerAccess(provider: ProviderName): Promise<ProviderAccess | null> {
    const r = await this.pool.query<{ shut_out_since: Date; last_denied_at: Date; last_cause: string; denied_replies: string }>(
      prepared("SELECT shut_out_since, last_denied_at, last_cause, denied_replies FROM provider_access WHERE provider = $1 AND shut_out_since IS NOT NULL", [provider]),
    );
    const row = r.rows[0];
    if (row === undefined) return null;
    return { provider, shutOutSince: row.shut_out_since, lastDeniedAt: row.last_denied_at, cause: row.last_cause, deniedReplies: Number(row.denied_replies) };
  }

  async seedRoutes(catalog: Catalog): Promise<void> {
    await inTransaction(this.pool, (client) => writeRoutes(client, catalog));
  }
}

/** Route writers (every replica's start-up, the catalog import) take turns: their delete-then-insert would collide. */
const ROUTE_WRITE_LOCK = 72_410_002;

/** Replace each listed package's offers (packages not listed are left alone), inside the caller's transaction. */
export async function writeRoutes(db: Queryable, catalog: Catalog): Promise<void> {
  await db.query("SELECT pg_advisory_xact_lock($1)", [ROUTE_WRITE_LOCK]);
  for (const pkg of catalog.packages) {
    await db.query("DELETE FROM route WHERE package_id = $1", [pkg.id]);
    for (const [rank, offer] of pkg.offers.entries()) {
      await db.query(
        `INSERT INTO route (package_id, rank, provider, product_code, provider_product_id, max_cost, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, now())`,
        [pkg.id, rank, offer.provider, JSON.stringify(offer.productCode ?? {}), offer.productId ?? null, offer.maxCost],
      );
    }
  }
}

/**
 * The package's offers, best first. When the route names a product the provider's imported list
 * has, product codes and price come from that list; otherwise from the route (price unknown).
 */
async function readOffers(db: Queryable, packageId: string): Promise<Offer[]> {
  const r = await db.query<{
    provider: string;
    product_code: Record<string, string>;
    max_cost: string;
    imported_code: Record<string, string> | null;
    price: string | null;
    imported_at: Date | null;
  }>(
    prepared(
      `SELECT r.provider, r.product_code, r.max_cost::text AS max_cost, p.product_code AS imported_code, p.price, p.imported_at
       FROM route r
       LEFT JOIN provider_product p ON p.provider = r.provider AND p.product_id = r.provider_product_id
       WHERE r.package_id = $1 ORDER BY r.rank`,
      [packageId],
    ),
  );
  const offers: Offer[] = [];
  for (const row of r.rows) {
    const provider = ProviderName.safeParse(row.provider);
    // A provider this build does not know cannot serve the package; skip it like an unconfigured one.
    if (!provider.success) continue;
    offers.push({
      provider: provider.data,
      productCode: row.imported_code ?? row.product_code,
      maxCost: row.max_cost,
      price: row.price,
      priceImportedAt: row.imported_at === null ? null : row.imported_at.toISOString(),
    });
  }
  return offers;
}
