import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { jetstream } from "@nats-io/jetstream";
import { headers } from "@nats-io/transport-node";
import { eventNames, type OrderEvent } from "@pinflow/contracts";
import { eventually, TestNatsServer } from "@pinflow/testkit";
import pino from "pino";
import {
  ACK,
  connectNats,
  ensureOrderStream,
  ensureWorkConsumer,
  EventPublisher,
  makeEvent,
  ProjectionConsumer,
  WorkConsumer,
  type NatsConnection,
  type ProjectionMessage,
} from "./index.js";

const logger = pino({ level: "silent" });
const names = eventNames("test");
const server = new TestNatsServer();
let nc: NatsConnection;

before(async () => {
  await server.start();
  nc = await connectNats({ servers: server.url, name: "bus-test", logger });
  await ensureOrderStream(nc, names);
  await ensureOrderStream(nc, names); // idempotent
});
after(async () => {
  await nc.close();
  await server.destroy();
});

function created(orderId = randomUUID()): OrderEvent {
  return makeEvent("OrderCreated", { orderId, correlationId: orderId, causationId: null }, { packageId: "pubg-60", playerId: "p1", extra: null });
}

test("a fact published twice is stored once (msgID) and a once-only fact cannot be written again", async () => {
  const publisher = new EventPublisher(nc, names);
  const event = created();
  const first = await publisher.publish(event, { once: true });
  const again = await publisher.publish(event, { once: true });
  assert.equal(first.duplicate, false);
  assert.equal(again.duplicate, true);
  // A different event id for the same once-only fact (a replay after the window) is refused too.
  const other = { ...event, id: randomUUID() };
  const third = await publisher.publish(other, { once: true, msgId: `other:${event.orderId}` });
  assert.equal(third.duplicate, true);
});

test("a work consumer acks handled events, retries failures, and terminates malformed ones", async () => {
  const publisher = new EventPublisher(nc, names);
  await ensureWorkConsumer(nc, names, { durable: "w1", filterSubject: names.eventType("OrderCreated"), ackWaitMs: 2000, batch: 5, maxAckPending: 50 });
  const a = created();
  const seen: string[] = [];
  const rejected: string[] = [];
  let failOnce = true;
  const consumer = new WorkConsumer(
    nc,
    names,
    { durable: "w1", filterSubject: names.eventType("OrderCreated"), ackWaitMs: 2000, batch: 5, maxAckPending: 50 },
    async (event, ctx) => {
      if (event.orderId !== a.orderId) return ACK;
      if (failOnce) {
        failOnce = false;
        throw new Error("database down");
      }
      seen.push(`${event.orderId}@${ctx.deliveryCount}`);
      return ACK;
    },
    logger,
    { onRejected: (reason) => rejected.push(reason) },
  );
  consumer.start();
  await publisher.publish(a);
  const bad = randomUUID();
  const js = jetstream(nc);
  const h = headers();
  await js.publish(names.orderEvent(bad, "OrderCreated"), new TextEncoder().encode('{"type":"OrderCreated","nope":1}'), { headers: h });
  try {
    await eventually(() => {
      assert.deepEqual(seen, [`${a.orderId}@2`]);
      assert.equal(rejected.length, 1);
    });
  } finally {
    await consumer.stop();
  }
});

test("a projection consumer resumes after its checkpoint and survives a failing apply", async () => {
  const publisher = new EventPublisher(nc, names);
  const applied: number[] = [];
  let checkpoint = 0;
  let failures = 1;
  const source = {
    checkpoint: async () => checkpoint,
    apply: async (m: ProjectionMessage) => {
      if (applied.length === 1 && failures-- > 0) throw new Error("db gone");
      applied.push(m.seq);
      checkpoint = m.seq;
    },
  };
  const projection = new ProjectionConsumer(nc, names, source, logger, { retryDelayMs: 50 });
  const events = [created(), created(), created()];
  let lastSeq = 0;
  for (const e of events) lastSeq = (await publisher.publish(e)).seq;
  projection.start();
  assert.equal(await projection.waitFor(lastSeq, 5000), true);
  const unique = new Set(applied);
  assert.equal(unique.size, applied.length, "no message applied twice");
  assert.equal(applied.at(-1), lastSeq);
  assert.deepEqual(applied, [...applied].sort((x, y) => x - y));
  await projection.stop();
});
