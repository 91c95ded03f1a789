/**
 * The refund subscriber against a private nats-server running the deployed users (it connects as
 * its own read-only `<env>-refunds`) and a real PostgreSQL database: each failed order refunded
 * exactly once, whatever comes back.
 */
import "reflect-metadata";
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes, randomUUID } from "node:crypto";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connectNats, ensureOrderStream, EventPublisher, makeEvent, natsUser, renderNatsServerConfig, type NatsConnection, type NatsRole } from "@pinflow/bus";
import { eventNames, type OrderEvent } from "@pinflow/contracts";
import { createPool, type Pool } from "@pinflow/pg";
import { eventually, TestDatabase, TestNatsServer } from "@pinflow/testkit";
import pino from "pino";
import type { PgRefundStore } from "./refund-store.js";
import { CONSUMER, createRefundSubscriber, type RefundSubscriber } from "./subscriber.js";

const logger = pino({ level: "silent" });
const names = eventNames("refunds-test");
const passwords = new Map<string, string>();
const password = (role: NatsRole) => {
  const user = natsUser(names.environment, role);
  if (!passwords.has(user)) passwords.set(user, randomBytes(18).toString("base64url"));
  return passwords.get(user)!;
};
const nats = new TestNatsServer({ config: renderNatsServerConfig({ environments: [names], password: (_env, role) => ({ literal: password(role) }) }) });
const db = new TestDatabase("refund_subscriber");
let admin: NatsConnection;
let reader: NatsConnection;
let pool: Pool;

before(async () => {
  await nats.start();
  await db.create();
  pool = createPool(db.url, 4);
  admin = await connectNats({ servers: nats.url, name: "refunds-test-admin", logger, credentials: { user: natsUser(names.environment, "admin"), password: password("admin") } });
  await ensureOrderStream(admin, names);
  reader = await connectNats({ servers: nats.url, name: "refund-subscriber", logger, credentials: { user: natsUser(names.environment, "refunds"), password: password("refunds") } });
});
after(async () => {
  await reader?.close();
  await admin?.close();
  await pool?.end();
  await db.drop();
  await nats.destroy();
});

const origin = (orderId: string) => ({ orderId, correlationId: orderId, causationId: null, tenantId: "acme" });
const orderFailed = (orderId: string) =>
  makeEvent("OrderFailed", origin(orderId), { provider: "znet", reference: `R-${orderId.slice(0, 8)}`, reasonCode: "product_unavailable", message: "provider failed it" });
const dispatchFailed = (orderId: string) =>
  makeEvent("DispatchFailed", origin(orderId), { reasonCode: "insufficient_balance", provider: "znet", providerCode: "E12", message: "no balance" });
const created = (orderId: string) => makeEvent("OrderCreated", origin(orderId), { packageId: "pubg-60", playerId: "p1", extra: null });

async function consumerInfo() {
  const jsm = await jetstreamManager(admin);
  return jsm.consumers.info(names.stream, names.durable(CONSUMER));
}

test("each failed order is refunded once: not again after a crash between commit and ack, a re-published fact, or a restart; other events pass", async () => {
  const publisher = new EventPublisher(admin, names);
  const [a, b, c, d, e] = [randomUUID(), randomUUID(), randomUUID(), randomUUID(), randomUUID()];
  /** Deliveries that reached the store, per order; the first of order `a` "crashes" right after its commit. */
  const calls = new Map<string, number>();
  const crashOnce = (store: PgRefundStore): Pick<PgRefundStore, "record"> => ({
    record: async (refund, seq) => {
      calls.set(refund.orderId, (calls.get(refund.orderId) ?? 0) + 1);
      const recorded = await store.record(refund, seq);
      if (refund.orderId === a && calls.get(a) === 1) throw new Error("crashed after the commit, before the ack");
      return recorded;
    },
  });
  let subscriber: RefundSubscriber = await createRefundSubscriber({ nc: reader, names, pool, logger, ackWaitMs: 2_000, failureBackoffMs: 20, wrapStore: crashOnce });
  await subscriber.start();
  try {
    await publisher.publish(created(a));
    await publisher.publish(orderFailed(a));
    await publisher.publish(dispatchFailed(b));
    await publisher.publish(created(c)); // not a failure: acked, never refunded
    await eventually(async () => assert.deepEqual((await subscriber.store.list()).map((r) => r.orderId).sort(), [a, b].sort()), 15_000);
    await eventually(async () => assert.equal(calls.get(a), 2, "the crashed delivery came back"), 15_000);

    // The same fact published again (e.g. a producer's rebuild, past the msgID window): a second delivery.
    const again = orderFailed(b);
    await publisher.publish(again, { msgId: `again:${again.id}` });
    await eventually(() => assert.equal(calls.get(b), 2), 15_000);

    // A restart: a new process on the same durable goes on where the old one stopped.
    await subscriber.stop({ drain: true });
    await publisher.publish(orderFailed(d));
    subscriber = await createRefundSubscriber({ nc: reader, names, pool, logger, ackWaitMs: 2_000 });
    await subscriber.start();
    await publisher.publish(makeEvent("FailedByOperator", origin(e), { operator: "op-1", reason: "customer asked", reasonCode: "product_unavailable" }));
    await eventually(async () => {
      const info = await consumerInfo();
      assert.equal(info.num_pending + info.num_ack_pending, 0, "every message settled");
      assert.equal((await subscriber.store.list()).length, 4);
    }, 15_000);

    const rows = await subscriber.store.list();
    assert.deepEqual(rows.map((r) => r.orderId).sort(), [a, b, d, e].sort(), "one refund per failed order");
    assert.deepEqual(Object.fromEntries(rows.map((r) => [r.orderId, r.cause])), { [a]: "OrderFailed", [b]: "DispatchFailed", [d]: "OrderFailed", [e]: "FailedByOperator" });
    assert.equal(calls.get(c), undefined, "an OrderCreated never reaches the refund store");
    const deadLetters = await pool.query("SELECT count(*)::int AS n FROM dead_letter");
    assert.equal(deadLetters.rows[0].n, 0, "events it does not handle are acked, not dead-lettered");
  } finally {
    await subscriber.stop();
  }
});

test("its NATS user only reads: it may not publish events nor touch a service's durable", async () => {
  const order: OrderEvent = orderFailed(randomUUID());
  await assert.rejects(jetstream(reader, { timeout: 2_000 }).publish(names.orderEvent(order.orderId, "OrderFailed"), new TextEncoder().encode("{}")));
  const jsm = await jetstreamManager(reader);
  await assert.rejects(jsm.consumers.info(names.stream, names.durable("dispatcher")));
  await assert.rejects(jsm.consumers.delete(names.stream, names.durable(CONSUMER)));
  const own = await jsm.consumers.info(names.stream, names.durable(CONSUMER));
  assert.equal(own.config.filter_subject, names.allEvents);
});
