import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { createCipheriv, randomBytes, randomUUID } from "node:crypto";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { headers } from "@nats-io/transport-node";
import { connectNats, ensureOrderStream, EventPublisher, makeEvent, readOrderHistory, type DeadLetterView, type NatsConnection, type ProjectionEntry, type ProjectionMessage, type ProjectionSink } from "@pinflow/bus";
import { eventNames } from "@pinflow/contracts";
import { createPool, isTransientDbError, migrate, type Pool } from "@pinflow/pg";
import { generatePinKeyring, PinCipher, type SealedPin } from "@pinflow/secrets";
import { TestDatabase, TestNatsServer } from "@pinflow/testkit";
import pino from "pino";
import { Counter, Registry } from "prom-client";
import { PgOrderStore } from "./pg-order-store.js";
import type { OrderChange } from "./order-change.js";
import { startOrderProjection } from "./order-projection.js";
import { OrderProjectionSink } from "./projection-sink.js";

const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? "silent" });
const names = eventNames("test");
const nats = new TestNatsServer();
const db = new TestDatabase("orders_projection");
let nc: NatsConnection;
let pool: Pool;
let store: PgOrderStore;
const keyring = generatePinKeyring();
const cipher = new PinCipher(keyring);
const pinOpens = (pin: SealedPin, binding: { orderId: string; reference: string }) => cipher.opens(pin, binding);
const rejected = new Counter({ name: "rejected_test_total", help: "test", labelNames: ["reason"], registers: [new Registry()] });

before(async () => {
  await nats.start();
  await db.create();
  pool = createPool(db.url, 4);
  await migrate(pool, fileURLToPath(new URL("../migrations", import.meta.url)));
  nc = await connectNats({ servers: nats.url, name: "orders-projection-test", logger });
  await ensureOrderStream(nc, names);
  store = new PgOrderStore(pool, pinOpens);
});
after(async () => {
  await nc.close();
  await pool.end();
  await db.drop();
  await nats.destroy();
});

/** Run the service's projection (its @EventPattern handlers on the bus's projection transport) until it has the whole stream. */
async function project(opts: { maxBatch?: number; sink?: ProjectionSink<OrderChange> } = {}): Promise<void> {
  const sink = opts.sink ?? new OrderProjectionSink(store, logger, rejected);
  const projection = await startOrderProjection({ nc, names, sink, pinOpens, logger, options: { retryDelayMs: 20, isTransient: isTransientDbError, maxBatch: opts.maxBatch } });
  const info = await (await jetstreamManager(nc)).streams.info(names.stream);
  assert.equal(await projection.waitFor(info.state.last_seq, 30_000), true, "the projection caught up with the stream");
  await projection.stop();
}

/** The dead-letter rows, oldest first. */
async function deadLetters(): Promise<DeadLetterView[]> {
  return (await store.deadLetters({ limit: 200 })).deadLetters.reverse();
}

const origin = (orderId: string) => ({ orderId, correlationId: orderId, causationId: null });
const createdEvent = (orderId: string, playerId = "p-1") => makeEvent("OrderCreated", origin(orderId), { packageId: "pubg-60", playerId, extra: null });
const sentEvent = (orderId: string, reference: string) =>
  makeEvent("OrderSent", origin(orderId), { packageId: "pubg-60", provider: "znet", reference, cost: "10.12", balance: null, providerOrderId: null });
const pinEvent = (orderId: string, reference: string, pin: SealedPin) =>
  makeEvent("PinReceived", origin(orderId), { provider: "znet", reference, pin, note: "İşlem tamamlandı", checks: 1 });

async function snapshot(): Promise<unknown> {
  const orders = await pool.query("SELECT * FROM order_view ORDER BY order_id");
  const timeline = await pool.query("SELECT * FROM order_timeline ORDER BY seq");
  return { orders: orders.rows, timeline: timeline.rows, checkpoint: await store.checkpoint() };
}

test("drop the projection, replay the stream, get the same rows (I5); a malformed event is skipped and counted", async () => {
  const publisher = new EventPublisher(nc, names);
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
    const sealed = cipher.seal(`PIN-${i}`, { orderId, reference: `10${i}` });
    if (i % 3 === 0) await publisher.publish(makeEvent("PinReceived", origin, { provider: "znet", reference: `10${i}`, pin: sealed, note: "İşlem tamamlandı", checks: 2 }));
  }
  // A malformed message on an order subject: the projection must skip it, not stop.
  await jetstream(nc).publish(names.orderEvent(randomUUID(), "OrderSent"), new TextEncoder().encode("{not json"), { headers: headers() });
  const rejectedBefore = (await rejected.get()).values.reduce((n, v) => n + v.value, 0);

  await project();
  const first = await snapshot();
  assert.equal((first as { orders: unknown[] }).orders.length, 20);
  assert.equal((first as { orders: { status: string }[] }).orders.filter((o) => o.status === "completed").length, 5, "bound PINs are accepted");
  const rejectedAfter = (await rejected.get()).values.reduce((n, v) => n + v.value, 0);
  assert.equal(rejectedAfter - rejectedBefore, 1, "the malformed event was counted");

  await store.resetProjection();
  assert.equal((await pool.query("SELECT count(*)::int AS n FROM order_view")).rows[0].n, 0);
  await project();
  assert.deepEqual(await snapshot(), first, "the replayed projection equals the first one");
});

test("an OrderCreated whose playerId holds NUL (valid JSON, unstorable text) is dead-lettered after bounded tries; the order shows review, later orders appear", async () => {
  const publisher = new EventPublisher(nc, names);
  const poisonId = randomUUID();
  const poison = createdEvent(poisonId, "a\u0000b");
  const { seq } = await publisher.publish(poison);
  const laterId = randomUUID();
  await publisher.publish(createdEvent(laterId, "p-later"));
  await project();
  assert.equal((await store.get(laterId))?.playerId, "p-later", "the order after it is visible");
  const order = await store.get(poisonId);
  assert.deepEqual(
    { status: order?.status, reviewReason: order?.reviewReason, playerId: order?.playerId },
    { status: "review", reviewReason: "unprocessable_event", playerId: "a\uFFFDb" },
    "the customer's order is not lost: it waits in review, its text made storable",
  );
  const letter = (await deadLetters()).find((l) => l.seq === seq);
  assert.ok(letter, "recorded in the dead-letter table");
  assert.deepEqual(
    { consumer: letter.consumer, kind: letter.kind, orderId: letter.orderId, eventId: letter.eventId, eventType: letter.eventType, attempts: letter.attempts },
    { consumer: "order_view", kind: "failed", orderId: poisonId, eventId: poison.id, eventType: "OrderCreated", attempts: 5 },
  );
  assert.match(letter.error, /invalid byte sequence|0x00|unsupported Unicode escape/);
  assert.equal(JSON.parse(letter.raw).data.playerId, "a\u0000b", "the raw event is kept as it was");
  assert.equal(letter.rawTruncated, false);
});

test("a malformed message is recorded as a dead letter; an existing order its subject names goes to review", async () => {
  const publisher = new EventPublisher(nc, names);
  const orderId = randomUUID();
  await publisher.publish(createdEvent(orderId));
  const bytes = new Uint8Array([0x7b, 0x00, 0xff, 0xfe, 0x7d]);
  const ack = await jetstream(nc).publish(names.orderEvent(orderId, "OrderSent"), bytes, { headers: headers() });
  await project();
  const letter = (await deadLetters()).find((l) => l.seq === ack.seq);
  assert.ok(letter);
  assert.deepEqual(
    { kind: letter.kind, orderId: letter.orderId, eventType: letter.eventType, eventId: letter.eventId, rawBytes: letter.rawBytes },
    { kind: "malformed", orderId, eventType: "OrderSent", eventId: null, rawBytes: 5 },
  );
  assert.match(letter.error, /not UTF-8 JSON/);
  const order = await store.get(orderId);
  assert.equal(order?.status, "review");
  assert.equal(order?.reviewReason, "unprocessable_event");
});

test("pin_mismatch: a PinReceived for another reference than the order's OrderSent is dead-lettered, the order goes to review, that PIN is never the order's", async () => {
  const publisher = new EventPublisher(nc, names);
  const orderId = randomUUID();
  await publisher.publish(createdEvent(orderId));
  await publisher.publish(sentEvent(orderId, "111"));
  const stray = await publisher.publish(pinEvent(orderId, "222", cipher.seal("STRAY-PIN", { orderId, reference: "222" })));
  await project();
  const order = await store.get(orderId);
  assert.deepEqual({ status: order?.status, reviewReason: order?.reviewReason, pinSealed: order?.pinSealed }, { status: "review", reviewReason: "pin_mismatch", pinSealed: null });
  const letter = (await deadLetters()).find((l) => l.seq === stray.seq);
  assert.equal(letter?.kind, "unapplicable");
  assert.match(letter?.error ?? "", /reference 222, but the order was sent with reference 111/);
  assert.ok(!(letter?.raw ?? "").includes("STRAY-PIN"), "the dead letter holds the sealed PIN only");
  assert.ok(!(await store.timeline(orderId)).some((e) => e.type === "PinReceived"));
});

test("pin_mismatch: a PIN sealed for another order (right reference) does not open here: dead letter, review, no PIN", async () => {
  const publisher = new EventPublisher(nc, names);
  const orderId = randomUUID();
  await publisher.publish(createdEvent(orderId));
  await publisher.publish(sentEvent(orderId, "333"));
  const moved = await publisher.publish(pinEvent(orderId, "333", cipher.seal("OTHER-ORDERS-PIN", { orderId: randomUUID(), reference: "333" })));
  await project();
  const order = await store.get(orderId);
  assert.deepEqual({ status: order?.status, reviewReason: order?.reviewReason, pinSealed: order?.pinSealed }, { status: "review", reviewReason: "pin_mismatch", pinSealed: null });
  const letter = (await deadLetters()).find((l) => l.seq === moved.seq);
  assert.match(letter?.error ?? "", /does not open for order/);
});

test("a PIN sealed before PINs were bound (no aad) still completes its order: old events replay", async () => {
  const publisher = new EventPublisher(nc, names);
  const orderId = randomUUID();
  await publisher.publish(createdEvent(orderId));
  await publisher.publish(sentEvent(orderId, "444"));
  const legacy = sealWithoutBinding("OLD-PIN");
  await publisher.publish(pinEvent(orderId, "444", legacy));
  await project();
  const order = await store.get(orderId);
  assert.equal(order?.status, "completed");
  assert.equal(cipher.open(order!.pinSealed!, { orderId, reference: "444" }), "OLD-PIN");
});

test("after dead letters and reviews, dropping the projection and replaying the stream gives the same rows (I5); the dead-letter record is not duplicated", async () => {
  await project();
  const first = await snapshot();
  const lettersBefore = await deadLetters();
  await store.resetProjection();
  await project();
  assert.deepEqual(await snapshot(), first);
  assert.deepEqual(await deadLetters(), lettersBefore);
  const page = await store.deadLetters({ limit: 2 });
  assert.equal(page.deadLetters.length, 2);
  assert.ok(page.nextCursor);
  const next = await store.deadLetters({ limit: 200, before: Number(page.nextCursor) });
  assert.deepEqual([...page.deadLetters, ...next.deadLetters].map((l) => l.id), lettersBefore.map((l) => l.id).reverse(), "newest first, paged");
});

/** How PINs were sealed before they were bound to their order: the same key, no associated data. */
function sealWithoutBinding(pin: string): SealedPin {
  const [keyId, b64] = keyring.split(":") as [string, string];
  const iv = randomBytes(12);
  const c = createCipheriv("aes-256-gcm", Buffer.from(b64, "base64"), iv);
  const ciphertext = Buffer.concat([c.update(pin, "utf8"), c.final()]);
  return { alg: "A256GCM", keyId, iv: iv.toString("base64"), tag: c.getAuthTag().toString("base64"), ciphertext: ciphertext.toString("base64") };
}

test("batched replay (many events per transaction) gives the same rows as one event per transaction, a poison event in the middle of a batch included", async () => {
  const publisher = new EventPublisher(nc, names);
  for (let i = 0; i < 200; i++) {
    const orderId = randomUUID();
    await publisher.publish(createdEvent(orderId, `p-${i}`));
    await publisher.publish(sentEvent(orderId, `20${i}`));
    if (i === 100) await publisher.publish(createdEvent(randomUUID(), "poison\u0000"));
    if (i % 2 === 0) await publisher.publish(pinEvent(orderId, `20${i}`, cipher.seal(`PIN-b${i}`, { orderId, reference: `20${i}` })));
  }
  await store.resetProjection();
  await project({ maxBatch: 1 });
  const oneByOne = await snapshot();
  const letters = (await deadLetters()).length;

  await store.resetProjection();
  const inner = new OrderProjectionSink(store, logger, rejected);
  const batchSizes: number[] = [];
  const counting: ProjectionSink<OrderChange> = {
    checkpoint: () => inner.checkpoint(),
    deadLetter: (m: ProjectionMessage, error: string, tries: number) => inner.deadLetter(m, error, tries),
    commit: (batch: readonly ProjectionEntry<OrderChange>[]) => {
      batchSizes.push(batch.length);
      return inner.commit(batch);
    },
  };
  await project({ sink: counting });
  assert.ok(batchSizes.some((n) => n > 100), `the replay used large batches (sizes: ${batchSizes.slice(0, 10).join(", ")}…)`);
  assert.deepEqual(await snapshot(), oneByOne, "same rows, timeline and checkpoint as one event per transaction");
  assert.equal((await deadLetters()).length, letters, "the poison event's dead letter is not recorded twice");
});

test("a replica behind another applies an older message again: the order's row keeps its newer version (no step back)", async () => {
  const publisher = new EventPublisher(nc, names);
  const orderId = randomUUID();
  const reference = `30${Date.now()}`;
  await publisher.publish(createdEvent(orderId));
  await publisher.publish(sentEvent(orderId, reference));
  await publisher.publish(pinEvent(orderId, reference, cipher.seal("PIN-behind", { orderId, reference })));
  await project();
  const row = async () => (await pool.query("SELECT * FROM order_view WHERE order_id = $1", [orderId])).rows[0] as Record<string, unknown>;
  const completed = await row();
  assert.equal(completed.status, "completed");
  // Another replica, still behind, delivers the order's earlier messages once more (one batch, then one by one).
  const history = await readOrderHistory(nc, names, orderId);
  const earlier = history.filter((m) => m.ok && m.event.type !== "PinReceived");
  assert.equal(earlier.length, 2);
  await store.applyBatch(earlier);
  for (const message of earlier) await store.apply(message);
  assert.deepEqual(await row(), completed, "the row is the one the newest message made");
});
