/**
 * The projection binding of the Nest JetStream transport against a private nats-server: pure
 * `@EventPattern` handlers in a real Nest microservice return each event's change, the binding hands
 * a batch of them to the sink with the checkpoint (ordered, from the checkpoint, batched), a
 * handler that keeps throwing dead-letters its message after maxTries while outages never count,
 * a malformed message reaches the sink without a change, and a new server resumes after the
 * checkpoint (no message committed twice).
 */
import "reflect-metadata";
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { jetstream } from "@nats-io/jetstream";
import { Module, type INestMicroservice } from "@nestjs/common";
import { NestFactory } from "@nestjs/core";
import { Ctx, EventPattern, Payload } from "@nestjs/microservices";
import { eventNames, type EventNames, type OrderEvent } from "@pinflow/contracts";
import { eventually, TestNatsServer } from "@pinflow/testkit";
import pino from "pino";
import {
  connectNats,
  ensureOrderStream,
  EventPublisher,
  JetStreamEvents,
  JetStreamProjectionServer,
  makeEvent,
  ProjectionContext,
  type NatsConnection,
  type ProjectionConsumerOptions,
  type ProjectionEntry,
  type ProjectionMessage,
  type ProjectionSink,
} from "./index.js";

const logger = pino({ level: "silent" });
const server = new TestNatsServer();
let nc: NatsConnection;

before(async () => {
  await server.start();
  nc = await connectNats({ servers: server.url, name: "nest-projection-test", logger });
});
after(async () => {
  await nc.close();
  await server.destroy();
});

/** What the test's handlers return for an event: which handler saw it, and the sequence its context gave. */
interface Change {
  handler: "created" | "progressed";
  type: string;
  orderId: string;
  seq: number;
}

/** Player ids whose OrderCreated the handler refuses to turn into a change (a poison event). */
const poisonPlayers = new Set<string>();
/** Handler calls so far. */
let handled = 0;

@JetStreamEvents()
class TestProjection {
  @EventPattern("OrderCreated")
  created(@Payload() event: OrderEvent, @Ctx() ctx: ProjectionContext): Change {
    handled++;
    if (event.type === "OrderCreated" && poisonPlayers.has(event.data.playerId)) throw new Error(`cannot project player ${event.data.playerId}`);
    return { handler: "created", type: event.type, orderId: event.orderId, seq: ctx.seq };
  }

  @EventPattern(["OrderSent", "StatusChecked"])
  progressed(@Payload() event: OrderEvent, @Ctx() ctx: ProjectionContext): Change {
    handled++;
    return { handler: "progressed", type: event.type, orderId: event.orderId, seq: ctx.seq };
  }
}

@Module({ controllers: [TestProjection] })
class TestProjectionModule {}

class Outage extends Error {}

/**
 * A sink with the contract's semantics in memory: a commit applies all its entries and moves the
 * checkpoint, or (an outage) nothing; a dead letter moves the checkpoint past its message.
 */
class MemorySink implements ProjectionSink<Change> {
  checkpointSeq = 0;
  readonly applied: Change[] = [];
  readonly malformed: number[] = [];
  readonly commits: number[][] = [];
  readonly letters: { seq: number; error: string; tries: number }[] = [];
  outagesLeft = 0;
  /** Awaited before the first commit (a slow database). */
  beforeFirstCommit: () => Promise<void> = async () => undefined;

  async checkpoint(): Promise<number> {
    return this.checkpointSeq;
  }

  async commit(entries: readonly ProjectionEntry<Change>[]): Promise<void> {
    if (this.outagesLeft > 0) {
      this.outagesLeft--;
      throw new Outage("database unreachable");
    }
    if (this.commits.length === 0) await this.beforeFirstCommit();
    for (const entry of entries) {
      if (entry.change === undefined) this.malformed.push(entry.message.seq);
      else this.applied.push(entry.change);
    }
    this.commits.push(entries.map((e) => e.message.seq));
    this.checkpointSeq = entries[entries.length - 1]!.message.seq;
  }

  async deadLetter(message: ProjectionMessage, error: string, tries: number): Promise<void> {
    this.letters.push({ seq: message.seq, error, tries });
    this.checkpointSeq = message.seq;
  }
}

async function startProjection(names: EventNames, sink: MemorySink, options: ProjectionConsumerOptions = {}, eventTypes?: readonly string[]) {
  const strategy = new JetStreamProjectionServer<Change>(nc, names, { sink, options: { retryDelayMs: 10, ...options }, ...(eventTypes ? { eventTypes } : {}) }, logger);
  const app: INestMicroservice = await NestFactory.createMicroservice(TestProjectionModule, { strategy, logger: false });
  await app.listen();
  return { app, strategy };
}

const origin = (orderId: string) => ({ orderId, correlationId: orderId, causationId: null });
const created = (orderId: string, playerId = "p1") => makeEvent("OrderCreated", origin(orderId), { packageId: "pubg-60", playerId, extra: null });
const sent = (orderId: string) =>
  makeEvent("OrderSent", origin(orderId), { packageId: "pubg-60", provider: "znet", reference: `r-${orderId}`, cost: "10.12", balance: null, providerOrderId: null });

test("pure handlers' changes reach the sink in stream order, many per commit, with the checkpoint; handlers run while a commit is in progress; a new server resumes after the checkpoint", async () => {
  const names = eventNames(`proj${randomUUID().slice(0, 8)}`);
  await ensureOrderStream(nc, names);
  const publisher = new EventPublisher(nc, names);
  const published: { seq: number; type: string; orderId: string }[] = [];
  for (let i = 0; i < 300; i++) {
    const orderId = randomUUID();
    for (const event of [created(orderId), sent(orderId)]) published.push({ seq: (await publisher.publish(event)).seq, type: event.type, orderId });
  }
  const sink = new MemorySink();
  // The first commit is slow: until the handlers have run for the whole backlog (they run as messages queue up, not after the commit).
  const handledBefore = handled;
  sink.beforeFirstCommit = () => eventually(() => assert.equal(handled - handledBefore, published.length), 20_000);
  const first = await startProjection(names, sink);
  const firstLast = published.at(-1)!.seq;
  assert.equal(await first.strategy.waitFor(firstLast, 20_000), true, "caught up with the stream");
  await first.app.close();

  assert.deepEqual(
    sink.applied.map((c) => ({ seq: c.seq, type: c.type, orderId: c.orderId })),
    published,
    "every event once, in stream order, each with its own sequence from the context",
  );
  assert.ok(sink.applied.every((c) => c.handler === (c.type === "OrderCreated" ? "created" : "progressed")), "each type went to its handler");
  assert.ok(sink.commits.some((seqs) => seqs.length > 100), `what queued up during a commit is the next batch (sizes ${sink.commits.slice(0, 8).map((s) => s.length).join(", ")}…)`);
  for (const seqs of sink.commits) assert.deepEqual(seqs, seqs.map((_, i) => seqs[0]! + i), "a batch is consecutive messages");
  assert.equal(sink.checkpointSeq, firstLast);

  // Restart: what comes after the checkpoint, and only that.
  const later: number[] = [];
  for (let i = 0; i < 5; i++) later.push((await publisher.publish(created(randomUUID()))).seq);
  const appliedBefore = sink.applied.length;
  const second = await startProjection(names, sink);
  try {
    assert.equal(await second.strategy.waitFor(later.at(-1)!, 20_000), true);
    assert.deepEqual(sink.applied.slice(appliedBefore).map((c) => c.seq), later, "the restarted server starts after the checkpoint: nothing twice, nothing skipped");
  } finally {
    await second.app.close();
  }
});

test("a handler that keeps throwing dead-letters its message after maxTries (checkpoint past it), the events around it commit; outages of the sink never count", async () => {
  const names = eventNames(`proj${randomUUID().slice(0, 8)}`);
  await ensureOrderStream(nc, names);
  const publisher = new EventPublisher(nc, names);
  const poisonPlayer = `poison-${randomUUID()}`;
  poisonPlayers.add(poisonPlayer);
  const before = (await publisher.publish(created(randomUUID()))).seq;
  const poison = (await publisher.publish(created(randomUUID(), poisonPlayer))).seq;
  const afterIt = (await publisher.publish(created(randomUUID()))).seq;
  const sink = new MemorySink();
  sink.outagesLeft = 6; // more than maxTries: were outages counted, a good event would be dead-lettered
  const { app, strategy } = await startProjection(names, sink, { maxTries: 3, isTransient: (e) => e instanceof Outage });
  try {
    assert.equal(await strategy.waitFor(afterIt, 20_000), true);
    assert.deepEqual(sink.letters, [{ seq: poison, error: `Error: cannot project player ${poisonPlayer}`, tries: 3 }]);
    assert.deepEqual(sink.applied.map((c) => c.seq), [before, afterIt], "the events around the poison one are committed once each");
    assert.equal(sink.outagesLeft, 0, "the outages happened");
    assert.equal(sink.checkpointSeq, afterIt);
  } finally {
    poisonPlayers.delete(poisonPlayer);
    await app.close();
  }
});

test("a malformed message reaches the sink without a change; an event type without a handler is a failure of its message", async () => {
  const names = eventNames(`proj${randomUUID().slice(0, 8)}`);
  await ensureOrderStream(nc, names);
  const publisher = new EventPublisher(nc, names);
  const orderId = randomUUID();
  const first = (await publisher.publish(created(orderId))).seq;
  const malformed = (await jetstream(nc).publish(names.orderEvent(orderId, "OrderSent"), new TextEncoder().encode("{not json"))).seq;
  const unhandled = (await publisher.publish(makeEvent("DispatchFailed", origin(orderId), { reasonCode: "invalid_player", provider: "znet", providerCode: "3", message: "no such player" }))).seq;
  const sink = new MemorySink();
  const { app, strategy } = await startProjection(names, sink, { maxTries: 2 });
  try {
    assert.equal(await strategy.waitFor(unhandled, 20_000), true);
    assert.deepEqual(sink.applied.map((c) => c.seq), [first]);
    assert.deepEqual(sink.malformed, [malformed]);
    assert.deepEqual(sink.letters, [{ seq: unhandled, error: "Error: no projection handler for DispatchFailed", tries: 2 }]);
  } finally {
    await app.close();
  }
});

test("listen fails when an event type the projection reads has no handler", async () => {
  const names = eventNames(`proj${randomUUID().slice(0, 8)}`);
  await ensureOrderStream(nc, names);
  const sink = new MemorySink();
  await assert.rejects(startProjection(names, sink, {}, ["OrderCreated", "OrderSent", "PinReceived"]), /no projection handler for PinReceived/);
});
