import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { headers } from "@nats-io/transport-node";
import { eventNames, type OrderEvent } from "@pinflow/contracts";
import { eventually, TestNatsServer } from "@pinflow/testkit";
import pino from "pino";
import {
  ACK,
  connectNats,
  type DeadLetter,
  type DeadLetterSink,
  ensureOrderStream,
  ensureWorkConsumer,
  EventPublisher,
  makeEvent,
  ProjectionConsumer,
  WorkConsumer,
  type NatsConnection,
  type ProjectionMessage,
  type WorkConsumerOptions,
  type WorkHandler,
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

/** A dead-letter record in memory. */
function memorySink(): DeadLetterSink & { letters: DeadLetter[] } {
  const letters: DeadLetter[] = [];
  return { letters, record: async (letter) => void letters.push(letter) };
}

/** A work consumer on its own durable (every durable sees every OrderCreated of the file: handlers ack others). */
async function workConsumer(
  durable: string,
  handler: WorkHandler,
  sink: DeadLetterSink,
  extra: Partial<WorkConsumerOptions> = {},
  isTransient?: (error: unknown) => boolean,
): Promise<WorkConsumer> {
  const opts: WorkConsumerOptions = { durable, filterSubject: names.eventType("OrderCreated"), ackWaitMs: 2000, batch: 5, maxAckPending: 50, failureBackoffMs: 20, ...extra };
  await ensureWorkConsumer(nc, names, opts);
  const consumer = new WorkConsumer(nc, names, opts, handler, logger, { deadLetters: sink, ...(isTransient ? { isTransient } : {}) });
  consumer.start();
  return consumer;
}

async function consumerSettled(durable: string): Promise<void> {
  const jsm = await jetstreamManager(nc);
  await eventually(async () => {
    const info = await jsm.consumers.info(names.stream, durable);
    assert.equal(info.num_pending + info.num_ack_pending, 0);
  });
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

test("a work consumer acks handled events, retries failures, and dead-letters malformed ones", async () => {
  const publisher = new EventPublisher(nc, names);
  await ensureWorkConsumer(nc, names, { durable: "w1", filterSubject: names.eventType("OrderCreated"), ackWaitMs: 2000, batch: 5, maxAckPending: 50 });
  const a = created();
  const seen: string[] = [];
  const rejected: string[] = [];
  const sink = memorySink();
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
    { deadLetters: sink, onRejected: (reason) => rejected.push(reason) },
  );
  consumer.start();
  await publisher.publish(a);
  const bad = randomUUID();
  const js = jetstream(nc);
  const h = headers();
  const badAck = await js.publish(names.orderEvent(bad, "OrderCreated"), new TextEncoder().encode('{"type":"OrderCreated","nope":1}'), { headers: h });
  try {
    await eventually(() => {
      assert.deepEqual(seen, [`${a.orderId}@2`]);
      assert.equal(rejected.length, 1);
      assert.equal(sink.letters.length, 1);
    });
    const letter = sink.letters[0]!;
    assert.deepEqual(
      { consumer: letter.consumer, kind: letter.kind, seq: letter.seq, orderId: letter.orderId, eventType: letter.eventType, eventId: letter.eventId },
      { consumer: "w1", kind: "malformed", seq: badAck.seq, orderId: bad, eventType: "OrderCreated", eventId: null },
    );
    assert.equal(new TextDecoder().decode(letter.data), '{"type":"OrderCreated","nope":1}');
    assert.match(letter.error, /^schema: /);
  } finally {
    await consumer.stop();
  }
});

test("a poison event (the handler fails on it every time) is dead-lettered after maxFailures; the consumer goes on", async () => {
  const publisher = new EventPublisher(nc, names);
  const poison = created();
  const after = created();
  const sink = memorySink();
  let poisonCalls = 0;
  let afterHandled = false;
  const consumer = await workConsumer(
    "w-poison",
    async (event) => {
      if (event.orderId === poison.orderId) {
        poisonCalls++;
        throw new Error('invalid byte sequence for encoding "UTF8": 0x00');
      }
      if (event.orderId === after.orderId) afterHandled = true;
      return ACK;
    },
    sink,
    { maxFailures: 3 },
  );
  try {
    const { seq } = await publisher.publish(poison);
    await publisher.publish(after);
    await eventually(() => assert.equal(sink.letters.filter((l) => l.orderId === poison.orderId).length, 1));
    await consumerSettled("w-poison");
    const letter = sink.letters.find((l) => l.orderId === poison.orderId)!;
    assert.deepEqual(
      { kind: letter.kind, seq: letter.seq, eventId: letter.eventId, eventType: letter.eventType, attempts: letter.attempts },
      { kind: "failed", seq, eventId: poison.id, eventType: "OrderCreated", attempts: 3 },
    );
    assert.match(letter.error, /^Error: invalid byte sequence/);
    assert.equal(poisonCalls, 3, "tried exactly maxFailures times, then terminated");
    assert.equal(afterHandled, true, "the next event was handled");
  } finally {
    await consumer.stop();
  }
});

test("a long legitimate wait is not dead-lettered: 'retry later' many more times than maxFailures, then handled", async () => {
  const publisher = new EventPublisher(nc, names);
  const waiting = created();
  const sink = memorySink();
  let deliveries = 0;
  let handledAt = 0;
  const consumer = await workConsumer(
    "w-wait",
    async (event, ctx) => {
      if (event.orderId !== waiting.orderId) return ACK;
      deliveries++;
      if (deliveries <= 12) return { retryAfterMs: 10 }; // e.g. the provider is paused or its circuit is open
      handledAt = ctx.deliveryCount;
      return ACK;
    },
    sink,
    { maxFailures: 2 },
  );
  try {
    await publisher.publish(waiting);
    await eventually(() => assert.equal(handledAt, 13));
    await consumerSettled("w-wait");
    assert.deepEqual(sink.letters.filter((l) => l.orderId === waiting.orderId), []);
  } finally {
    await consumer.stop();
  }
});

test("an outage (transient failures) never counts towards maxFailures: the event is handled once it ends", async () => {
  const publisher = new EventPublisher(nc, names);
  const event = created();
  const sink = memorySink();
  let failuresLeft = 6;
  let handled = false;
  const outage = new Error("connect ECONNREFUSED 127.0.0.1:5432");
  const consumer = await workConsumer(
    "w-outage",
    async (e) => {
      if (e.orderId !== event.orderId) return ACK;
      if (failuresLeft-- > 0) throw outage;
      handled = true;
      return ACK;
    },
    sink,
    { maxFailures: 2, failureBackoffMs: 5 },
    (error) => error === outage,
  );
  try {
    await publisher.publish(event);
    await eventually(() => assert.equal(handled, true), 20_000);
    assert.deepEqual(sink.letters.filter((l) => l.orderId === event.orderId), []);
  } finally {
    await consumer.stop();
  }
});

test("on its last allowed delivery (max_deliver) a still-waiting message is dead-lettered, not dropped", async () => {
  const publisher = new EventPublisher(nc, names);
  const stuck = created();
  const sink = memorySink();
  const consumer = await workConsumer("w-limit", async (e) => (e.orderId === stuck.orderId ? { retryAfterMs: 10 } : ACK), sink, { maxDeliver: 4 });
  try {
    await publisher.publish(stuck);
    await eventually(() => assert.equal(sink.letters.filter((l) => l.orderId === stuck.orderId).length, 1));
    const letter = sink.letters.find((l) => l.orderId === stuck.orderId)!;
    assert.equal(letter.kind, "delivery_limit");
    assert.equal(letter.attempts, 4);
    await consumerSettled("w-limit");
  } finally {
    await consumer.stop();
  }
});

test("a dead letter that cannot be stored is retried, never dropped", async () => {
  const bad = randomUUID();
  const letters: DeadLetter[] = [];
  let sinkFailures = 2;
  const sink: DeadLetterSink = {
    record: async (letter) => {
      if (letter.orderId === bad && sinkFailures-- > 0) throw new Error("dead-letter table unreachable");
      letters.push(letter);
    },
  };
  const consumer = await workConsumer("w-sink", async () => ACK, sink);
  try {
    await jetstream(nc).publish(names.orderEvent(bad, "OrderCreated"), new TextEncoder().encode("\u0000\xff not json"));
    await eventually(() => assert.equal(letters.filter((l) => l.orderId === bad).length, 1), 20_000);
    assert.equal(sinkFailures, -1, "stored on the third try");
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
    deadLetter: async () => assert.fail("nothing is dead-lettered here"),
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

test("a projection gives up on an event it cannot apply after maxTries (dead letter, checkpoint past it); outages never count", async () => {
  const publisher = new EventPublisher(nc, names);
  const applied: number[] = [];
  const dead: { seq: number; error: string; tries: number }[] = [];
  let checkpoint = (await (await jetstreamManager(nc)).streams.info(names.stream)).state.last_seq;
  const outage = new Error("Connection terminated unexpectedly");
  let outagesLeft = 7;
  const poison = await publisher.publish(created());
  const good = await publisher.publish(created());
  const tried = new Map<number, number>();
  const source = {
    checkpoint: async () => checkpoint,
    apply: async (m: ProjectionMessage) => {
      tried.set(m.seq, (tried.get(m.seq) ?? 0) + 1);
      if (m.seq === good.seq && outagesLeft-- > 0) throw outage;
      if (m.seq === poison.seq) throw new Error("invalid byte sequence for encoding \"UTF8\": 0x00");
      applied.push(m.seq);
      checkpoint = m.seq;
    },
    deadLetter: async (m: ProjectionMessage, error: string, tries: number) => {
      dead.push({ seq: m.seq, error, tries });
      checkpoint = m.seq;
    },
  };
  const projection = new ProjectionConsumer(nc, names, source, logger, { retryDelayMs: 5, maxTries: 3, isTransient: (e) => e === outage });
  projection.start();
  try {
    assert.equal(await projection.waitFor(good.seq, 20_000), true);
    assert.deepEqual(dead, [{ seq: poison.seq, error: 'Error: invalid byte sequence for encoding "UTF8": 0x00', tries: 3 }]);
    assert.equal(tried.get(poison.seq), 3);
    assert.deepEqual(applied, [good.seq], "the good event is applied after the outage, not dead-lettered");
    assert.equal(tried.get(good.seq), 8);
  } finally {
    await projection.stop();
  }
});

test("consumers stopped right after start (while their consumer is being created) stop, and do not hang", async () => {
  const projection = new ProjectionConsumer(nc, names, { checkpoint: async () => 0, apply: async () => undefined, deadLetter: async () => undefined }, logger);
  projection.start();
  await projection.stop();
  const opts: WorkConsumerOptions = { durable: "w-stop", filterSubject: names.eventType("OrderCreated"), ackWaitMs: 2000, batch: 5, maxAckPending: 50 };
  await ensureWorkConsumer(nc, names, opts);
  const consumer = new WorkConsumer(nc, names, opts, async () => ACK, logger, { deadLetters: memorySink() });
  consumer.start();
  await consumer.stop();
});
