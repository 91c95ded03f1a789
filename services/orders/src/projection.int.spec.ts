import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { randomUUID } from "node:crypto";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { headers } from "@nats-io/transport-node";
import { connectNats, ensureOrderStream, EventPublisher, makeEvent, ProjectionConsumer, type NatsConnection } from "@pinflow/bus";
import { eventNames } from "@pinflow/contracts";
import { createPool, migrate, type Pool } from "@pinflow/pg";
import { TestDatabase, TestNatsServer } from "@pinflow/testkit";
import pino from "pino";
import { Counter, Registry } from "prom-client";
import { PgOrderStore } from "./pg-order-store.js";
import { OrderProjectionSource } from "./projection-source.js";

const logger = pino({ level: "silent" });
const names = eventNames("test");
const nats = new TestNatsServer();
const db = new TestDatabase("orders_projection");
let nc: NatsConnection;
let pool: Pool;
let store: PgOrderStore;
const rejected = new Counter({ name: "rejected_test_total", help: "test", labelNames: ["reason"], registers: [new Registry()] });

before(async () => {
  await nats.start();
  await db.create();
  pool = createPool(db.url, 4);
  await migrate(pool, fileURLToPath(new URL("../migrations", import.meta.url)));
  nc = await connectNats({ servers: nats.url, name: "orders-projection-test", logger });
  await ensureOrderStream(nc, names);
  store = new PgOrderStore(pool);
});
after(async () => {
  await nc.close();
  await pool.end();
  await db.drop();
  await nats.destroy();
});

async function project(): Promise<void> {
  const projection = new ProjectionConsumer(nc, names, new OrderProjectionSource(store, logger, rejected), logger, { retryDelayMs: 50 });
  projection.start();
  const info = await (await jetstreamManager(nc)).streams.info(names.stream);
  assert.equal(await projection.waitFor(info.state.last_seq, 10_000), true, "the projection caught up with the stream");
  await projection.stop();
}

async function snapshot(): Promise<unknown> {
  const orders = await pool.query("SELECT * FROM order_view ORDER BY order_id");
  const timeline = await pool.query("SELECT * FROM order_timeline ORDER BY seq");
  return { orders: orders.rows, timeline: timeline.rows, checkpoint: await store.checkpoint() };
}

test("drop the projection, replay the stream, get the same rows (I5); a malformed event is skipped and counted", async () => {
  const publisher = new EventPublisher(nc, names);
  const sealed = { alg: "A256GCM" as const, keyId: "k1", iv: "aXY=", tag: "dGFn", ciphertext: "Y3Q=" };
  for (let i = 0; i < 20; i++) {
    const orderId = randomUUID();
    const origin = { orderId, correlationId: orderId, causationId: null };
    await publisher.publish(makeEvent("OrderCreated", origin, { packageId: "pubg-60", playerId: `p${i}`, extra: null }));
    if (i % 4 === 0) {
      await publisher.publish(makeEvent("DispatchFailed", origin, { reasonCode: "invalid_player", provider: "znet", providerCode: "3", message: "Oyuncu bulunamadı" }));
      continue;
    }
    await publisher.publish(makeEvent("OrderSent", origin, { packageId: "pubg-60", provider: "znet", reference: `10${i}`, cost: "10.12", balance: null, providerOrderId: null }));
    await publisher.publish(makeEvent("StatusChecked", origin, { provider: "znet", reference: `10${i}`, attempt: 1, outcome: "pending", note: "İşlem bekleniyor" }), { msgId: `StatusChecked:${orderId}:1` });
    if (i % 3 === 0) await publisher.publish(makeEvent("PinReceived", origin, { provider: "znet", reference: `10${i}`, pin: sealed, note: "İşlem tamamlandı", checks: 2 }));
  }
  // A malformed message on an order subject: the projection must skip it, not stop.
  await jetstream(nc).publish(names.orderEvent(randomUUID(), "OrderSent"), new TextEncoder().encode("{not json"), { headers: headers() });
  const rejectedBefore = (await rejected.get()).values.reduce((n, v) => n + v.value, 0);

  await project();
  const first = await snapshot();
  assert.equal((first as { orders: unknown[] }).orders.length, 20);
  const rejectedAfter = (await rejected.get()).values.reduce((n, v) => n + v.value, 0);
  assert.equal(rejectedAfter - rejectedBefore, 1, "the malformed event was counted");

  await store.resetProjection();
  assert.equal((await pool.query("SELECT count(*)::int AS n FROM order_view")).rows[0].n, 0);
  await project();
  assert.deepEqual(await snapshot(), first, "the replayed projection equals the first one");
});
