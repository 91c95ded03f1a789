import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { connectNats, ensureOrderStream, EventPublisher, makeEvent, readOrderHistory, type NatsConnection } from "@pinflow/bus";
import { eventNames, type OrderEvent } from "@pinflow/contracts";
import { TestDatabase, TestNatsServer } from "@pinflow/testkit";
import pino from "pino";
import { createPool, enqueueEvents, ensureOutbox, inTransaction, OutboxRelay, type Pool } from "./index.js";

const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? "silent" });
const names = eventNames("test");
const nats = new TestNatsServer();
const db = new TestDatabase("pg_outbox");
let nc: NatsConnection;
let pool: Pool;

before(async () => {
  await nats.start();
  await db.create();
  pool = createPool(db.url, 4);
  await ensureOutbox(pool);
  nc = await connectNats({ servers: nats.url, name: "outbox-test", logger });
  await ensureOrderStream(nc, names);
});
after(async () => {
  await nc.close();
  await pool.end();
  await db.drop();
  await nats.destroy();
});

/** The real publisher, made to fail the first publish of one chosen event (a broker hiccup). */
class FailingOncePublisher extends EventPublisher {
  failed = false;
  constructor(private readonly failOn: string) {
    super(nc, names);
  }
  override async publish(event: OrderEvent, opts?: Parameters<EventPublisher["publish"]>[1]) {
    if (event.id === this.failOn && !this.failed) {
      this.failed = true;
      throw new Error("publish timed out");
    }
    return super.publish(event, opts);
  }
}

const checked = (orderId: string, attempt: number) =>
  makeEvent("StatusChecked", { orderId, correlationId: orderId, causationId: null }, { provider: "znet", reference: "1001", attempt, outcome: "pending", note: "bekliyor" });

test("the relay publishes several orders side by side; an order whose publish fails stops there, the others go out, and its events keep their order", async () => {
  const [a, b, c] = [randomUUID(), randomUUID(), randomUUID()];
  const aEvents = [1, 2, 3].map((n) => checked(a, n));
  const bEvents = [1, 2].map((n) => checked(b, n));
  const cEvents = [checked(c, 1)];
  // Interleaved in the outbox, as commits of different orders are.
  const all = [aEvents[0]!, bEvents[0]!, aEvents[1]!, cEvents[0]!, bEvents[1]!, aEvents[2]!];
  await inTransaction(pool, (client) => enqueueEvents(client, all.map((event) => ({ event, msgId: `StatusChecked:${event.orderId}:${event.data.attempt}`, once: false }))));

  const relay = new OutboxRelay(pool, new FailingOncePublisher(aEvents[1]!.id), logger);
  await assert.rejects(relay.drain(), /publish timed out/);
  const attemptsOn = async (orderId: string) => (await readOrderHistory(nc, names, orderId)).map((m) => (m.ok ? m.event.data : null) as { attempt: number } | null).map((d) => d?.attempt);
  assert.deepEqual(await attemptsOn(a), [1], "order A stopped at its failed event: nothing after it went out");
  assert.deepEqual(await attemptsOn(b), [1, 2], "order B was not held up");
  assert.deepEqual(await attemptsOn(c), [1], "order C was not held up");
  const waiting = await pool.query<{ msg_id: string }>("SELECT msg_id FROM outbox WHERE published_at IS NULL ORDER BY id");
  assert.deepEqual(waiting.rows.map((r) => r.msg_id), [`StatusChecked:${a}:2`, `StatusChecked:${a}:3`], "only A's failed event and the one after it wait");

  assert.equal(await relay.drain(), 2);
  assert.deepEqual(await attemptsOn(a), [1, 2, 3], "A's events are on the stream in their order");
  assert.equal((await pool.query("SELECT count(*)::int AS n FROM outbox WHERE published_at IS NULL")).rows[0].n, 0);
});

test("ensureOutbox where the outbox is already current takes no table lock: a relay mid-batch is not deadlocked by a replica starting", async () => {
  const relay = await pool.connect();
  try {
    // A relay between claiming its batch (row locks) and marking it published.
    await relay.query("BEGIN");
    await relay.query("SELECT id FROM outbox WHERE published_at IS NULL ORDER BY id LIMIT 10 FOR UPDATE SKIP LOCKED");
    const starting = ensureOutbox(pool); // another replica starting
    await new Promise((resolve) => setTimeout(resolve, 300));
    await relay.query("UPDATE outbox SET published_at = now() WHERE false");
    await relay.query("COMMIT");
    await starting;
  } finally {
    relay.release();
  }
});

test("two relays (replicas): an order's later event is not published while another relay holds its earlier one (found by the chaos run)", async () => {
  const x = randomUUID();
  const events = [1, 2].map((n) => checked(x, n));
  await inTransaction(pool, (client) => enqueueEvents(client, events.map((event) => ({ event, msgId: `StatusChecked:${x}:${event.data.attempt}`, once: false }))));
  const attemptsOn = async (orderId: string) => (await readOrderHistory(nc, names, orderId)).map((m) => (m.ok ? (m.event.data as { attempt: number }).attempt : null));
  // Relay A has claimed X's first event and is publishing it (its batch ended there: row lock held).
  const relayA = await pool.connect();
  try {
    await relayA.query("BEGIN");
    await relayA.query("SELECT id FROM outbox WHERE published_at IS NULL AND msg_id = $1 FOR UPDATE", [`StatusChecked:${x}:1`]);
    // Relay B drains meanwhile: SKIP LOCKED hands it X's second event.
    await new OutboxRelay(pool, new EventPublisher(nc, names), logger).drain();
    assert.deepEqual(await attemptsOn(x), [], "B leaves X's second event for after the first");
  } finally {
    await relayA.query("ROLLBACK");
    relayA.release();
  }
  await new OutboxRelay(pool, new EventPublisher(nc, names), logger).drain();
  assert.deepEqual(await attemptsOn(x), [1, 2], "both, in their order");
});
