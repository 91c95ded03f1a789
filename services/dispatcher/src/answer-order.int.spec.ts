/**
 * A provider's answer reaches the order's stream before the next request's PlacementStarted, even
 * when appending it at once fails (NATS restarting) and it has to go through the outbox: the handler
 * does not place the next offer while the order still has unpublished outbox rows. Found by the chaos
 * run (RELIABILITY.md): the answer relayed after the next PlacementStarted made the rebuilt row differ.
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
import { StreamAttemptLog, type AttemptLog } from "./attempt-log.js";
import { readCatalogFile } from "./catalog.js";
import { DEFAULT_POLICY } from "./dispatch.js";
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
let stream: StreamAttemptLog;
let publisher: EventPublisher;
let relay: OutboxRelay;
/** Appends of these event types fail once each (the stream does not take them now). */
const failOnce = new Set<string>();

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
  const store = new PgDispatchStore(pool);
  await store.seedRoutes(readCatalogFile(CATALOG));
  await importCatalogs(pool, readCatalogFile(CATALOG), { znet: znetClient, xstor: xstorClient });
  stream = new StreamAttemptLog(nc, TEST_NAMES, publisher, logger);
  const facts: AttemptLog = {
    append: async (event: OrderEvent, msgId: string) => {
      if (failOnce.delete(event.type)) throw new Error(`simulated: the stream did not take ${event.type}`);
      await stream.append(event, msgId);
    },
    history: (orderId) => stream.history(orderId),
    handled: (orderId, createdSeq) => stream.handled(orderId, createdSeq),
  };
  const pins = new PinCipher(generatePinKeyring());
  handler = new DispatchHandler({
    store,
    facts,
    providers: providerRegistry([new ZnetProvider(znetClient), new XstorProvider(xstorClient)]),
    policy: { ...DEFAULT_POLICY, retryBaseMs: 100, retryMaxMs: 400, leaseMs: 1_500 },
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
