import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import pg from "pg";
import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { EventPublisher, makeEvent } from "@pinflow/bus";
import type { EventOf } from "@pinflow/contracts";
import { eventually } from "@pinflow/testkit";
import { TestSystem } from "../support/system.js";

/**
 * Two dispatcher processes on the same database and the same durable consumer. Every OrderCreated is
 * on the stream TWICE (a real second delivery: another msgID), so both replicas race for the same
 * orders; one replica is also SIGKILLed and restarted mid-run. znet must see exactly one placement
 * per order and the stream exactly one OrderSent per order.
 */
const ORDERS = 500;
const PACKAGES = ["pubg-60", "pubg-325", "freefire-100"];

describe(`two dispatcher replicas, ${ORDERS} orders, each delivered twice`, () => {
  const quiet = { LOG_LEVEL: "info" };
  const system = new TestSystem({
    znet: { completeAfterMs: 200 },
    env: {
      orders: quiet,
      "status-poller": quiet,
      dispatcher: {
        ...quiet,
        // The simulator answers at once; the shared limits must not be what this test measures.
        ZNET_RATE_PER_SEC: "5000",
        ZNET_BURST: "5000",
        ZNET_CONCURRENCY: "16",
        CONSUMER_BATCH: "10",
      },
    },
  });
  let nc: NatsConnection;

  before(async () => {
    await system.start();
    await system.addDispatcherReplica();
    nc = await system.connectNats("admin", "e2e-replicas");
  });
  after(async () => {
    await nc?.close();
    await system.stop();
  });

  test("every order is placed exactly once and sent exactly once", async (t) => {
    const orders: EventOf<"OrderCreated">[] = Array.from({ length: ORDERS }, (_, i) => {
      const orderId = `r-${randomUUID()}`;
      const playerId = `rp${i}x${randomUUID().replace(/-/g, "").slice(0, 8)}`;
      return makeEvent("OrderCreated", { orderId, correlationId: orderId, causationId: null }, { packageId: PACKAGES[i % PACKAGES.length]!, playerId, extra: null });
    });
    const publisher = new EventPublisher(nc, system.names);
    for (let i = 0; i < orders.length; i += 50) {
      const chunk = orders.slice(i, i + 50);
      await Promise.all(chunk.map((o) => publisher.publish(o)));
      // The same fact stored again under another msgID: a second delivery the replicas may race on.
      await Promise.all(chunk.map((o) => publisher.publish(o, { msgId: `again:${o.orderId}` })));
    }

    const jsm = await jetstreamManager(nc);
    const sentSubjects = async (): Promise<Record<string, number>> =>
      (await jsm.streams.info(system.names.stream, { subjects_filter: system.names.eventType("OrderSent") })).state.subjects ?? {};

    // A replica dies mid-run (calls in flight) and comes back.
    await eventually(async () => assert.ok(Object.keys(await sentSubjects()).length >= ORDERS / 4), 120_000, 100);
    const replica = system.replicas[0]!;
    await replica.kill("SIGKILL");
    replica.start();
    await replica.waitReady();

    const sent = await eventually(async () => {
      const subjects = await sentSubjects();
      assert.equal(Object.keys(subjects).length, ORDERS, `${Object.keys(subjects).length} of ${ORDERS} sent`);
      return subjects;
    }, 240_000, 250);
    assert.ok(Object.values(sent).every((n) => n === 1), "exactly one OrderSent per order");

    let placements = 0;
    let placeCalls = 0;
    for (const order of orders) {
      const refs = system.znet.referencesFor(order.data.playerId);
      assert.equal(refs.length, 1, `order ${order.orderId} has one znet order`);
      assert.equal(system.znet.placements(refs[0]!), 1, `order ${order.orderId} was placed once`);
      placements += system.znet.placements(refs[0]!);
      placeCalls += system.znet.placeCalls(refs[0]!);
    }
    assert.equal(placements, ORDERS);
    assert.equal(system.znet.placedReferences().length, ORDERS, "no other reference ever reached znet");

    const db = new pg.Pool({ connectionString: system.databases.dispatcher.url, max: 1 });
    try {
      const states = await db.query<{ state: string; n: string }>("SELECT state, count(*) AS n FROM dispatch GROUP BY state");
      assert.deepEqual(states.rows.map((r) => [r.state, Number(r.n)]), [["sent", ORDERS]]);
      const refs = await db.query<{ n: string }>("SELECT count(*) AS n FROM dispatch_reference");
      assert.equal(Number(refs.rows[0]?.n), ORDERS, "one attempt (one reference) per order");
    } finally {
      await db.end();
    }

    const accepted = (log: string) => log.split("\n").filter((l) => l.includes("order accepted; OrderSent")).length;
    const first = accepted(system.services.dispatcher.readLog());
    const second = accepted(replica.readLog());
    assert.ok(first > 0 && second > 0, `both replicas placed orders (${first} + ${second})`);
    t.diagnostic(`${ORDERS} orders (${2 * ORDERS} deliveries): ${placements} placements, ${placeCalls} place requests; replica 1 placed ${first}, replica 2 ${second} (killed and restarted once)`);
  });
});
