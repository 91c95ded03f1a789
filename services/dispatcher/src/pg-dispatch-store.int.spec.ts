/**
 * The dispatch store's writes against real PostgreSQL: a row, its reference and its events go in
 * together or not at all — an order never takes a reference another order holds, and a lost
 * compare-and-set writes nothing.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { makeEvent } from "@pinflow/bus";
import { createPool, type OutboxEntry, type Pool } from "@pinflow/pg";
import { TestDatabase } from "@pinflow/testkit";
import type { ReadyRow } from "./dispatch.js";
import { ReferenceTaken } from "./dispatch-store.js";
import { PgDispatchStore } from "./pg-dispatch-store.js";
import { prepareDatabase } from "./runtime.js";

const db = new TestDatabase("dispatch_store");
let pool: Pool;
let store: PgDispatchStore;

before(async () => {
  await db.create();
  pool = createPool(db.url, 4);
  await prepareDatabase(pool);
  store = new PgDispatchStore(pool);
});
after(async () => {
  await pool.end();
  await db.drop();
});

function readyRow(orderId: string, reference: string): ReadyRow {
  const at = new Date("2026-12-02T10:00:00.000Z");
  return {
    state: "ready",
    orderId,
    packageId: "pubg-60",
    playerId: "5123456789",
    extra: null,
    attempt: 0,
    generation: 1,
    version: 1,
    createdAt: at,
    updatedAt: at,
    route: [{ provider: "znet", productCode: { oyun: "101", kupur: "60" }, maxCost: "12.00", price: null, priceImportedAt: null }],
    history: [],
    holds: 0,
    offerIndex: 0,
    provider: "znet",
    reference,
    productCode: { oyun: "101", kupur: "60" },
    maxCost: "12.00",
    placeCalls: 0,
    reconcileTries: 0,
    notFoundStreak: 0,
    nextTryAt: null,
    leaseUntil: null,
    placeError: null,
    lastError: null,
    hold: null,
  };
}

function started(row: ReadyRow): OutboxEntry {
  const origin = { orderId: row.orderId, correlationId: row.orderId, causationId: null };
  const event = makeEvent("PlacementStarted", origin, { provider: "znet", offerIndex: 0, reference: row.reference, placeCall: 1, route: row.route, openedAt: row.createdAt.toISOString() });
  return { event, msgId: `PlacementStarted:${row.orderId}:1`, once: false };
}

/** The stored row of an order that has a placement (a test fails on any other). */
async function placed(orderId: string): Promise<ReadyRow | null> {
  const row = await store.get(orderId);
  if (row === null) return null;
  if (row.state === "unrouted") throw new Error(`order ${orderId} has no placement`);
  return row as ReadyRow;
}

const outboxOf = async (orderId: string) => (await pool.query<{ msg_id: string }>("SELECT msg_id FROM outbox WHERE order_id = $1 ORDER BY id", [orderId])).rows.map((r) => r.msg_id);
const reference = () => String(100_000_000_000 + Math.floor(Math.random() * 899_999_999_999));

test("insert: the row, its reference and its events together; a second insert of the order is 'exists' and writes nothing", async () => {
  const row = readyRow(randomUUID(), reference());
  assert.equal(await store.insert(row, [started(row)]), "inserted");
  assert.equal((await placed(row.orderId))?.reference, row.reference);
  assert.deepEqual(await outboxOf(row.orderId), [`PlacementStarted:${row.orderId}:1`]);
  assert.equal(await store.insert({ ...row, playerId: "other" }, [started(row)]), "exists");
  assert.equal((await store.get(row.orderId))?.playerId, "5123456789");
  assert.deepEqual(await outboxOf(row.orderId), [`PlacementStarted:${row.orderId}:1`], "no second event");
});

test("insert with a reference another order holds: 'reference_taken', no row and no event", async () => {
  const first = readyRow(randomUUID(), reference());
  assert.equal(await store.insert(first, []), "inserted");
  const second = readyRow(randomUUID(), first.reference);
  assert.equal(await store.insert(second, [started(second)]), "reference_taken");
  assert.equal(await store.get(second.orderId), null);
  assert.deepEqual(await outboxOf(second.orderId), []);
});

test("insert: of many handlers inserting one order at once with their own references, exactly one wins; only its reference and its events are kept", async () => {
  for (let round = 0; round < 5; round++) {
    const orderId = randomUUID();
    const writers = Array.from({ length: 8 }, () => readyRow(orderId, reference()));
    const results = await Promise.all(writers.map((w, i) => store.insert(w, [{ ...started(w), msgId: `inserter-${i}` }])));
    const winners = results.flatMap((r, i) => (r === "inserted" ? [i] : []));
    assert.equal(winners.length, 1, `one winner, got ${JSON.stringify(results)}`);
    assert.deepEqual(results.filter((r) => r !== "inserted"), Array(7).fill("exists"));
    const winner = writers[winners[0]!]!;
    assert.equal((await placed(orderId))?.reference, winner.reference);
    assert.deepEqual(await outboxOf(orderId), [`inserter-${winners[0]}`]);
    assert.deepEqual(await referencesOf(orderId), [winner.reference], "no reference of a losing insert");
  }
});

test("insert of a row whose reference the order itself holds already (a row restored from the stream): inserted, the reference kept once", async () => {
  const row = readyRow(randomUUID(), reference());
  await pool.query("INSERT INTO dispatch_reference (reference, order_id, provider, offer_index) VALUES ($1, $2, 'znet', 0)", [row.reference, row.orderId]);
  assert.equal(await store.insert(row, [started(row)]), "inserted");
  assert.equal((await placed(row.orderId))?.reference, row.reference);
  assert.deepEqual(await outboxOf(row.orderId), [`PlacementStarted:${row.orderId}:1`]);
  assert.deepEqual(await referencesOf(row.orderId), [row.reference]);
});

test("update: a compare-and-set on the version; a lost one writes neither the row nor its events; a new reference another order holds is refused with nothing written", async () => {
  const row = readyRow(randomUUID(), reference());
  assert.equal(await store.insert(row, []), "inserted");
  const placing = { ...row, state: "placing" as const, version: 2, placeCalls: 1 };
  assert.equal(await store.update(placing, [started(row)]), true);
  assert.deepEqual(await outboxOf(row.orderId), [`PlacementStarted:${row.orderId}:1`]);

  const stale = { ...placing, version: 2, lastError: "stale" };
  assert.equal(await store.update(stale, [{ ...started(row), msgId: "stale" }]), false, "version 1 is gone");
  assert.equal((await placed(row.orderId))?.lastError, null);
  assert.deepEqual(await outboxOf(row.orderId), [`PlacementStarted:${row.orderId}:1`]);

  const other = readyRow(randomUUID(), reference());
  assert.equal(await store.insert(other, []), "inserted");
  const next = { ...placing, version: 3, reference: other.reference, offerIndex: 0 };
  await assert.rejects(store.update(next, [{ ...started(row), msgId: "taken" }]), ReferenceTaken);
  const stored = await placed(row.orderId);
  assert.deepEqual([stored?.version, stored?.reference], [2, row.reference], "the row is unchanged");
  assert.deepEqual(await outboxOf(row.orderId), [`PlacementStarted:${row.orderId}:1`]);
});

const referencesOf = async (orderId: string) =>
  (await pool.query<{ reference: string }>("SELECT reference FROM dispatch_reference WHERE order_id = $1 ORDER BY reference", [orderId])).rows.map((r) => r.reference);

test("update: a new reference is claimed for the order with the row; a kept reference is not claimed again", async () => {
  const row = readyRow(randomUUID(), reference());
  assert.equal(await store.insert(row, []), "inserted");
  const placing = { ...row, state: "placing" as const, version: 2, placeCalls: 1 };
  assert.equal(await store.update(placing, [started(row)]), true);
  const fresh = reference();
  const next = { ...row, version: 3, offerIndex: 1, reference: fresh };
  assert.equal(await store.update(next, [{ ...started(row), msgId: "next-offer" }]), true);
  assert.deepEqual((await placed(row.orderId))?.reference, fresh);
  assert.deepEqual(await referencesOf(row.orderId), [row.reference, fresh].sort());
  const owner = await pool.query<{ provider: string; offer_index: number }>("SELECT provider, offer_index FROM dispatch_reference WHERE reference = $1", [fresh]);
  assert.deepEqual(owner.rows, [{ provider: "znet", offer_index: 1 }]);
  assert.deepEqual(await outboxOf(row.orderId), [`PlacementStarted:${row.orderId}:1`, "next-offer"]);
});

test("update: of many handlers writing the same version at once, exactly one wins; only its events are queued and only its reference is claimed", async () => {
  for (let round = 0; round < 5; round++) {
    const row = readyRow(randomUUID(), reference());
    assert.equal(await store.insert(row, []), "inserted");
    // Half keep the row's reference (the claim), half take a new one (the next offer): all from version 1.
    const writers = Array.from({ length: 8 }, (_, i) => ({ ...row, version: 2, placeCalls: i + 1, reference: i % 2 === 0 ? row.reference : reference() }));
    const results = await Promise.all(writers.map((w, i) => store.update(w, [{ ...started(row), msgId: `writer-${i}` }])));
    const winners = results.flatMap((won, i) => (won ? [i] : []));
    assert.equal(winners.length, 1, `one winner, got ${JSON.stringify(results)}`);
    const winner = writers[winners[0]!]!;
    const stored = await placed(row.orderId);
    assert.deepEqual([stored?.version, stored?.placeCalls, stored?.reference], [2, winner.placeCalls, winner.reference]);
    assert.deepEqual(await outboxOf(row.orderId), [`writer-${winners[0]}`]);
    assert.deepEqual(await referencesOf(row.orderId), [...new Set([row.reference, winner.reference])].sort(), "no reference of a losing write");
  }
});
