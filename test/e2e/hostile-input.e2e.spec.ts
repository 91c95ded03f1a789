import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { decodeEvent } from "@pinflow/bus";
import { ErrorBody, type CreateOrderResponse, type OrderView } from "@pinflow/contracts";
import { eventually, seededRandom } from "@pinflow/testkit";
import pg from "pg";
import { describeRequest, hostileRequests, type FuzzCase, type KnownValues } from "../support/hostile-input.js";
import type { ServiceName } from "../support/paths.js";
import { sendRaw, type RawResponse } from "../support/raw-http.js";
import { TestSystem } from "../support/system.js";

/**
 * Thousands of hostile requests (seeded: FUZZ_SEED replays a run, FUZZ_REQUESTS sets how many) on
 * every endpoint of every service while the whole system runs; then: no 5xx, no order or event the
 * API did not answer 201/200 for, no projection gap, every accepted order settles, and a normal
 * order still reaches completed with its PIN.
 */
const SEED = Number(process.env.FUZZ_SEED ?? 20_240_611) >>> 0;
const REQUESTS = Number(process.env.FUZZ_REQUESTS ?? 3000);
const IN_FLIGHT = 8;

/** Documented 5xx answers a hostile request may still get: a provider's balance while its calls are held back or failing. */
function allowedServerError(c: FuzzCase, res: RawResponse): boolean {
  return c.service === "dispatcher" && /^\/v1\/providers\/[^/]+\/balance/.test(c.request.target) && (res.status === 502 || res.status === 503);
}

async function inPool<T, R>(items: readonly T[], width: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!);
      }
    }),
  );
  return out;
}

describe(`hostile input on every endpoint of the running system (FUZZ_SEED=${SEED}, ${REQUESTS} requests)`, () => {
  const quiet = { LOG_LEVEL: "info" };
  const system = new TestSystem({
    znet: { completeAfterMs: 300 },
    env: {
      orders: quiet,
      "status-poller": quiet,
      // Accepted fuzz orders are real orders: let them through quickly (the limits are not under test here).
      dispatcher: { ...quiet, ZNET_RATE_PER_SEC: "500", ZNET_BURST: "500", ZNET_CONCURRENCY: "16" },
    },
  });
  /** Every order id the API answered 201/200 for, in this file. */
  const created = new Set<string>();

  before(async () => {
    await system.start();
  });
  after(async () => {
    await system.stop();
  });

  const port = (service: ServiceName) => system.services[service].port;
  const errorOf = (body: unknown) => (body as ErrorBody).error;

  test("a player id with a NUL answers 400 validation_failed, and orders after it still reach the read side", async () => {
    const res = await system.request("/v1/orders", { method: "POST", body: JSON.stringify({ packageId: "pubg-60", playerId: "a\u0000b" }) });
    assert.equal(res.status, 400, JSON.stringify(res.body));
    assert.equal(errorOf(res.body).code, "validation_failed");
    assert.deepEqual(errorOf(res.body).issues?.map((i) => i.path), ["playerId"]);
    const orderId = await system.createOrder({ packageId: "pubg-60", playerId: "p-after-nul" });
    created.add(orderId);
    assert.equal((await system.getOrder(orderId)).playerId, "p-after-nul", "the projection was not blocked");
  });

  test("a lone surrogate or a control character in the player id or extra answers 400 validation_failed", async () => {
    const bodies = [
      '{"packageId":"pubg-60","playerId":"p1\\ud800x"}',
      '{"packageId":"pubg-60","playerId":"p1\\udfff"}',
      '{"packageId":"pubg-60","playerId":"p1","extra":"\\u0007"}',
      '{"packageId":"pubg-60","playerId":"p1\\u001b[31m"}',
      '{"packageId":"pubg-60","playerId":"p1\\u0085"}',
    ];
    for (const body of bodies) {
      const res = await system.request("/v1/orders", { method: "POST", body });
      assert.equal(res.status, 400, `${body}: ${JSON.stringify(res.body)}`);
      assert.equal(errorOf(res.body).code, "validation_failed", body);
    }
  });

  test("an invalid cursor answers 400 validation_failed naming the cursor", async () => {
    const cursors = ["not-a-cursor", Buffer.from('["not-a-date","x"]').toString("base64url"), Buffer.from('["2024-01-01T00:00:00.000Z","a.b"]').toString("base64url"), Buffer.from("[1,2]").toString("base64url")];
    for (const cursor of cursors) {
      const res = await system.request(`/v1/orders?cursor=${encodeURIComponent(cursor)}`);
      assert.equal(res.status, 400, `${cursor}: ${JSON.stringify(res.body)}`);
      assert.equal(errorOf(res.body).code, "validation_failed");
      assert.deepEqual(errorOf(res.body).issues?.map((i) => i.path), ["cursor"]);
    }
    const page = await system.request("/v1/orders?limit=1");
    const next = (page.body as { nextCursor: string | null }).nextCursor;
    if (next) assert.equal((await system.request(`/v1/orders?limit=1&cursor=${next}`)).status, 200, "a real cursor still pages");
  });

  test("a query-string error says the query string is not valid", async () => {
    for (const query of ["status=lost", "limit=0", "limit=abc", "colour=red", "limit=1&limit=2"]) {
      const res = await system.request(`/v1/orders?${query}`);
      assert.equal(res.status, 400, query);
      assert.equal(errorOf(res.body).code, "validation_failed");
      assert.match(errorOf(res.body).message, /query string/, query);
      assert.doesNotMatch(errorOf(res.body).message, /body/, query);
    }
  });

  test("a JSON body without application/json answers 415 unsupported_media_type naming the content type", async () => {
    const body = JSON.stringify({ packageId: "pubg-60", playerId: "p-415" });
    for (const type of ["text/plain", "application/x-www-form-urlencoded", "application/json; charset=latin1"]) {
      const res = await system.request("/v1/orders", { method: "POST", body, headers: { "content-type": type } });
      assert.equal(res.status, 415, `${type}: ${JSON.stringify(res.body)}`);
      assert.equal(errorOf(res.body).code, "unsupported_media_type");
      assert.ok(errorOf(res.body).message.includes(type.split(";")[0]!), errorOf(res.body).message);
    }
    const untyped = await sendRaw(port("orders"), { method: "POST", target: "/v1/orders", headers: [keyHeader(system.keys.customer)], body: Buffer.from(body) });
    assert.equal(untyped.status, 415);
    assert.match(errorOf(JSON.parse(untyped.body)).message, /Content-Type/);
    assert.deepEqual(system.znet.referencesFor("p-415"), [], "nothing was ordered");
  });

  test("a wrong method answers 405 method_not_allowed with an Allow header, on every service", async () => {
    const cases: [ServiceName, string, string, string][] = [
      ["orders", "DELETE", "/v1/orders", "GET, HEAD, POST"],
      ["orders", "PUT", "/v1/orders/abc", "GET, HEAD"],
      ["orders", "POST", "/v1/packages", "GET, HEAD"],
      ["orders", "POST", "/healthz", "GET, HEAD"],
      ["dispatcher", "GET", "/v1/providers/znet/pause", "POST"],
      ["dispatcher", "DELETE", "/v1/providers", "GET, HEAD"],
      ["status-poller", "GET", "/v1/watches/abc/check-now", "POST"],
      ["status-poller", "PATCH", "/metrics", "GET, HEAD"],
    ];
    for (const [service, method, path, allow] of cases) {
      const res = await fetch(`${system.services[service].url}${path}`, { method });
      const body = (await res.json()) as ErrorBody;
      assert.equal(res.status, 405, `${service} ${method} ${path}`);
      assert.equal(body.error.code, "method_not_allowed");
      assert.equal(res.headers.get("allow"), allow, `${service} ${method} ${path}`);
    }
  });

  test("an unknown route or an undecodable path answers 404/400 in the error shape, on every service", async () => {
    for (const service of ["orders", "dispatcher", "status-poller"] as const) {
      const missing = await system.operatorFetch(`${system.services[service].url}/v2/nothing`);
      assert.equal(missing.status, 404);
      assert.equal(((await missing.json()) as ErrorBody).error.code, "not_found", service);
    }
    for (const [service, path] of [["orders", "/v1/orders/%FF"], ["dispatcher", "/v1/providers/%C3/status"], ["status-poller", "/v1/watches/%ED%A0%80/check-now"]] as const) {
      const res = await sendRaw(port(service), { method: service === "status-poller" ? "POST" : "GET", target: path, headers: [keyHeader(system.keys.operator)], body: Buffer.alloc(0) });
      assert.equal(res.status, 400, `${service} ${path}: ${res.body}`);
      const parsed = ErrorBody.parse(JSON.parse(res.body));
      assert.equal(parsed.error.code, "validation_failed");
    }
  });

  test("a check-now of a settled order answers 409 with a documented code", async () => {
    const orderId = await system.createOrder({ packageId: "pubg-60", playerId: "p-check-settled" });
    created.add(orderId);
    await system.waitForStatus(orderId, "completed");
    const res = await system.call("status-poller", `/v1/watches/${orderId}/check-now`, { method: "POST", body: JSON.stringify({ reason: "e2e: a settled order" }) });
    assert.equal(res.status, 409);
    assert.equal(ErrorBody.parse(res.body).error.code, "watch_closed");
  });


  test("no request gets a 5xx or creates anything half-way; afterwards a normal order completes with its PIN", async (t) => {
    t.diagnostic(`FUZZ_SEED=${SEED} FUZZ_REQUESTS=${REQUESTS} (set them to replay this run)`);
    console.log(`hostile-input fuzz: FUZZ_SEED=${SEED} FUZZ_REQUESTS=${REQUESTS}`);
    for (const playerId of ["p-fuzz-known-1", "p-fuzz-known-2"]) created.add(await system.createOrder({ packageId: "pubg-60", playerId }));
    const packages = (await system.request("/v1/packages")).body as { packages: { id: string }[] };
    const known: KnownValues = {
      orderIds: [...created],
      providers: ["znet", "xstor", "ZNET", "znet ", "x-stor"],
      packageIds: packages.packages.map((p) => p.id),
      idempotencyKeys: ["fuzz-key-1", "fuzz-key-2", "fuzz-key-3"],
    };
    const cases = hostileRequests(seededRandom(SEED), REQUESTS, known);

    const problems: string[] = [];
    const statuses = new Map<number, number>();
    await inPool(cases, IN_FLIGHT, async (c) => {
      let res: RawResponse;
      try {
        // Every fuzz request carries a valid key (the access test covers requests without one): customer on orders, operator elsewhere.
        const key = c.service === "orders" ? system.keys.customer : system.keys.operator;
        res = await sendRaw(port(c.service), { ...c.request, headers: [keyHeader(key), ...c.request.headers] });
      } catch (error) {
        problems.push(`${(error as Error).message}: ${describeRequest(c)}`);
        return;
      }
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      if (res.status === 0) problems.push(`no HTTP answer: ${describeRequest(c)}`);
      if (res.status >= 500 && !allowedServerError(c, res)) problems.push(`${res.status} ${res.body.slice(0, 300)}: ${describeRequest(c)}`);
      const json = /application\/json/.test(res.headers["content-type"] ?? "") ? safeJson(res.body) : undefined;
      if (res.status >= 400 && json !== undefined && !ErrorBody.safeParse(json).success) {
        problems.push(`${res.status} without the error shape ${res.body.slice(0, 200)}: ${describeRequest(c)}`);
      }
      // A stream token (POST …/stream-token, 200) creates nothing; every other successful POST on orders creates or finds an order.
      const streamToken = /\/stream-token\/?(?:\?|$)/.test(c.request.target);
      if (c.service === "orders" && c.request.method === "POST" && (res.status === 201 || res.status === 200) && !streamToken) {
        const orderId = (json as Partial<CreateOrderResponse> | undefined)?.orderId;
        if (typeof orderId === "string") created.add(orderId);
        else problems.push(`${res.status} without an order id ${res.body.slice(0, 200)}: ${describeRequest(c)}`);
      }
    });
    t.diagnostic(`answers by status: ${JSON.stringify(Object.fromEntries([...statuses].sort((a, b) => a[0] - b[0])))}; orders created: ${created.size}`);
    // Server errors and lost answers first: they matter most.
    problems.sort((a, b) => rank(a) - rank(b));
    assert.deepEqual(problems.slice(0, 25), [], `FUZZ_SEED=${SEED}: ${problems.length} bad answers (first 25 shown)`);

    // The fuzz may have paused a provider; an operator resumes it.
    for (const service of ["dispatcher", "status-poller"] as const) {
      for (const provider of ["znet"]) {
        const res = await system.operatorFetch(`${system.services[service].url}/v1/providers/${provider}/resume`, { method: "POST" });
        assert.equal(res.status, 200, `${service} resumes ${provider}`);
      }
    }

    const orderId = await system.createOrder({ packageId: "pubg-60", playerId: "p-after-fuzz" });
    created.add(orderId);
    const order = await system.waitForStatus(orderId, "completed", 30_000);
    const [reference] = system.znet.referencesFor("p-after-fuzz");
    assert.ok(order.pin && reference, "the order has its PIN");
    assert.equal(order.pin, system.znet.order(reference)!.pin);

    // Every accepted order goes somewhere: none is left pending or processing.
    const settled = new Set(["completed", "failed", "review"]);
    await eventually(async () => {
      for (const id of created) {
        const view = await system.getOrder(id);
        assert.ok(settled.has(view.status), `order ${id} (${JSON.stringify(view.playerId).slice(0, 60)}) is still ${view.status}`);
      }
    }, 60_000, 500);
  });

  test("the stream holds exactly the accepted orders, every event is well-formed, and the projection has no gap", async () => {
    const nc = await system.connectNats("admin", "e2e-fuzz-audit");
    const db = new pg.Client({ connectionString: system.databases.orders.url });
    await db.connect();
    try {
      const jsm = await jetstreamManager(nc);
      const lastSeq = (await jsm.streams.info(system.names.stream)).state.last_seq;
      const consumer = await jetstream(nc).consumers.get(system.names.stream);
      const messages = await consumer.consume();
      const createdOnStream = new Set<string>();
      const malformed: string[] = [];
      let count = 0;
      for await (const msg of messages) {
        count++;
        const decoded = decodeEvent(msg.data, msg.subject);
        if (!decoded.ok) malformed.push(`${msg.seq} ${msg.subject}: ${decoded.reason}`);
        else if (decoded.event.type === "OrderCreated") createdOnStream.add(decoded.event.orderId);
        if (msg.seq >= lastSeq) break;
      }
      await messages.close();
      assert.deepEqual(malformed, [], "every event on the stream is well-formed");
      assert.deepEqual([...createdOnStream].sort(), [...created].sort(), "an OrderCreated for every accepted order and for nothing else");

      await eventually(async () => {
        const checkpoint = await db.query<{ last_seq: string }>("SELECT last_seq FROM projection_checkpoint WHERE name = 'order_view'");
        assert.equal(Number(checkpoint.rows[0]?.last_seq), lastSeq, "the orders projection has applied the whole stream");
      }, 20_000, 200);
      const views = await db.query<{ order_id: string }>("SELECT order_id FROM order_view");
      assert.deepEqual(views.rows.map((r) => r.order_id).sort(), [...created].sort(), "a view row for every accepted order and for nothing else");
      const timeline = await db.query<{ n: string }>("SELECT count(*) AS n FROM order_timeline WHERE seq <= $1", [lastSeq]);
      assert.equal(Number(timeline.rows[0]!.n), count, "a timeline row for every event");
      const orphans = await db.query("SELECT key FROM idempotency_key k WHERE NOT EXISTS (SELECT 1 FROM order_view v WHERE v.order_id = k.order_id)");
      assert.equal(orphans.rowCount, 0, "no Idempotency-Key is bound to an order that was never created");
    } finally {
      await db.end();
      await nc.close();
    }
  });

  test("every service is still up and ready", async () => {
    for (const service of Object.values(system.services)) {
      assert.ok(service.running, `${service.name} is running`);
      const res = await fetch(`${service.url}/readyz`);
      assert.equal(res.status, 200, `${service.name} is ready`);
    }
    const list = await system.request("/v1/orders?limit=5");
    assert.equal(list.status, 200);
    assert.ok((list.body as { orders: OrderView[] }).orders.length > 0);
  });
});

function keyHeader(token: string): readonly [string, Buffer] {
  return ["Authorization", Buffer.from(`Bearer ${token}`, "latin1")];
}

function rank(problem: string): number {
  return /^(5\d\d|no )/.test(problem) ? 0 : 1;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
