/**
 * The order's stream tells the attempts in the order they happened, even when NATS restarts in the
 * middle of them (found by the chaos run, RELIABILITY.md: rebuilt rows differed from live ones):
 * - a provider's answer reaches the stream before the next request's PlacementStarted, even when
 *   appending it at once fails and it has to go through the outbox;
 * - a PlacementStarted nobody acknowledged (its copy still in a NATS client's buffer) is put on the
 *   stream by the reconcile that takes the placement over, before that reconcile's answers.
 * The handler is built here on the real store, stream and simulators, with no outbox relay running,
 * so the order of events on the stream does not depend on a race with the relay.
 *
 * Also here: the history look-up of a first delivery (one request from the OrderCreated's sequence)
 * still finds an attempt the stream has when the row is lost, and its answers match the look-ups by subject.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { ACK, causedBy, connectNats, ensureOrderStream, EventPublisher, makeEvent, readOrderHistory, type NatsConnection } from "@pinflow/bus";
import type { OrderEvent } from "@pinflow/contracts";
import { createPool, OutboxRelay, type Pool } from "@pinflow/pg";
import { XstorClient, ZnetClient } from "@pinflow/providers";
import { generatePinKeyring, PinCipher } from "@pinflow/secrets";
import { XstorSimulator } from "@pinflow/test/simulators/xstor";
import { ZnetSimulator } from "@pinflow/test/simulators/znet";
import { TestDatabase, TestNatsServer } from "@pinflow/testkit";
import { Registry } from "prom-client";
import { setTimeout as sleep } from "node:timers/promises";
import { StreamAttemptLog, type AttemptLog } from "./attempt-log.js";
import { readCatalogFile } from "./catalog.js";
import { DEFAULT_POLICY, type DispatchPolicy } from "./dispatch.js";
import { foldDispatch } from "./dispatch-fold.js";
import { rowFacts } from "./row-facts.test-harness.js";
import { DispatchHandler } from "./dispatch-handler.js";
import { CATALOG, created, importCatalogs, logger, player, TEST_NAMES } from "./dispatcher.test-harness.js";
import { DispatchMetrics } from "./metrics.js";
import { PgDispatchStore } from "./pg-dispatch-store.js";
import { providerRegistry, XstorProvider, ZnetProvider } from "./providers.js";
import { prepareDatabase } from "./runtime.js";

const CODE = "5550007777";
const OPERATOR = { operator: "op-1", reason: "customer asked" };
const PASSWORD = "answer-Şifre&7";
const TOKEN = "answer-xstor-token";

const znet = new ZnetSimulator({ code: CODE, password: PASSWORD, completeAfterMs: 600_000, balance: 100_000 });
const xstor = new XstorSimulator({ token: TOKEN, completeAfterMs: 600_000, balance: 100_000 });
const nats = new TestNatsServer();
const db = new TestDatabase("dispatcher_answer_order");
let pool: Pool;
let nc: NatsConnection;
let handler: DispatchHandler;
let publisher: EventPublisher;
let relay: OutboxRelay;
let store: PgDispatchStore;
let stream: StreamAttemptLog;
/** Appends of these event types fail once each (the stream does not take them now). */
const failOnce = new Set<string>();
const POLICY: DispatchPolicy = { ...DEFAULT_POLICY, retryBaseMs: 100, retryMaxMs: 400, leaseMs: 1_500, startAckMs: 300 };

/**
 * A PlacementStarted whose acknowledgement is held: the append waits until `release()`, then fails
 * (the event stays "in the client's buffer") or, with `thenStored`, is stored and acknowledged late.
 */
interface StuckStart {
  event?: OrderEvent;
  msgId?: string;
  reached: Promise<void>;
  release: () => void;
}
let stuck: { start: StuckStart; reached: () => void; released: Promise<void>; thenStored: boolean } | undefined;
function stickNextStart(opts: { thenStored?: boolean } = {}): StuckStart {
  let reached!: () => void;
  let release!: () => void;
  const start: StuckStart = { reached: new Promise((r) => (reached = r)), release: () => release() };
  stuck = { start, reached, released: new Promise((r) => (release = r)), thenStored: opts.thenStored ?? false };
  return start;
}

before(async () => {
  await nats.start();
  await db.create();
  pool = createPool(db.url);
  await prepareDatabase(pool);
  const [znetUrl, xstorUrl] = [await znet.start(), await xstor.start()];
  nc = await connectNats({ servers: nats.url, name: "dispatcher-answer-order-test", logger });
  await ensureOrderStream(nc, TEST_NAMES);
  publisher = new EventPublisher(nc, TEST_NAMES);
  const znetClient = new ZnetClient({ baseUrl: znetUrl, code: CODE, password: PASSWORD, timeoutMs: 1_000 });
  const xstorClient = new XstorClient({ baseUrl: xstorUrl, token: TOKEN, timeoutMs: 1_000 });
  store = new PgDispatchStore(pool);
  await store.seedRoutes(readCatalogFile(CATALOG));
  await importCatalogs(pool, readCatalogFile(CATALOG), { znet: znetClient, xstor: xstorClient });
  stream = new StreamAttemptLog(nc, TEST_NAMES, publisher, logger);
  const facts: AttemptLog = {
    append: async (event: OrderEvent, msgId: string, timeoutMs?: number) => {
      if (failOnce.delete(event.type)) throw new Error(`simulated: the stream did not take ${event.type}`);
      const s = stuck;
      if (s !== undefined && event.type === "PlacementStarted") {
        stuck = undefined;
        s.start.event = event;
        s.start.msgId = msgId;
        s.reached();
        await s.released;
        if (!s.thenStored) throw new Error("simulated: no acknowledgement (NATS restarting)");
      }
      await stream.append(event, msgId, timeoutMs);
    },
    startRecorded: (orderId, reference, placeCall) => stream.startRecorded(orderId, reference, placeCall),
    history: (orderId) => stream.history(orderId),
    handled: (orderId, createdSeq) => stream.handled(orderId, createdSeq),
  };
  const pins = new PinCipher(generatePinKeyring());
  handler = new DispatchHandler({
    store,
    facts,
    providers: providerRegistry([new ZnetProvider(znetClient), new XstorProvider(xstorClient)]),
    policy: POLICY,
    kick: () => undefined,
    logger,
    metrics: new DispatchMetrics(new Registry()),
    pins,
  });
  relay = new OutboxRelay(pool, publisher, logger, 60_000);
});

after(async () => {
  await nc.close();
  await pool.end();
  await znet.stop();
  await xstor.stop();
  await db.drop();
  await nats.destroy();
});

describe("a provider's answer is on the stream before the next PlacementStarted", () => {
  it("znet refuses, the refusal cannot be appended at once: x-stor is not placed until the outbox has relayed it; then the stream reads refusal → next start", async () => {
    const p = player("answer-late");
    znet.addRule({ playerId: p, placeReply: "8|Yetersiz bakiye" });
    const order = created(p);
    failOnce.add("PlacementAnswered");

    const first = await handler.handle(order, { seq: 1, deliveryCount: 1 });
    assert.ok("retryAfterMs" in first, `the handler waits for the outbox (got ${JSON.stringify(first)})`);
    assert.equal(xstor.requestLog().filter((l) => l.includes(`uid=${p}`)).length, 0, "x-stor not called while the refusal is only in the outbox");

    await relay.drain();
    const second = await handler.handle(order, { seq: 1, deliveryCount: 2 });
    assert.deepEqual(second, ACK);

    const types = (await readOrderHistory(nc, TEST_NAMES, order.orderId)).flatMap((m) => (m.ok ? [`${m.event.type}${"provider" in m.event.data ? `:${String(m.event.data.provider)}` : ""}`] : []));
    await relay.drain();
    const after = (await readOrderHistory(nc, TEST_NAMES, order.orderId)).flatMap((m) => (m.ok ? [m.event.type] : []));
    assert.deepEqual(types.slice(0, 3), ["PlacementStarted:znet", "PlacementAnswered:znet", "PlacementStarted:xstor"], `stream order: ${types.join(", ")}`);
    assert.ok(after.includes("OrderSent"), `x-stor accepted: ${after.join(", ")}`);
  });

  it("a second delivery while the refusal is only in the outbox (found by the chaos run): the row, ahead of the stream, is not 'restored' back to the refused placement; x-stor is placed once the outbox has relayed", async () => {
    const p = player("answer-late-again");
    znet.addRule({ playerId: p, placeReply: "8|Yetersiz bakiye" });
    const order = created(p);
    await stream.append(order, `OrderCreated:${order.orderId}`);
    failOnce.add("PlacementAnswered");

    const first = await handler.handle(order, { seq: 1, deliveryCount: 1 });
    assert.ok("retryAfterMs" in first, `the handler waits for the outbox (got ${JSON.stringify(first)})`);
    const ahead = await store.get(order.orderId);
    assert.ok(ahead?.state === "ready" && ahead.provider === "xstor", `the row moved on to x-stor (row: ${ahead?.state} ${ahead?.state === "unrouted" ? "" : ahead?.provider})`);
    // Another replica gets the order before the relay ran: the stream shows only znet's start.
    const second = await handler.handle(order, { seq: 1, deliveryCount: 2 });
    assert.ok("retryAfterMs" in second, `it waits for the outbox too (got ${JSON.stringify(second)})`);
    const kept = await store.get(order.orderId);
    assert.ok(kept?.state === "ready" && kept.provider === "xstor" && kept.reference === ahead.reference, `the row is kept (row: ${kept?.state})`);
    const refused = ahead.history[0]?.reference;
    assert.ok(refused, "znet's refusal is in the row's history");
    assert.equal(znet.checkCalls(refused), 0, "znet's refused reference is not reconciled");

    await relay.drain();
    assert.deepEqual(await handler.handle(order, { seq: 1, deliveryCount: 3 }), ACK);
    await relay.drain();
    const history = (await readOrderHistory(nc, TEST_NAMES, order.orderId)).flatMap((m) => (m.ok ? [m.event] : []));
    const types = history.map((e) => `${e.type}${"provider" in e.data ? `:${String(e.data.provider)}` : ""}`);
    assert.deepEqual(types, ["OrderCreated", "PlacementStarted:znet", "PlacementAnswered:znet", "PlacementStarted:xstor", "PlacementAnswered:xstor", "OrderSent:xstor"], `stream: ${types.join(", ")}`);
    assert.deepEqual(rowFacts(foldDispatch(history, POLICY).row), rowFacts(await store.get(order.orderId)), "the rebuilt row is the live one");
  });

  it("a PlacementStarted nobody acknowledged while its lease ran out (its copy reaches the stream later): the reconcile that took over put the start on the stream first; the stream reads start → answer, once, and the row is the stream's fold", async () => {
    const p = player("start-late");
    const order = created(p);
    await stream.append(order, `OrderCreated:${order.orderId}`);
    const start = stickNextStart();

    const first = handler.handle(order, { seq: 1, deliveryCount: 1 });
    await start.reached;
    await sleep(POLICY.leaseMs + 200);
    // Another delivery (another replica) after the lease: the placement is reconciled; znet does not know the reference.
    const second = await handler.handle(order, { seq: 1, deliveryCount: 2 });
    assert.ok("retryAfterMs" in second, `not found once: unclear, asked again later (got ${JSON.stringify(second)})`);
    start.release();
    const firstOutcome = await first;
    assert.ok("retryAfterMs" in firstOutcome, `the first handler gave up without placing (got ${JSON.stringify(firstOutcome)})`);
    await relay.drain();
    // The first handler's copy of its PlacementStarted reaches the stream at last (the NATS client's buffer on reconnect).
    await stream.append(start.event!, start.msgId!);

    const history = (await readOrderHistory(nc, TEST_NAMES, order.orderId)).flatMap((m) => (m.ok ? [m.event] : []));
    const types = history.map((e) => e.type);
    assert.deepEqual(types, ["OrderCreated", "PlacementStarted", "ReconcileAnswered"], `stream order: ${types.join(", ")}`);
    const live = await store.get(order.orderId);
    assert.ok(live?.state === "unknown", `the placement is unknown after one "not found" (row: ${live?.state})`);
    assert.deepEqual(rowFacts(foldDispatch(history, POLICY).row), rowFacts(live), "the rebuilt row is the live one");
    assert.equal(znet.placeCalls(live.reference), 0, "no place request went out");
    assert.equal(znet.checkCalls(live.reference), 1, "the reconcile asked znet once");
  });
});

describe("the history look-up of a first delivery (from the OrderCreated's sequence)", () => {
  it("answers as the look-ups by subject do: nothing after the OrderCreated, another service's event, a dispatcher fact, an outcome without an attempt", async () => {
    const fresh = created(player("lookup-fresh"));
    const freshSeq = (await publisher.publish(fresh, { once: true })).seq;
    // Other orders' events after it do not count.
    const other = created(player("lookup-other"));
    await publisher.publish(other, { once: true });
    await publisher.publish(makeEvent("DispatchFailed", causedBy(other), { reasonCode: "no_route", provider: null, providerCode: null, message: "no offer" }), { once: true });
    assert.equal(await stream.handled(fresh.orderId, freshSeq), false, "only its OrderCreated on the stream");
    assert.equal(await stream.handled(fresh.orderId), false);

    // An event of the order that is not a dispatcher fact: the one request sees something, the look-ups by subject decide.
    await publisher.publish(makeEvent("RecheckRequested", causedBy(fresh), { ...OPERATOR, attempt: 1 }), {});
    assert.equal(await stream.handled(fresh.orderId, freshSeq), false, "a later event that is no dispatcher fact");

    const failed = created(player("lookup-failed"));
    const failedSeq = (await publisher.publish(failed, { once: true })).seq;
    await publisher.publish(makeEvent("DispatchFailed", causedBy(failed), { reasonCode: "no_route", provider: null, providerCode: null, message: "no offer" }), { once: true });
    assert.equal(await stream.handled(failed.orderId, failedSeq), true, "an outcome without an attempt");
    assert.equal(await stream.handled(failed.orderId, 1), true, "a sequence before the OrderCreated only costs the look-ups by subject");
  });

  it("a first delivery of an order whose row is lost but whose stream shows its placement (a consumer created anew): reconciled by the recorded reference, never placed again", async () => {
    const p = player("lookup-lost");
    const order = created(p);
    const seq = (await publisher.publish(order, { once: true })).seq;
    const first = { seq, deliveryCount: 1, pending: 0 };
    assert.deepEqual(await handler.handle(order, first), ACK);
    await relay.drain();
    const placeRequests = () => znet.requestLog().filter((l) => l.includes("pin_ekle") && l.includes(p)).length;
    assert.equal(placeRequests(), 1);

    // The dispatcher's database loses the order; its consumer delivers the OrderCreated as a first delivery again.
    await pool.query("DELETE FROM dispatch WHERE order_id = $1", [order.orderId]);
    await pool.query("DELETE FROM dispatch_reference WHERE order_id = $1", [order.orderId]);
    assert.deepEqual(await handler.handle(order, first), ACK);
    assert.equal(placeRequests(), 1, "not placed a second time");
    const row = await new PgDispatchStore(pool).get(order.orderId);
    assert.equal(row?.state, "sent", `restored from the stream and reconciled (got ${row?.state})`);
  });
});

describe("a reconcile's answer that places again is not appended ahead of an earlier answer still in the outbox", () => {
  it("place hangs (ambiguous), not found twice, the first answers only in the outbox: the re-placement waits for the relay; the stream reads start, answer, check, check, start (found by the chaos run: rebuilt rows counted one unclear check less)", async () => {
    const p = player("answers-queued");
    znet.addRule({ playerId: p, placeFault: "hang" });
    const order = created(p);
    await stream.append(order, `OrderCreated:${order.orderId}`);
    const delivery = { seq: 1, deliveryCount: 1 };
    assert.ok("retryAfterMs" in (await handler.handle(order, delivery)), "the place request timed out: unknown");
    znet.clearRules();
    // Two reconciles, each on its own delivery once due; the outbox relay does not run (NATS slow to take the relay's batch).
    let outcome = await handler.handle(order, delivery);
    for (let i = 0; i < 20 && !(await store.get(order.orderId).then((r) => r?.state === "unknown" && r.notFoundStreak === 1)); i++) {
      await sleep(150);
      outcome = await handler.handle(order, delivery);
    }
    const afterFirst = await store.get(order.orderId);
    assert.ok(afterFirst?.state === "unknown" && afterFirst.notFoundStreak === 1, `not found once (row: ${JSON.stringify({ state: afterFirst?.state, outcome })})`);
    let second = await handler.handle(order, delivery);
    for (let i = 0; i < 20 && (await store.get(order.orderId))?.state === "unknown"; i++) {
      await sleep(150);
      second = await handler.handle(order, delivery);
    }
    assert.ok("retryAfterMs" in second, `the re-placement waits for the relay (got ${JSON.stringify(second)})`);
    assert.equal(znet.placeCalls(afterFirst.reference), 1, "not placed again while the earlier answers are only in the outbox");
    await relay.drain();
    assert.deepEqual(await handler.handle(order, delivery), ACK);
    await relay.drain();
    const history = (await readOrderHistory(nc, TEST_NAMES, order.orderId)).flatMap((m) => (m.ok ? [m.event] : []));
    const types = history.map((e) => e.type);
    assert.deepEqual(types.slice(0, 6), ["OrderCreated", "PlacementStarted", "PlacementAnswered", "ReconcileAnswered", "ReconcileAnswered", "PlacementStarted"], `stream order: ${types.join(", ")}`);
    const live = await store.get(order.orderId);
    assert.equal(live?.state, "sent");
    assert.deepEqual(rowFacts(foldDispatch(history, POLICY).row), rowFacts(live), "the rebuilt row is the live one");
  });
});

describe("a PlacementStarted acknowledged late", () => {
  it("after startAckMs, within the lease: the lease is renewed and the order is placed once", async () => {
    const p = player("start-slow");
    const order = created(p);
    await stream.append(order, `OrderCreated:${order.orderId}`);
    const start = stickNextStart({ thenStored: true });
    const handled = handler.handle(order, { seq: 1, deliveryCount: 1 });
    await start.reached;
    await sleep(POLICY.startAckMs + 200);
    start.release();
    assert.deepEqual(await handled, ACK);
    const live = await store.get(order.orderId);
    assert.ok(live?.state === "sent", `placed (row: ${live?.state})`);
    assert.equal(znet.placeCalls(live.reference), 1);
    await relay.drain();
    const history = (await readOrderHistory(nc, TEST_NAMES, order.orderId)).flatMap((m) => (m.ok ? [m.event] : []));
    assert.deepEqual(history.map((e) => e.type).slice(0, 3), ["OrderCreated", "PlacementStarted", "PlacementAnswered"]);
  });

  it("after the lease, while another handler took the placement over: the late handler does not place; the other's reconcile stands after the start", async () => {
    const p = player("start-taken");
    const order = created(p);
    await stream.append(order, `OrderCreated:${order.orderId}`);
    const start = stickNextStart({ thenStored: true });
    const first = handler.handle(order, { seq: 1, deliveryCount: 1 });
    await start.reached;
    await sleep(POLICY.leaseMs + 200);
    const second = await handler.handle(order, { seq: 1, deliveryCount: 2 });
    assert.ok("retryAfterMs" in second, `the other handler reconciled: not found once (got ${JSON.stringify(second)})`);
    start.release();
    const firstOutcome = await first;
    assert.ok("retryAfterMs" in firstOutcome, `the late handler left the placement to the reconcile (got ${JSON.stringify(firstOutcome)})`);
    await relay.drain();
    const live = await store.get(order.orderId);
    assert.ok(live?.state === "unknown", `reconciled, not found once (row: ${live?.state})`);
    assert.equal(znet.placeCalls(live.reference), 0, "no place request after the lease was taken over");
    const history = (await readOrderHistory(nc, TEST_NAMES, order.orderId)).flatMap((m) => (m.ok ? [m.event] : []));
    assert.deepEqual(history.map((e) => e.type), ["OrderCreated", "PlacementStarted", "ReconcileAnswered"]);
    assert.deepEqual(rowFacts(foldDispatch(history, POLICY).row), rowFacts(live), "the rebuilt row is the live one");
  });
});
