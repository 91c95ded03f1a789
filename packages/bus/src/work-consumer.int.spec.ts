/**
 * A work consumer handling several messages at once, against a private nats-server: how many it
 * holds, that what it holds is kept alive, that a held message never holds the others back, and
 * that dead-lettering works the same with handlers side by side.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { jetstreamManager } from "@nats-io/jetstream";
import { eventNames, type OrderEvent } from "@pinflow/contracts";
import { eventually, TestNatsServer } from "@pinflow/testkit";
import pino from "pino";
import {
  ACK,
  connectNats,
  type DeadLetter,
  ensureOrderStream,
  ensureWorkConsumer,
  EventPublisher,
  makeEvent,
  WorkConsumer,
  type NatsConnection,
  type WorkConsumerOptions,
  type WorkHandler,
} from "./index.js";

const logger = pino({ level: "silent" });
const server = new TestNatsServer();
let nc: NatsConnection;

before(async () => {
  await server.start();
  nc = await connectNats({ servers: server.url, name: "work-consumer-test", logger });
});
after(async () => {
  await nc.close();
  await server.destroy();
});

/** Each test has its own environment (stream), so its consumer sees only its own orders. */
async function publishAll(env: string, n: number): Promise<OrderEvent[]> {
  const names = eventNames(env);
  await ensureOrderStream(nc, names);
  const publisher = new EventPublisher(nc, names);
  const events: OrderEvent[] = [];
  for (let i = 0; i < n; i++) {
    const orderId = randomUUID();
    const e = makeEvent("OrderCreated", { orderId, correlationId: orderId, causationId: null }, { packageId: "pubg-60", playerId: "p1", extra: null });
    await publisher.publish(e);
    events.push(e);
  }
  return events;
}

async function consumer(env: string, handler: WorkHandler, extra: Partial<WorkConsumerOptions>, letters: DeadLetter[] = []): Promise<WorkConsumer> {
  const names = eventNames(env);
  const opts: WorkConsumerOptions = {
    durable: names.durable("worker"),
    filterSubject: names.eventType("OrderCreated"),
    ackWaitMs: 1_000,
    batch: 5,
    maxAckPending: 1_000,
    failureBackoffMs: 20,
    ...extra,
  };
  await ensureWorkConsumer(nc, names, opts);
  const c = new WorkConsumer(nc, names, opts, handler, logger, { deadLetters: { record: async (l) => void letters.push(l) } });
  c.start();
  return c;
}

async function info(env: string) {
  const names = eventNames(env);
  const jsm = await jetstreamManager(nc);
  return jsm.consumers.info(names.stream, names.durable("worker"));
}

/** A promise released from outside. */
function latch(): { wait: Promise<void>; open: () => void } {
  let open!: () => void;
  const wait = new Promise<void>((r) => (open = r));
  return { wait, open };
}

test("handles up to `concurrency` messages at once, pulls no more than it can start, and keeps held messages alive past the ack wait", async () => {
  const env = "conc";
  const events = await publishAll(env, 10);
  const release = latch();
  let active = 0;
  let most = 0;
  const deliveries: number[] = [];
  const handled: string[] = [];
  const c = await consumer(env, async (event, ctx) => {
    active++;
    most = Math.max(most, active);
    deliveries.push(ctx.deliveryCount);
    await release.wait;
    active--;
    handled.push(event.orderId);
    return ACK;
  }, { concurrency: 4, batch: 3 });
  try {
    await eventually(() => assert.equal(active, 4, "four handlers run side by side"), 15_000);
    // Held for more than three ack waits: only working() keeps them from coming back.
    await new Promise((r) => setTimeout(r, 3_500));
    const held = await info(env);
    assert.equal(held.num_ack_pending, 4, "the consumer holds only what it is handling (no buffered messages)");
    assert.equal(held.num_pending, 6, "the rest wait on the server");
    assert.equal(held.num_redelivered, 0, "nothing held was redelivered");
    assert.deepEqual(deliveries, [1, 1, 1, 1]);
    release.open();
    await eventually(() => assert.equal(handled.length, 10), 15_000);
    assert.deepEqual([...handled].sort(), events.map((e) => e.orderId).sort(), "each handled once");
    assert.equal(most, 4, "never more than four at once");
    assert.ok(deliveries.every((d) => d === 1), "every message delivered once");
  } finally {
    release.open();
    await c.stop();
  }
});

test("a message whose handler is stuck does not hold back the messages behind it", async () => {
  const env = "stuck";
  const [stuck, ...rest] = await publishAll(env, 8);
  const release = latch();
  const handled: string[] = [];
  let stuckDeliveries = 0;
  const c = await consumer(env, async (event) => {
    if (event.orderId === stuck!.orderId) {
      stuckDeliveries++;
      await release.wait;
    }
    handled.push(event.orderId);
    return ACK;
  }, { concurrency: 3, batch: 1 });
  try {
    await eventually(() => assert.deepEqual([...handled].sort(), rest.map((e) => e.orderId).sort()), 15_000);
    assert.equal(stuckDeliveries, 1, "the stuck message is still held, not redelivered");
    release.open();
    await eventually(() => assert.equal(handled.length, 8), 15_000);
    assert.equal(stuckDeliveries, 1);
  } finally {
    release.open();
    await c.stop();
  }
});

test("with handlers side by side, a failing message is still dead-lettered after maxFailures, once, and the others are acked", async () => {
  const env = "poison";
  const [poison, ...good] = await publishAll(env, 6);
  const letters: DeadLetter[] = [];
  const handled: string[] = [];
  let tries = 0;
  const c = await consumer(env, async (event) => {
    if (event.orderId === poison!.orderId) {
      tries++;
      throw new Error("cannot handle this one");
    }
    handled.push(event.orderId);
    return ACK;
  }, { concurrency: 4, maxFailures: 3 }, letters);
  try {
    await eventually(async () => {
      assert.equal(letters.length, 1);
      assert.deepEqual([...handled].sort(), good.map((e) => e.orderId).sort());
      const i = await info(env);
      assert.equal(i.num_pending + i.num_ack_pending, 0);
    }, 15_000);
    assert.equal(letters[0]?.kind, "failed");
    assert.equal(letters[0]?.orderId, poison!.orderId);
    assert.equal(tries, 3);
  } finally {
    await c.stop();
  }
});
