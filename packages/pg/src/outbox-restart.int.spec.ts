import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { connectNats, ensureOrderStream, EventPublisher, makeEvent, readStream, type NatsConnection, type ProjectionMessage } from "@pinflow/bus";
import { eventNames } from "@pinflow/contracts";
import { TestDatabase, TestNatsServer } from "@pinflow/testkit";
import pino from "pino";
import { createPool, enqueueEvents, ensureOutbox, inTransaction, OutboxRelay, type Pool } from "./index.js";

const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? "silent" });
const names = eventNames("test");
const nats = new TestNatsServer();
const db = new TestDatabase("pg_outbox_restart");
let pool: Pool;

before(async () => {
  await nats.start();
  await db.create();
  pool = createPool(db.url, 8);
  await ensureOutbox(pool);
});
after(async () => {
  await pool.end();
  await db.drop();
  await nats.destroy();
});

const checked = (orderId: string, attempt: number) =>
  makeEvent("StatusChecked", { orderId, correlationId: orderId, causationId: null }, { provider: "znet", reference: "1001", attempt, outcome: "pending", note: "bekliyor" });

/**
 * Found by the 10,000-order chaos run (two dispatcher replicas, nats-server restarted): a reconcile's
 * answer reached the stream before the previous one. After an outage both relays take the backlog at
 * once, and SKIP LOCKED interleaves their batches row by row: one relay held an order's 6th and 8th
 * events, the other its 7th, and the first published 6 and 8 (its chain's head was the order's first
 * unpublished row) before the 7th.
 */
test("two relays across nats-server restarts: every order's events reach the stream in outbox order", { timeout: 120_000 }, async () => {
  const connections: NatsConnection[] = [];
  for (const name of ["relay-a", "relay-b", "reader"]) connections.push(await connectNats({ servers: nats.url, name, logger }));
  const [ncA, ncB, reader] = connections as [NatsConnection, NatsConnection, NatsConnection];
  await ensureOrderStream(reader, names);
  const relays = [new OutboxRelay(pool, new EventPublisher(ncA, names), logger, 50), new OutboxRelay(pool, new EventPublisher(ncB, names), logger, 50)];
  relays.forEach((r) => r.start());
  const orders = Array.from({ length: 150 }, () => randomUUID());
  const EVENTS = 8;
  // Each order's events are committed one after the other (as a handler commits its answers), while
  // nats-server is stopped and started three times.
  const feeders = orders.map(async (orderId, i) => {
    await sleep(i * 7);
    for (let n = 1; n <= EVENTS; n++) {
      const event = checked(orderId, n);
      await inTransaction(pool, (client) => enqueueEvents(client, [{ event, msgId: `StatusChecked:${orderId}:${n}`, once: false }]));
      relays[n % relays.length]!.kick();
      await sleep(150 + Math.random() * 400);
    }
  });
  const restarts = (async () => {
    for (let k = 0; k < 3; k++) {
      await sleep(1_200);
      await nats.stop();
      await sleep(1_000 + Math.random() * 1_500);
      await nats.start();
    }
  })();
  await Promise.all([...feeders, restarts]);
  for (let i = 0; i < 240; i++) {
    const left = await pool.query<{ n: number }>("SELECT count(*)::int AS n FROM outbox WHERE published_at IS NULL");
    if (left.rows[0]!.n === 0) break;
    relays.forEach((r) => r.kick());
    await sleep(250);
  }
  await Promise.all(relays.map((r) => r.stop()));
  let messages: ProjectionMessage[] | undefined;
  for (let tries = 1; messages === undefined; tries++) {
    // Right after a restart the server may still be loading the stream.
    messages = await readStream(reader, names).catch((error: unknown) => {
      if (tries >= 10) throw error;
      return undefined;
    });
  }
  await Promise.all(connections.map((c) => c.close()));
  const seen = new Map<string, number[]>();
  for (const m of messages) if (m.ok) seen.set(m.event.orderId, [...(seen.get(m.event.orderId) ?? []), (m.event.data as { attempt: number }).attempt]);
  const inOrder = JSON.stringify(Array.from({ length: EVENTS }, (_, i) => i + 1));
  const wrong = orders.filter((o) => JSON.stringify(seen.get(o)) !== inOrder).map((o) => `${o}: ${JSON.stringify(seen.get(o) ?? [])}`);
  assert.deepEqual(wrong, [], "every order's events on the stream, each once, in the order they were committed");
});
