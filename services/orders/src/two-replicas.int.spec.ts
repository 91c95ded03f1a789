import { after, before, beforeEach, test } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { randomUUID } from "node:crypto";
import { makeEvent, type ProjectionEntry } from "@pinflow/bus";
import { eventNames, type OrderEvent } from "@pinflow/contracts";
import { createPool, migrate, type Pool } from "@pinflow/pg";
import { TestDatabase } from "@pinflow/testkit";
import { PgOrderStore } from "./pg-order-store.js";
import { orderChange, type OrderChange } from "./order-change.js";

/**
 * Every orders replica runs the projection into the one database of the service (each needs its
 * own read-your-write), so two replicas fold the same events into the same rows, each from where
 * its own consumer is. Whatever order their transactions take, a row must be the fold of its
 * order's events in stream order: a replica behind the other must not write older state over it.
 */
const names = eventNames("test");
const db = new TestDatabase("orders_two_replicas");
let pool: Pool;
/** Each replica's store: its own pool, as each replica process has. */
let replicaA: PgOrderStore;
let replicaB: PgOrderStore;
let poolB: Pool;
const pinOpens = () => true;

before(async () => {
  await db.create();
  pool = createPool(db.url, 4);
  poolB = createPool(db.url, 4);
  await migrate(pool, fileURLToPath(new URL("../migrations", import.meta.url)));
  replicaA = new PgOrderStore(pool, pinOpens);
  replicaB = new PgOrderStore(poolB, pinOpens);
});
after(async () => {
  await pool.end();
  await poolB.end();
  await db.drop();
});
beforeEach(async () => {
  await pool.query("TRUNCATE order_view, order_timeline, projection_checkpoint");
});

/** The stream as the replicas read it: events with consecutive sequence numbers. */
function stream(events: OrderEvent[], firstSeq = 1): ProjectionEntry<OrderChange>[] {
  return events.map((event, i) => ({
    message: { seq: firstSeq + i, subject: names.orderEvent(event.orderId, event.type), data: new Uint8Array(), ok: true, event },
    change: orderChange(event, pinOpens),
  }));
}

const origin = (orderId: string) => ({ orderId, correlationId: orderId, causationId: null });
const at = (second: number) => new Date(Date.UTC(2026, 11, 3, 12, 0, second));
const created = (orderId: string) => makeEvent("OrderCreated", origin(orderId), { packageId: "pubg-60", playerId: "p-1", extra: null }, at(0));
const sent = (orderId: string) =>
  makeEvent("OrderSent", origin(orderId), { packageId: "pubg-60", provider: "znet", reference: `ref-${orderId.slice(0, 8)}`, cost: "10.12", balance: null, providerOrderId: null }, at(1));
const checked = (orderId: string, attempt: number, note: string) =>
  makeEvent("StatusChecked", origin(orderId), { provider: "znet", reference: `ref-${orderId.slice(0, 8)}`, attempt, outcome: "pending", note }, at(10 * attempt));

async function row(orderId: string) {
  const r = await pool.query("SELECT status, provider, reference, provider_note, checks, updated_at FROM order_view WHERE order_id = $1", [orderId]);
  return r.rows[0];
}

test("a replica that created the order's row after the other began its batch does not lose the other's later events", async () => {
  // Replica B's batch holds only the order's creation; replica A's batch (the same creation and
  // the order's OrderSent) commits while B is between reading the row (none yet) and writing it.
  const orderId = randomUUID();
  const events = stream([created(orderId), sent(orderId)]);
  // Hold A just before its checkpoint write (after its row insert) until B has read the rows.
  const holder = await pool.connect();
  await holder.query("INSERT INTO projection_checkpoint (name, last_seq) VALUES ('order_view', 0)");
  await holder.query("BEGIN");
  await holder.query("SELECT last_seq FROM projection_checkpoint WHERE name = 'order_view' FOR UPDATE");
  const commitA = replicaA.commit(events);
  await waitUntilBlocked(pool, "projection_checkpoint");
  const commitB = replicaB.commit(events.slice(0, 1));
  await waitUntilBlocked(pool, "order_view");
  await holder.query("COMMIT");
  holder.release();
  await Promise.all([commitA, commitB]);

  const view = await row(orderId);
  assert.equal(view.status, "processing");
  assert.equal(view.provider, "znet");
  assert.equal(view.reference, `ref-${orderId.slice(0, 8)}`);
});

test("a replica behind the other does not fold an event again over the order's later state", async () => {
  const orderId = randomUUID();
  const events = stream([created(orderId), sent(orderId), checked(orderId, 1, "first look"), checked(orderId, 2, "second look")]);
  await replicaA.commit(events);
  // B is two events behind: it folds the first check after A has folded the second.
  await replicaB.commit(events.slice(2, 3));

  const view = await row(orderId);
  assert.equal(view.provider_note, "second look");
  assert.equal(view.checks, 2);
  assert.equal(view.updated_at.toISOString(), at(20).toISOString());
});

/** Wait until some session waits for a lock on `table` (the interleaving the test needs has happened). */
async function waitUntilBlocked(pool: Pool, table: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    const r = await pool.query(
      `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query ILIKE $1`,
      [`%${table}%`],
    );
    if (r.rows[0].n > 0) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`no session waited for a lock on ${table}`);
}
