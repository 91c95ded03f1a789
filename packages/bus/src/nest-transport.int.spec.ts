/**
 * The Nest JetStream transport against a private nats-server: `@EventPattern` handlers in a real
 * Nest microservice, their outcomes as ack / nak(delay) / term, thrown errors reaching the
 * consumer as themselves, `close()` settling what is held, and the client's msgID deduplication.
 */
import "reflect-metadata";
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { jetstreamManager } from "@nats-io/jetstream";
import { Module, type INestMicroservice } from "@nestjs/common";
import { NestFactory } from "@nestjs/core";
import { Ctx, EventPattern, Payload } from "@nestjs/microservices";
import { eventNames, type OrderEvent } from "@pinflow/contracts";
import { eventually, TestNatsServer } from "@pinflow/testkit";
import { lastValueFrom } from "rxjs";
import pino from "pino";
import {
  ACK,
  connectNats,
  type DeadLetter,
  ensureOrderStream,
  ensureWorkConsumer,
  JetStreamClient,
  JetStreamContext,
  JetStreamEvents,
  JetStreamServer,
  makeEvent,
  type HandlerOutcome,
  type NatsConnection,
  type Published,
  type WorkConsumerOptions,
} from "./index.js";

const logger = pino({ level: "silent" });
const server = new TestNatsServer();
let nc: NatsConnection;

before(async () => {
  await server.start();
  nc = await connectNats({ servers: server.url, name: "nest-transport-test", logger });
});
after(async () => {
  await nc.close();
  await server.destroy();
});

class Outage extends Error {}

/** What the test's handler does with an order: keyed by orderId. */
type Script = (event: OrderEvent, ctx: JetStreamContext) => Promise<HandlerOutcome>;
let script: Script = async () => ACK;

@JetStreamEvents()
class TestEvents {
  @EventPattern("OrderCreated")
  created(@Payload() event: OrderEvent, @Ctx() ctx: JetStreamContext): Promise<HandlerOutcome> {
    return script(event, ctx);
  }
}

@Module({ controllers: [TestEvents] })
class TestEventsModule {}

interface Harness {
  env: string;
  app: INestMicroservice;
  strategy: JetStreamServer;
  client: JetStreamClient;
  letters: DeadLetter[];
  rejected: string[];
  transient: unknown[];
  /** orderId:deliveryCount of each redelivery the consumer reported. */
  redelivered: string[];
  info(): ReturnType<Awaited<ReturnType<typeof jetstreamManager>>["consumers"]["info"]>;
}

async function harness(env: string, extra: Partial<WorkConsumerOptions> = {}): Promise<Harness> {
  const names = eventNames(env);
  await ensureOrderStream(nc, names);
  const options: WorkConsumerOptions = {
    durable: names.durable("nest"),
    filterSubject: names.eventType("OrderCreated"),
    ackWaitMs: 1_000,
    batch: 2,
    concurrency: 2,
    maxAckPending: 100,
    maxFailures: 3,
    failureBackoffMs: 20,
    ...extra,
  };
  await ensureWorkConsumer(nc, names, options);
  const letters: DeadLetter[] = [];
  const rejected: string[] = [];
  const transient: unknown[] = [];
  const redelivered: string[] = [];
  const strategy = new JetStreamServer(nc, names, [{
    options,
    hooks: {
      deadLetters: { record: async (l) => void letters.push(l) },
      isTransient: (error) => {
        if (!(error instanceof Outage)) return false;
        transient.push(error);
        return true;
      },
      onRejected: (reason) => rejected.push(reason),
      onRedelivered: (event, count) => redelivered.push(`${event.orderId}:${count}`),
    },
  }], logger);
  const app = await NestFactory.createMicroservice(TestEventsModule, { strategy, logger: false });
  await app.listen();
  const jsm = await jetstreamManager(nc);
  return { env, app, strategy, client: new JetStreamClient(nc, names), letters, rejected, transient, redelivered, info: () => jsm.consumers.info(names.stream, options.durable) };
}

function order(): OrderEvent {
  const orderId = randomUUID();
  return makeEvent("OrderCreated", { orderId, correlationId: orderId, causationId: null }, { packageId: "pubg-60", playerId: "p1", extra: null });
}

test("a handler's outcome is the message's reply: ack settles it, retryAfterMs brings it back, reject dead-letters it and counts it", async () => {
  const h = await harness("outcomes");
  const [acked, waited, refused] = [order(), order(), order()];
  const deliveries = new Map<string, number[]>();
  script = async (event, ctx) => {
    deliveries.set(event.orderId, [...(deliveries.get(event.orderId) ?? []), ctx.delivery.deliveryCount]);
    assert.equal(ctx.durable, eventNames("outcomes").durable("nest"));
    if (event.orderId === waited!.orderId && ctx.delivery.deliveryCount === 1) return { retryAfterMs: 50 };
    if (event.orderId === refused!.orderId) return { reject: "not for us" };
    return ACK;
  };
  try {
    for (const e of [acked!, waited!, refused!]) await lastValueFrom(h.client.emit(e.type, e));
    await eventually(async () => {
      assert.equal(h.letters.length, 1);
      const i = await h.info();
      assert.equal(i.num_pending + i.num_ack_pending, 0, "every message settled");
      assert.deepEqual(deliveries.get(waited!.orderId), [1, 2], "handed back once, then acked");
    }, 15_000);
    assert.deepEqual(deliveries.get(acked!.orderId), [1], "acked: never redelivered");
    assert.deepEqual(deliveries.get(refused!.orderId), [1], "rejected: terminated, not redelivered");
    assert.deepEqual({ kind: h.letters[0]?.kind, orderId: h.letters[0]?.orderId, error: h.letters[0]?.error }, { kind: "rejected", orderId: refused!.orderId, error: "not for us" });
    assert.deepEqual(h.rejected, ["not for us"]);
    assert.deepEqual(h.redelivered, [`${waited!.orderId}:2`], "the redelivery was reported, only it");
  } finally {
    await h.app.close();
  }
});

test("a thrown error reaches the consumer as itself: an outage is retried uncounted, a failure is dead-lettered after maxFailures with its message", async () => {
  const h = await harness("errors");
  const [flaky, poison] = [order(), order()];
  let flakyTries = 0;
  let poisonTries = 0;
  script = async (event) => {
    if (event.orderId === flaky!.orderId && ++flakyTries <= 4) throw new Outage("database unreachable");
    if (event.orderId === poison!.orderId) {
      poisonTries++;
      throw new Error("cannot handle this one");
    }
    return ACK;
  };
  try {
    await lastValueFrom(h.client.emit(flaky!.type, flaky!));
    await lastValueFrom(h.client.emit(poison!.type, poison!));
    await eventually(async () => {
      const i = await h.info();
      assert.equal(i.num_pending + i.num_ack_pending, 0);
      assert.equal(h.letters.length, 1);
    }, 20_000);
    assert.equal(flakyTries, 5, "four outages (more than maxFailures) did not dead-letter it; the fifth try acked");
    assert.equal(h.transient.length, 4);
    assert.equal(poisonTries, 3, "dead-lettered after maxFailures");
    assert.deepEqual({ kind: h.letters[0]?.kind, orderId: h.letters[0]?.orderId, error: h.letters[0]?.error }, { kind: "failed", orderId: poison!.orderId, error: "Error: cannot handle this one" });
  } finally {
    await h.app.close();
  }
});

test("a handler without an outcome fails its message (never an ack by default)", async () => {
  const h = await harness("no-outcome", { maxFailures: 2 });
  script = async () => undefined as unknown as HandlerOutcome;
  try {
    const e = order();
    await lastValueFrom(h.client.emit(e.type, e));
    await eventually(() => assert.equal(h.letters.length, 1), 15_000);
    assert.equal(h.letters[0]?.kind, "failed");
    assert.match(h.letters[0]?.error ?? "", /returned no outcome/);
  } finally {
    await h.app.close();
  }
});

test("close() stops taking messages and resolves only after the message in hand is settled; nothing is redelivered", async () => {
  const h = await harness("close", { concurrency: 1, batch: 1 });
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  const seen: string[] = [];
  script = async (event) => {
    seen.push(event.orderId);
    await held;
    return ACK;
  };
  const [first, second] = [order(), order()];
  await lastValueFrom(h.client.emit(first!.type, first!));
  await lastValueFrom(h.client.emit(second!.type, second!));
  await eventually(() => assert.deepEqual(seen, [first!.orderId]), 15_000);
  let closed = false;
  const closing = h.app.close().then(() => (closed = true));
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(closed, false, "close waits for the handler in flight");
  release();
  await closing;
  // The ack left before close resolved; the server applies it asynchronously.
  const i = await eventually(async () => {
    const now = await h.info();
    assert.equal(now.num_ack_pending, 0, "the held message was acked");
    return now;
  }, 5_000);
  assert.equal(i.num_redelivered, 0);
  assert.equal(i.num_pending, 1, "the second message was not taken");
  assert.deepEqual(seen, [first!.orderId]);
});

test("drain(): a message the open pull still brings while stopping is handled and acked, not left for the ack wait", async () => {
  const h = await harness("drain", { concurrency: 1, batch: 1, ackWaitMs: 60_000 });
  const seen: string[] = [];
  script = async (event) => {
    seen.push(event.orderId);
    return ACK;
  };
  // Idle: the consumer's pull request waits at the server.
  await eventually(async () => assert.equal((await h.info()).num_waiting, 1), 15_000);
  const draining = h.strategy.drain();
  const late = order();
  await lastValueFrom(h.client.emit(late.type, late));
  await draining;
  await h.app.close();
  assert.deepEqual(seen, [late.orderId], "the pull's last message was handled before drain() resolved");
  const i = await eventually(async () => {
    const now = await h.info();
    assert.equal(now.num_ack_pending, 0, "and acked: not held by a stopped process until the ack wait (60 s)");
    return now;
  }, 5_000);
  assert.equal(i.num_pending, 0);
  assert.equal(i.num_redelivered, 0);
});

test("the client publishes with the event's msgID: emitting the same fact twice stores it once", async () => {
  const names = eventNames("client");
  await ensureOrderStream(nc, names);
  const client = new JetStreamClient(nc, names);
  const e = order();
  const first: Published = await lastValueFrom(client.emit(e.type, e));
  const again: Published = await lastValueFrom(client.emit(e.type, e));
  const own: Published = await lastValueFrom(client.emit(e.type, { event: e, msgId: `${e.type}:${e.orderId}:g2` }));
  assert.deepEqual([first.duplicate, again.duplicate, own.duplicate], [false, true, false]);
  assert.equal(again.seq, first.seq);
  await assert.rejects(lastValueFrom(client.emit("OrderSent", e)), /not the event's type/);
  await assert.rejects(lastValueFrom(client.send("OrderCreated", e)), /only emits events/);
});
