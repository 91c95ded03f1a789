/**
 * Environments cannot cross (issue 8, point 4): two whole systems in two environments (PINFLOW_ENV)
 * on one nats-server, each with its own databases and provider simulator. Every order completes in
 * its own environment; the other environment's simulator never gets a request for it (no placement,
 * no status check) and the other environment's orders API never shows it. A service whose stream
 * belongs to another environment does not start.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { eventNames, type OrderView } from "@pinflow/contracts";
import { freePort, TestDatabase, TestNatsServer } from "@pinflow/testkit";
import { NatsUsers } from "../support/nats-users.js";
import { ServiceProcess } from "../support/service-process.js";
import { TestSystem } from "../support/system.js";

const ORDERS_PER_ENVIRONMENT = 4;

interface Placed {
  orderId: string;
  playerId: string;
}

async function placeOrders(system: TestSystem, tag: string): Promise<Placed[]> {
  const placed: Placed[] = [];
  for (let i = 0; i < ORDERS_PER_ENVIRONMENT; i++) {
    const playerId = `${tag}${i}x${randomUUID().replace(/-/g, "").slice(0, 10)}`;
    placed.push({ orderId: await system.createOrder({ packageId: "pubg-60", playerId }), playerId });
  }
  return placed;
}

async function listedIds(system: TestSystem): Promise<Set<string>> {
  const ids = new Set<string>();
  let cursor: string | null = null;
  do {
    const res = await system.request(`/v1/orders?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
    assert.equal(res.status, 200);
    const page = res.body as { orders: OrderView[]; nextCursor: string | null };
    for (const o of page.orders) ids.add(o.orderId);
    cursor = page.nextCursor;
  } while (cursor !== null);
  return ids;
}

describe("two environments on one NATS server", () => {
  // One server, one configuration with every environment's users: each system's services connect as
  // their own environment's users, which cannot even name the other environment's stream.
  const users = new NatsUsers(["env-a", "env-b", "env-c"]);
  const nats = new TestNatsServer({ config: users.config() });
  const a = new TestSystem({ nats, natsUsers: users, environment: "env-a" });
  const b = new TestSystem({ nats, natsUsers: users, environment: "env-b" });

  before(async () => {
    await nats.start();
    await Promise.all([a.start(), b.start()]);
  });
  after(async () => {
    await Promise.all([a.stop(), b.stop()]);
    await nats.destroy();
  });

  test("orders created in one are never seen, placed or polled by the other", async () => {
    const [inA, inB] = await Promise.all([placeOrders(a, "ea"), placeOrders(b, "eb")]);
    await Promise.all([...inA.map((o) => a.waitForStatus(o.orderId, "completed")), ...inB.map((o) => b.waitForStatus(o.orderId, "completed"))]);

    const [ncA, ncB] = await Promise.all([a.connectNats("admin", "e2e-environments-a"), b.connectNats("admin", "e2e-environments-b")]);
    try {
      const jsmOf = new Map([
        [a, await jetstreamManager(ncA)],
        [b, await jetstreamManager(ncB)],
      ]);
      for (const [own, other, orders] of [
        [a, b, inA],
        [b, a, inB],
      ] as const) {
        const otherLog = other.znet.requestLog().join("\n");
        const otherListed = await listedIds(other);
        for (const { orderId, playerId } of orders) {
          const [reference] = own.znet.referencesFor(playerId);
          assert.ok(reference, `${own.names.environment}'s simulator placed ${orderId}`);
          assert.equal(own.znet.placements(reference), 1);
          // Never placed nor polled by the other environment: its simulator got no request naming the player or the reference.
          assert.deepEqual(other.znet.referencesFor(playerId), [], `${other.names.environment} placed ${orderId}`);
          assert.ok(!otherLog.includes(playerId), `${other.names.environment}'s simulator got a request for player ${playerId}`);
          assert.ok(!otherLog.includes(reference), `${other.names.environment}'s simulator got a request for reference ${reference}`);
          // Never seen: the other orders API does not know it, and the other stream holds none of its events.
          assert.equal((await other.request(`/v1/orders/${orderId}`)).status, 404, `${other.names.environment} shows ${orderId}`);
          assert.ok(!otherListed.has(orderId), `${other.names.environment} lists ${orderId}`);
          const ownSubjects = (await jsmOf.get(own)!.streams.info(own.names.stream, { subjects_filter: own.names.orderEvents(orderId) })).state.subjects ?? {};
          assert.ok(Object.keys(ownSubjects).length >= 3, `${own.names.stream} holds the order's events`);
          const otherSubjects = (await jsmOf.get(other)!.streams.info(other.names.stream, { subjects_filter: other.names.orderEvents(orderId) })).state.subjects ?? {};
          assert.deepEqual(otherSubjects, {}, `${other.names.stream} holds events of ${orderId}`);
        }
        assert.ok(orders.every((o) => own.znet.referencesFor(o.playerId).length === 1));
      }
      assert.notEqual(a.names.stream, b.names.stream);
    } finally {
      await Promise.all([ncA.close(), ncB.close()]);
    }
  });

  test("a service whose stream belongs to another environment refuses to start", async () => {
    // A stream under env-c's name that records env-a (a hand-made or restored stream): env-c must not use it.
    const intruder = eventNames("env-c");
    const nc = await users.connect(nats.url, intruder.environment, "admin", "e2e-environments-foreign");
    const db = new TestDatabase("env_c_orders");
    await db.create();
    const orders = new ServiceProcess("orders", { ...a.services.orders.env, ...users.env(intruder.environment, "orders"), PINFLOW_ENV: intruder.environment, DATABASE_URL: db.url }, join(a.logDir, "orders-env-c.log"), await freePort());
    try {
      await (await jetstreamManager(nc)).streams.add({ name: intruder.stream, description: a.names.streamDescription, subjects: ["env-c-elsewhere.>"] });
      orders.start();
      await assert.rejects(orders.waitReady(20_000), /exited while starting/);
      assert.match(orders.readLog(), /stream ORDER_EVENTS_ENV-C belongs to environment \\"env-a\\".*refusing to start/);
    } finally {
      await orders.close();
      await nc.close();
      await db.drop();
    }
  });
});
