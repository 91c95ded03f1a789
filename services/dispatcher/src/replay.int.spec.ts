/**
 * The dispatcher's rows are a projection of the order stream (DESIGN.md I5, issue 8): against REAL
 * PostgreSQL, a private nats-server and the znet simulator, orders are brought into every dispatch
 * state (sent, unknown, reconciling, review, failed); then
 *  - the rows rebuilt from the stream into an empty database equal the live ones, and
 *  - the dispatcher's database is wiped AND its durable consumer deleted (every OrderCreated is
 *    delivered again): restarted, it places nothing again for an attempted order, reconciles the
 *    unknown ones by their recorded reference, and still dispatches new orders.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { connectNats, ensureOrderStream, EventPublisher, makeEvent, type NatsConnection } from "@pinflow/bus";
import type { EventOf } from "@pinflow/contracts";
import { createPool, type Pool } from "@pinflow/pg";
import { ZnetClient } from "@pinflow/providers";
import { ZnetSimulator } from "@pinflow/test/simulators/znet";
import { eventually, TestDatabase, TestNatsServer } from "@pinflow/testkit";
import { Registry } from "prom-client";
import { readCatalogFile } from "./catalog.js";
import { DEFAULT_POLICY, type DispatchPolicy, type DispatchRow } from "./dispatch.js";
import { CATALOG, created, eventCounts, importCatalogs, logger, player, TEST_NAMES, waitForEvent } from "./dispatcher.test-harness.js";
import { PgDispatchStore } from "./pg-dispatch-store.js";
import { providerRegistry, ZnetProvider } from "./providers.js";
import { rebuildDispatchRows } from "./rebuild.js";
import { CONSUMER, createDispatcher, prepareDatabase, type Dispatcher } from "./runtime.js";

const CODE = "5550003333";
const PASSWORD = "replay-Şifre&3";
const CLIENT_TIMEOUT_MS = 1_000;
const SPACING_MS = 60_000;

const policy: DispatchPolicy = {
  ...DEFAULT_POLICY,
  maxReconcileTries: 8,
  notFoundBeforeReplace: 2,
  retryBaseMs: SPACING_MS,
  retryMaxMs: SPACING_MS,
  leaseMs: CLIENT_TIMEOUT_MS + 500,
  maxPlaceCalls: 2,
};

const znet = new ZnetSimulator({ code: CODE, password: PASSWORD, completeAfterMs: 600_000, balance: 100_000 });
const nats = new TestNatsServer();
const databases: TestDatabase[] = [];
let nc: NatsConnection;
let jsm: JetStreamManager;
let publisher: EventPublisher;
let znetUrl = "";
let skew = 0;
const clock = (): Date => new Date(Date.now() + skew);

interface Running {
  db: TestDatabase;
  pool: Pool;
  dispatcher: Dispatcher;
}

async function freshDatabase(label: string): Promise<{ db: TestDatabase; pool: Pool }> {
  const db = await new TestDatabase(label).create();
  databases.push(db);
  const pool = createPool(db.url);
  await prepareDatabase(pool);
  return { db, pool };
}

async function startDispatcher(label: string): Promise<Running> {
  const { db, pool } = await freshDatabase(label);
  const client = new ZnetClient({ baseUrl: znetUrl, code: CODE, password: PASSWORD, timeoutMs: CLIENT_TIMEOUT_MS });
  await importCatalogs(pool, readCatalogFile(CATALOG), { znet: client });
  const dispatcher = await createDispatcher({
    names: TEST_NAMES,
    pool,
    nc,
    providers: providerRegistry([new ZnetProvider(client)]),
    catalog: readCatalogFile(CATALOG),
    pins: { seal: () => assert.fail("znet never delivers a PIN in its place reply") },
    logger,
    registry: new Registry(),
    ackWaitMs: 30_000,
    batch: 5,
    relayIntervalMs: 100,
    clock,
    policy,
  });
  dispatcher.start();
  return { db, pool, dispatcher };
}

async function stopDispatcher(r: Running): Promise<void> {
  await r.dispatcher.stop();
  await r.pool.end();
  await r.db.drop();
}

/** The row without what is not a fact (version, update time, lease, next-check time). */
function facts(row: DispatchRow | null): Record<string, unknown> | null {
  if (row === null) return null;
  const r: Record<string, unknown> = { ...row };
  for (const k of ["version", "updatedAt", "leaseUntil", "nextTryAt"]) delete r[k];
  return r;
}

type Order = EventOf<"OrderCreated">;
let deliveries = 0;
async function deliverAgain(order: Order): Promise<void> {
  await publisher.publish(order, { msgId: `again-${++deliveries}:${order.orderId}` });
}

describe("dispatch rows are a projection of the stream: rebuilt the same, and a dispatcher that lost its database and consumer never places again", () => {
  let first: Running;
  const orders: Record<"sent" | "unknown" | "reconciling" | "review" | "failed", Order> = {} as never;
  const references: Record<string, string> = {};

  before(async () => {
    await nats.start();
    znetUrl = await znet.start();
    nc = await connectNats({ servers: nats.url, name: "dispatcher-replay-test", logger });
    await ensureOrderStream(nc, TEST_NAMES);
    jsm = await jetstreamManager(nc);
    publisher = new EventPublisher(nc, TEST_NAMES);
    first = await startDispatcher("dispatcher_replay_a");

    const rowOf = (o: Order) => first.dispatcher.store.get(o.orderId);
    // sent: accepted at once.
    orders.sent = created(player("sent"));
    // unknown: znet records the order, then drops the connection (placed, but we cannot tell).
    const unknownPlayer = player("unknown");
    znet.addRule({ playerId: unknownPlayer, placeFault: "drop-after-accept" });
    orders.unknown = created(unknownPlayer);
    // reconciling: the request hangs (nothing recorded) and the checks get HTTP 500.
    const reconcilingPlayer = player("reconciling");
    znet.addRule({ playerId: reconcilingPlayer, placeFault: "hang", checkFault: "http500" });
    orders.reconciling = created(reconcilingPlayer);
    // review: the first request is refused as a duplicate reference (whose order that is cannot be told).
    const reviewPlayer = player("review");
    znet.addRule({ playerId: reviewPlayer, placeReply: "4|Daha Önce Gönderilmiş (1)" });
    orders.review = created(reviewPlayer);
    // failed: a definite refusal about the order itself.
    const failedPlayer = player("failed");
    znet.addRule({ playerId: failedPlayer, placeReply: "3|Oyuncu bulunamadı" });
    orders.failed = created(failedPlayer);

    for (const o of Object.values(orders)) await publisher.publish(o);
    await waitForEvent(jsm, orders.sent.orderId, "OrderSent");
    await waitForEvent(jsm, orders.review.orderId, "ReviewRequired");
    await waitForEvent(jsm, orders.failed.orderId, "DispatchFailed");
    for (const o of [orders.unknown, orders.reconciling]) {
      await eventually(async () => assert.equal((await rowOf(o))?.state, "unknown"), 15_000);
    }
    // One unclear check of the reconciling order (its next check is due after the spacing).
    skip(SPACING_MS);
    await deliverAgain(orders.reconciling);
    await eventually(async () => {
      const r = await rowOf(orders.reconciling);
      assert.ok(r?.state === "unknown" && r.reconcileTries === 1 && r.leaseUntil === null, `reconciling row: ${JSON.stringify(r)}`);
    }, 15_000);
    for (const [name, o] of Object.entries(orders)) {
      const r = await rowOf(o);
      assert.ok(r !== null && r.state !== "unrouted");
      references[name] = r.reference;
    }
    // Every outcome the rows imply is on the stream before the database is lost.
    await eventually(async () => assert.equal(Number((await first.pool.query("SELECT count(*) FROM outbox WHERE published_at IS NULL")).rows[0].count), 0), 10_000);
  });

  after(async () => {
    await nc?.close();
    await znet.stop();
    for (const db of databases) await db.drop().catch(() => undefined);
    await nats.destroy();
  });

  function skip(ms: number): void {
    skew += ms;
  }

  it("drop the database, rebuild from the stream: the same rows (every fact column, every state)", async () => {
    const { pool } = await freshDatabase("dispatcher_replay_rebuild");
    try {
      const result = await rebuildDispatchRows(pool, nc, TEST_NAMES, policy, logger, clock());
      assert.equal(result.malformed, 0);
      assert.equal(result.pendingEvents, 0, "nothing the rules decided is missing from the stream");
      const rebuilt = new PgDispatchStore(pool);
      for (const [name, o] of Object.entries(orders)) {
        const live = await first.dispatcher.store.get(o.orderId);
        assert.deepEqual(facts(await rebuilt.get(o.orderId)), facts(live), `row of the ${name} order`);
      }
      assert.deepEqual(
        (await pool.query("SELECT state FROM dispatch ORDER BY state")).rows.map((r) => r.state),
        ["refused", "review", "sent", "unknown", "unknown"],
      );
    } finally {
      await pool.end();
    }
  });

  it("wipe the database AND delete the durable consumer, restart: zero new place requests for attempted orders, the unknown ones reconcile by their recorded reference, new orders still dispatch", async () => {
    const placedBefore = new Map(znet.placedReferences().map((ref) => [ref, znet.placeCalls(ref)]));
    const checksBefore = znet.checkCalls(references["reconciling"]!);
    await stopDispatcher(first);
    await jsm.consumers.delete(TEST_NAMES.stream, TEST_NAMES.durable(CONSUMER));

    const second = await startDispatcher("dispatcher_replay_b");
    try {
      const store = second.dispatcher.store;
      // Every historical OrderCreated is delivered again; each row comes back from the stream.
      for (const [name, o] of Object.entries(orders)) {
        await eventually(async () => {
          const r = await store.get(o.orderId);
          assert.ok(r !== null && r.state !== "unrouted" && r.reference === references[name], `${name}: ${JSON.stringify(r)}`);
        }, 20_000);
      }
      // unknown: reconciled by its recorded reference, found → OrderSent with that reference.
      const sent = await waitForEvent(jsm, orders.unknown.orderId, "OrderSent", 20_000);
      assert.equal(sent.data.reference, references["unknown"]);
      assert.equal(sent.data.cost, null, "learnt by reconciling");
      assert.ok(znet.checkCalls(references["unknown"]!) >= 1);
      // reconciling: once its next check is due (the spacing after its recorded answer), asked again
      // about its reference (still unclear), never placed again.
      assert.equal(znet.checkCalls(references["reconciling"]!), checksBefore, "the recorded spacing holds after the restart");
      skip(SPACING_MS);
      await deliverAgain(orders.reconciling);
      await eventually(() => assert.ok(znet.checkCalls(references["reconciling"]!) > checksBefore), 20_000);
      assert.equal((await store.get(orders.reconciling.orderId))?.state, "unknown");

      // A new order still dispatches, with a new reference.
      const fresh = created(player("fresh"));
      await publisher.publish(fresh);
      const freshSent = await waitForEvent(jsm, fresh.orderId, "OrderSent", 20_000);
      assert.equal(znet.placeCalls(freshSent.data.reference), 1);

      // Zero new place requests for attempted orders: the only new reference at znet is the new order's.
      const newRefs = znet.placedReferences().filter((ref) => !placedBefore.has(ref));
      assert.deepEqual(newRefs, [freshSent.data.reference]);
      for (const [ref, calls] of placedBefore) assert.equal(znet.placeCalls(ref), calls, `no second place request for ${ref}`);
      // No outcome appended twice.
      assert.deepEqual(await eventCounts(jsm, orders.sent.orderId), { OrderCreated: 1, OrderSent: 1 });
      assert.deepEqual(await eventCounts(jsm, orders.review.orderId), { OrderCreated: 1, ReviewRequired: 1 });
      assert.deepEqual(await eventCounts(jsm, orders.failed.orderId), { OrderCreated: 1, DispatchFailed: 1 });
      assert.deepEqual(await eventCounts(jsm, orders.unknown.orderId), { OrderCreated: 1, OrderSent: 1 });
      const attempts = await eventCounts(jsm, orders.reconciling.orderId, { attemptFacts: true });
      assert.equal(attempts["PlacementStarted"], 1, "the reconciling order's one request, never a second");
    } finally {
      await stopDispatcher(second);
    }
  });

  it("a database restored from an older backup (the reference stored, its request not yet): the stream's PlacementStarted wins, the order is reconciled, never placed again", async () => {
    const third = await startDispatcher("dispatcher_replay_c");
    try {
      const p = player("backup");
      znet.addRule({ playerId: p, placeFault: "drop-after-accept" });
      const order = created(p);
      await publisher.publish(order);
      const reference = await eventually(async () => {
        const r = await third.dispatcher.store.get(order.orderId);
        assert.ok(r?.state === "unknown", `row is ${r?.state}`);
        return r.reference;
      }, 15_000);
      assert.equal(znet.placeCalls(reference), 1);
      // The backup's row: the attempt committed (ready, reference stored), no request counted.
      await third.pool.query(
        "UPDATE dispatch SET state = 'ready', place_calls = 0, place_error = NULL, last_error = NULL, next_try_at = NULL, lease_until = NULL, version = version + 1 WHERE order_id = $1",
        [order.orderId],
      );
      skip(SPACING_MS);
      await deliverAgain(order);
      const sent = await waitForEvent(jsm, order.orderId, "OrderSent", 20_000);
      assert.equal(sent.data.reference, reference);
      assert.equal(sent.data.cost, null, "found by reconciling");
      assert.equal(znet.placeCalls(reference), 1, "never requested again");
      assert.deepEqual(znet.referencesFor(p), [reference], "one order at znet");
      const attempts = await eventCounts(jsm, order.orderId, { attemptFacts: true });
      assert.equal(attempts["PlacementStarted"], 1);
    } finally {
      await stopDispatcher(third);
    }
  });

  it("a rebuild appends what the stream lacks with the order's tenant (an answer on the stream, its OrderSent not)", async () => {
    const order = { ...created(player("tenant")), tenantId: "shop-rebuild" };
    const reference = `9${Date.now()}`;
    const origin = { orderId: order.orderId, correlationId: order.correlationId, causationId: order.id, tenantId: order.tenantId };
    const route = [{ provider: "znet" as const, productCode: { oyun: "101", kupur: "60" }, maxCost: "12.00", price: null, priceImportedAt: null }];
    await publisher.publish(order);
    await publisher.publish(makeEvent("PlacementStarted", origin, { provider: "znet", offerIndex: 0, reference, placeCall: 1, route, openedAt: order.occurredAt }));
    await publisher.publish(makeEvent("PlacementAnswered", origin, { provider: "znet", reference, placeCall: 1, outcome: "accepted", cost: "10.12", balance: null, providerOrderId: null }));
    const { pool } = await freshDatabase("dispatcher_replay_tenant");
    try {
      const result = await rebuildDispatchRows(pool, nc, TEST_NAMES, policy, logger, clock());
      assert.ok(result.pendingEvents >= 1);
      const pending = await pool.query<{ event: { type: string; tenantId?: string } }>("SELECT event FROM outbox WHERE order_id = $1", [order.orderId]);
      assert.deepEqual(pending.rows.map((r) => [r.event.type, r.event.tenantId]), [["OrderSent", "shop-rebuild"]]);
    } finally {
      await pool.end();
    }
  });
});
