import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { makeEvent } from "@pinflow/bus";
import type { EventOf } from "@pinflow/contracts";
import type { OutboxEntry, Pool } from "@pinflow/pg";
import { PgWatchStore } from "./pg-watch-store.js";
import { newWatch, type Watch } from "./poll.js";
import { SEED_POLICY } from "./policy.js";
import { createPollerDatabase } from "./poller.test-harness.js";
import type { Claim } from "./watch-store.js";

/**
 * The store settles the checks of one replica together (one statement for what queued up while the
 * previous one was written). Each claim is still checked on its own: a settle whose claim was lost
 * writes nothing, a settle that cannot be written fails alone, and every other one is written with
 * its events (in order) and its completion sample.
 */
let pool: Pool;
let drop: () => Promise<void>;
let store: PgWatchStore;
const T0 = new Date("2026-12-03T10:00:00.000Z");
const OWNER = "poller-a";

before(async () => {
  ({ pool, drop } = await createPollerDatabase("poller_settle_batch"));
  store = new PgWatchStore(pool);
});
after(async () => {
  await drop();
});

function sentEvent(orderId: string, i: number): EventOf<"OrderSent"> {
  return makeEvent(
    "OrderSent",
    { orderId, correlationId: orderId, causationId: null },
    { packageId: "pubg-60", provider: "znet", reference: `ref-${i}`, cost: "10.12", balance: null, providerOrderId: null },
    T0,
  );
}

function checkEvents(watch: Watch, attempt: number): OutboxEntry[] {
  const origin = { orderId: watch.orderId, correlationId: watch.correlationId, causationId: watch.sentEventId };
  const checked = makeEvent("StatusChecked", origin, { provider: "znet", reference: watch.reference, attempt, outcome: "pending", note: `check ${attempt}` });
  const review = makeEvent("ReviewRequired", origin, { stage: "monitoring", reason: "unknown_status", provider: "znet", reference: watch.reference, message: "see" });
  return [checked, review].map((event) => ({ event, msgId: `${event.type}:${event.id}`, once: false }));
}

test("settles that arrive together are written together, each under its own claim check", async () => {
  const orders = Array.from({ length: 24 }, (_, i) => ({ orderId: randomUUID() as string, i }));
  for (const { orderId, i } of orders) assert.equal(await store.insertWatch(newWatch(sentEvent(orderId, i), SEED_POLICY, 0.5), T0), true);
  const now = new Date(T0.getTime() + 3_600_000);
  const claims = await store.claimDue(now, OWNER, 60_000, 100);
  assert.equal(claims.length, orders.length);
  const byOrder = new Map(claims.map((c) => [c.watch.orderId, c]));

  // Count the statements that settle checks.
  let settleStatements = 0;
  const query = pool.query.bind(pool);
  (pool as unknown as { query: unknown }).query = (...args: unknown[]) => {
    const text = typeof args[0] === "string" ? args[0] : (args[0] as { text?: string }).text;
    if (text?.includes("INSERT INTO completion_sample")) settleStatements++;
    return (query as (...a: unknown[]) => unknown)(...args);
  };
  const lost = new Set(orders.filter((o) => o.i % 6 === 1).map((o) => o.orderId));
  // The first settle goes out alone (nothing is being written yet): the one that cannot be written.
  const unwritable = orders[0]!.orderId;
  try {
    const results = await Promise.allSettled(
      orders.map(({ orderId }) => {
        const claim = byOrder.get(orderId)!;
        // A lost claim: another replica took the watch over after our lease (its lease differs).
        const held: Claim = lost.has(orderId) ? { ...claim, leaseUntil: new Date(claim.leaseUntil.getTime() - 1) } : claim;
        const next: Watch = { ...claim.watch, state: "review", attempt: claim.watch.attempt + 1, lastOutcome: "unknown" };
        // A watch state the table refuses: that settle cannot be written.
        const written = orderId === unwritable ? ({ ...next, state: "lost-in-space" } as unknown as Watch) : next;
        const completion = { orderId, provider: claim.watch.provider, packageId: claim.watch.packageId, lowerMs: 1_000, upperMs: 2_000 };
        return store.complete(held, written, checkEvents(claim.watch, next.attempt), now, completion);
      }),
    );
    for (const [n, { orderId }] of orders.entries()) {
      const result = results[n]!;
      if (orderId === unwritable) assert.equal(result.status, "rejected", "the settle the table refuses fails");
      else assert.deepEqual(result, { status: "fulfilled", value: !lost.has(orderId) }, `settle of order ${n}`);
    }
  } finally {
    (pool as unknown as { query: unknown }).query = query;
  }
  assert.ok(settleStatements <= 3, `settles went together (${settleStatements} statements for ${orders.length} settles)`);

  const written = orders.filter((o) => !lost.has(o.orderId) && o.orderId !== unwritable).map((o) => o.orderId);
  const watches = await pool.query<{ order_id: string; state: string; lease_owner: string | null }>("SELECT order_id, state, lease_owner FROM watch");
  for (const w of watches.rows) {
    if (written.includes(w.order_id)) assert.deepEqual([w.state, w.lease_owner], ["review", null], `written watch ${w.order_id}`);
    else assert.deepEqual([w.state, w.lease_owner], ["watching", OWNER], `watch not written ${w.order_id}`);
  }
  const outbox = await pool.query<{ order_id: string; type: string }>("SELECT order_id, event->>'type' AS type FROM outbox ORDER BY id");
  assert.deepEqual([...new Set(outbox.rows.map((r) => r.order_id))].sort(), [...written].sort(), "events only of the settles written");
  for (const orderId of written) {
    assert.deepEqual(outbox.rows.filter((r) => r.order_id === orderId).map((r) => r.type), ["StatusChecked", "ReviewRequired"], "each order's events in order");
  }
  const samples = await pool.query<{ order_id: string }>("SELECT order_id FROM completion_sample");
  assert.deepEqual(samples.rows.map((r) => r.order_id).sort(), [...written].sort(), "samples only of the settles written");
});
