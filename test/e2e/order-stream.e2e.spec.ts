import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import type { OrderView } from "@pinflow/contracts";
import { eventually } from "@pinflow/testkit";
import { SseStream, type SseMessage } from "../support/sse-client.js";
import type { ServiceProcess } from "../support/service-process.js";
import { TENANT, TestSystem } from "../support/system.js";
import { PgKeyStore } from "@pinflow/auth";
import pg from "pg";

const player = (prefix: string) => `${prefix}${randomUUID().replace(/-/g, "").slice(0, 12)}`;
type StreamedOrder = OrderView & { version: number };
const order = (m: SseMessage): StreamedOrder => JSON.parse(m.data) as StreamedOrder;
const MAX_STREAMS = 3;

/** The owner's live stream of an order (issue 11 part 1), through two orders replicas. */
describe("live order stream (Server-Sent Events)", () => {
  const system = new TestSystem({
    env: {
      orders: { STREAM_MAX_PER_KEY: String(MAX_STREAMS) },
      "status-poller": { MAX_UNCLEAR_IN_ROW: "2", BREAKER_THRESHOLD: "1000" },
    },
  });
  let second: ServiceProcess;
  const open: SseStream[] = [];

  before(async () => {
    await system.start();
    second = await system.addReplica("orders");
  });
  after(async () => {
    for (const s of open) s.close();
    await system.stop();
  });

  async function tokenFor(orderId: string, key = system.keys.customer): Promise<{ status: number; body: { token: string; streamUrl: string; pageUrl: string } }> {
    const res = await system.call("orders", `/v1/orders/${orderId}/stream-token`, { method: "POST" }, key);
    return res as { status: number; body: { token: string; streamUrl: string; pageUrl: string } };
  }

  async function stream(url: string, headers: Record<string, string> = {}): Promise<SseStream> {
    const s = await SseStream.open(url, headers);
    open.push(s);
    return s;
  }

  /** Events until the order reaches `status`. */
  async function until(s: SseStream, status: OrderView["status"]): Promise<StreamedOrder[]> {
    const seen: StreamedOrder[] = [];
    for (;;) {
      const o = order(await s.nextEvent(30_000));
      seen.push(o);
      if (o.status === status) return seen;
    }
  }

  async function reviewOrder(): Promise<string> {
    const playerId = player("rv");
    system.znet.addRule({ playerId, checkFault: "garbage", completeAfterMs: 0 });
    const orderId = await system.createOrder({ packageId: "pubg-60", playerId });
    await system.waitForStatus(orderId, "review");
    return orderId;
  }

  test("a stream opened on the other replica (token, no key) follows the order to its PIN; each event's id is its growing version", async () => {
    const playerId = player("st");
    system.znet.addRule({ playerId, completeAfterMs: 1500 });
    const orderId = await system.createOrder({ packageId: "pubg-60", playerId });
    const { status, body } = await tokenFor(orderId);
    assert.equal(status, 200);
    assert.match(body.pageUrl, new RegExp(`^/orders/${orderId}#token=st1\\.`));
    // Replica 2 never saw the order's HTTP request: it learns every change from its projection of the stream.
    const s = await stream(`${second.url}${body.streamUrl}`);
    assert.equal(s.status, 200);
    const seen = await until(s, "completed");
    const done = seen.at(-1)!;
    assert.equal(typeof done.pin, "string");
    assert.ok(done.pin!.length > 0);
    assert.equal(done.pin, (await system.getOrder(orderId)).pin, "the PIN the owner reads");
    const versions = seen.map((o) => o.version);
    assert.deepEqual(versions, [...versions].sort((a, b) => a - b));
    assert.equal(new Set(versions).size, versions.length, "each event a new version");
    assert.ok(seen.length >= 2, `saw the order before it completed (${seen.map((o) => o.status).join(" → ")})`);
  });

  test("resume with Last-Event-ID: the client gets only what is newer than its version", async () => {
    const orderId = await reviewOrder();
    const first = await stream(`${system.services.orders.url}/v1/orders/${orderId}/stream`, { authorization: `Bearer ${system.keys.customer}` });
    const inReview = order(await first.nextEvent());
    assert.equal(inReview.status, "review");
    assert.equal(inReview.pin, null);
    first.close();

    // A reconnect that already has the review state: the first event it gets is the next change.
    const resumed = await stream(`${second.url}/v1/orders/${orderId}/stream`, { authorization: `Bearer ${system.keys.customer}`, "last-event-id": String(inReview.version) });
    const complete = await system.call("orders", `/v1/orders/${orderId}/complete`, { method: "POST", body: JSON.stringify({ pin: "HAND-PIN-42", reason: "read from the provider panel" }) });
    assert.equal(complete.status, 202);
    const next = order(await resumed.nextEvent());
    assert.equal(next.status, "completed");
    assert.equal(next.pin, "HAND-PIN-42");
    assert.ok(next.version > inReview.version);

    // A client with an older version gets the current state at once.
    const behind = await stream(`${system.services.orders.url}/v1/orders/${orderId}/stream`, { authorization: `Bearer ${system.keys.customer}`, "last-event-id": String(inReview.version) });
    const current = order(await behind.nextEvent());
    assert.equal(current.version, next.version);
    assert.equal(current.status, "completed");
  });

  test("only the owner: another tenant's order is 404 like a missing one; operators 403; bad or foreign tokens 401", async () => {
    const orderId = await system.createOrder({ packageId: "pubg-60", playerId: player("ow") });
    const url = (id: string) => `${system.services.orders.url}/v1/orders/${id}/stream`;
    const other = await stream(url(orderId), { authorization: `Bearer ${system.keys.otherCustomer}` });
    const missing = await stream(url("ord_doesnotexist0000000000"), { authorization: `Bearer ${system.keys.otherCustomer}` });
    assert.equal(other.status, 404);
    assert.equal(missing.status, 404);
    assert.deepEqual(JSON.parse(other.errorBody), JSON.parse(missing.errorBody));
    assert.equal((await tokenFor(orderId, system.keys.otherCustomer)).status, 404);
    assert.equal((await stream(url(orderId), { authorization: `Bearer ${system.keys.operator}` })).status, 403);
    assert.equal((await stream(url(orderId))).status, 401, "no key, no token");
    assert.equal((await stream(`${url(orderId)}?token=st1.bm9wZQ.bm9wZQ`)).status, 401, "a forged token");
    const otherOrder = await system.createOrder({ packageId: "pubg-60", playerId: player("ow") });
    const { body } = await tokenFor(otherOrder);
    const foreign = await stream(`${url(orderId)}?token=${body.token}`);
    assert.equal(foreign.status, 401, "a token of another order");
    assert.equal(JSON.parse(foreign.errorBody).error.code, "unauthenticated");
    assert.ok(!system.allLogs().includes(body.token), "stream tokens are never logged");
  });

  test(`at most ${MAX_STREAMS} open streams per key on a replica: the next is 429 too_many_streams until one closes`, async () => {
    // A key of its own, so the streams the other tests left open do not count.
    const pool = new pg.Pool({ connectionString: system.databases.orders.url, max: 1 });
    const key = await new PgKeyStore(pool).issue({ role: "customer", tenantId: TENANT, label: "stream bound" }).finally(() => pool.end());
    const created = await system.call("orders", "/v1/orders", { method: "POST", body: JSON.stringify({ packageId: "pubg-60", playerId: player("cap") }) }, key.token);
    const orderId = (created.body as { orderId: string }).orderId;
    const { body } = await tokenFor(orderId, key.token);
    const url = `${system.services.orders.url}${body.streamUrl}`;
    const streams: SseStream[] = [];
    for (let i = 0; i < MAX_STREAMS; i++) {
      const s = await stream(url);
      assert.equal(s.status, 200);
      await s.nextEvent();
      streams.push(s);
    }
    const refused = await stream(url, {});
    assert.equal(refused.status, 429);
    assert.equal(JSON.parse(refused.errorBody).error.code, "too_many_streams");
    // The key's own Authorization header counts against the same bound.
    assert.equal((await stream(`${system.services.orders.url}/v1/orders/${orderId}/stream`, { authorization: `Bearer ${key.token}` })).status, 429);
    // Another replica counts its own.
    const elsewhere = await stream(`${second.url}${body.streamUrl}`);
    assert.equal(elsewhere.status, 200);
    elsewhere.close();
    streams[0]!.close();
    const again = await eventually(async () => {
      const s = await stream(url);
      if (s.status !== 200) throw new Error(`still ${s.status}`);
      return s;
    }, 10_000, 100);
    assert.equal(order(await again.nextEvent()).orderId, orderId);
    for (const s of streams) s.close();
    again.close();
  });

  test("a replica that is stopped (SIGTERM) ends its open streams and exits; the client reconnects to another with Last-Event-ID", async () => {
    const orderId = await reviewOrder();
    const { body } = await tokenFor(orderId);
    const s = await stream(`${second.url}${body.streamUrl}`);
    const first = order(await s.nextEvent());
    // Without ending its streams the server's close would wait for them forever (a deadline bounds that hang).
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      second.close(),
      new Promise((_, reject) => (timer = setTimeout(() => reject(new Error("the replica did not exit after SIGTERM with a stream open")), 30_000))),
    ]).finally(() => clearTimeout(timer));
    await assert.rejects(s.next(10_000, true).then(async () => s.next(10_000, true)), /the stream ended/);
    const again = await stream(`${system.services.orders.url}${body.streamUrl}`, { "last-event-id": String(first.version) });
    assert.equal(again.status, 200);
    await system.call("orders", `/v1/orders/${orderId}/fail`, { method: "POST", body: JSON.stringify({ reasonCode: "operator_failed", reason: "test" }) });
    const next = order(await again.nextEvent());
    assert.equal(next.status, "failed");
    assert.ok(next.version > first.version);
  });
});
