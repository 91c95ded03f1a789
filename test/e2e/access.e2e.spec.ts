import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { promisify } from "node:util";
import { jetstreamManager } from "@nats-io/jetstream";
import { ErrorBody, type OrderView } from "@pinflow/contracts";
import { eventually } from "@pinflow/testkit";
import pg from "pg";
import { adminCli } from "../support/paths.js";
import type { ServiceName } from "../support/paths.js";
import { OTHER_TENANT, TENANT, TestSystem, XSTOR_TOKEN, ZNET_PASSWORD } from "../support/system.js";

const run = promisify(execFile);
const player = (prefix = "p") => `${prefix}${randomUUID().replace(/-/g, "").slice(0, 12)}`;

/** Every endpoint of every service (health, readiness and metrics are open on purpose: see README "Access"). */
interface Endpoint {
  service: ServiceName;
  method: "GET" | "POST";
  path: (ids: { own: string; other: string }) => string;
  body?: unknown;
  /** Who may call it: customer (orders of its tenant), operator, or an operator of every tenant. */
  who: "customer" | "customer+operator" | "operator" | "all-tenant operator";
  /** Takes an order id (another tenant's id answers 404). */
  order?: boolean;
}

const ENDPOINTS: Endpoint[] = [
  { service: "orders", method: "POST", path: () => "/v1/orders", body: { packageId: "pubg-60", playerId: "p-refused" }, who: "customer" },
  { service: "orders", method: "GET", path: () => "/v1/orders", who: "customer+operator" },
  { service: "orders", method: "GET", path: (i) => `/v1/orders/${i.own}`, who: "customer+operator", order: true },
  { service: "orders", method: "GET", path: (i) => `/v1/orders/${i.own}/events`, who: "customer+operator", order: true },
  { service: "orders", method: "GET", path: () => "/v1/packages", who: "customer+operator" },
  { service: "orders", method: "GET", path: () => "/v1/review", who: "operator" },
  { service: "orders", method: "POST", path: (i) => `/v1/orders/${i.own}/complete`, body: { pin: "AAAA-BBBB-CCCC-DDDD", reason: "refused" }, who: "operator", order: true },
  { service: "orders", method: "POST", path: (i) => `/v1/orders/${i.own}/fail`, body: { reasonCode: "operator_failed", reason: "refused" }, who: "operator", order: true },
  { service: "orders", method: "GET", path: () => "/v1/dead-letters", who: "all-tenant operator" },
  { service: "dispatcher", method: "GET", path: () => "/v1/providers", who: "all-tenant operator" },
  { service: "dispatcher", method: "GET", path: () => "/v1/providers/znet/balance", who: "all-tenant operator" },
  { service: "dispatcher", method: "GET", path: () => "/v1/providers/znet/status", who: "all-tenant operator" },
  { service: "dispatcher", method: "POST", path: () => "/v1/providers/znet/pause", who: "all-tenant operator" },
  { service: "dispatcher", method: "POST", path: () => "/v1/providers/znet/resume", who: "all-tenant operator" },
  { service: "dispatcher", method: "GET", path: () => "/v1/dead-letters", who: "all-tenant operator" },
  { service: "dispatcher", method: "GET", path: (i) => `/v1/orders/${i.own}/dispatch-again`, who: "operator", order: true },
  { service: "dispatcher", method: "POST", path: (i) => `/v1/orders/${i.own}/dispatch-again`, body: { reason: "refused" }, who: "operator", order: true },
  { service: "status-poller", method: "POST", path: (i) => `/v1/watches/${i.own}/check-now`, body: { reason: "refused" }, who: "operator", order: true },
  { service: "status-poller", method: "GET", path: () => "/v1/providers/znet", who: "all-tenant operator" },
  { service: "status-poller", method: "POST", path: () => "/v1/providers/znet/pause", who: "all-tenant operator" },
  { service: "status-poller", method: "POST", path: () => "/v1/providers/znet/resume", who: "all-tenant operator" },
  { service: "status-poller", method: "GET", path: () => "/v1/dead-letters", who: "all-tenant operator" },
];

describe("access: every endpoint needs a valid key of the right role and tenant (I8)", () => {
  // Many refusals from one client in this file: the throttle is tested on its own at the end.
  const lenient = { AUTH_MAX_FAILURES: "100000" };
  const system = new TestSystem({ env: { orders: lenient, dispatcher: lenient, "status-poller": lenient } });
  /** A completed order of TENANT (with its PIN) and one of OTHER_TENANT. */
  let own: OrderView;
  let other: OrderView;
  /** Tokens made in this file (revoked, rotated away): none may appear in a log either. */
  const extraTokens: string[] = [];
  let db: pg.Pool;

  const ids = () => ({ own: own.orderId, other: other.orderId });
  const send = (e: Endpoint, key: string | null, orderId?: string) =>
    system.call(e.service, orderId && e.order ? e.path({ own: orderId, other: orderId }) : e.path(ids()), { method: e.method, ...(e.body ? { body: JSON.stringify(e.body) } : {}) }, key);
  const admin = async (...args: string[]) => {
    const out = await run(process.execPath, [adminCli(), ...args], { env: { PATH: process.env.PATH ?? "", DATABASE_URL: system.databases.orders.url } });
    return JSON.parse(out.stdout) as Record<string, unknown>;
  };

  /** What a refused request must not change: the stream, the orders, the providers' pause state. */
  async function snapshot(): Promise<string> {
    const nc = await system.connectNats("admin", "e2e-access-snapshot");
    try {
      const lastSeq = (await (await jetstreamManager(nc)).streams.info(system.names.stream)).state.last_seq;
      const orders = (await db.query("SELECT order_id, status, updated_at FROM order_view ORDER BY order_id")).rows;
      const decisions = (await db.query("SELECT count(*) AS n FROM operator_decision")).rows;
      const providers = (await system.call("dispatcher", "/v1/providers")).body;
      const poller = (await system.call("status-poller", "/v1/providers/znet")).body as { paused: boolean };
      return JSON.stringify({ lastSeq, orders, decisions, providers, pollerPaused: poller.paused });
    } finally {
      await nc.close();
    }
  }

  before(async () => {
    await system.start();
    db = new pg.Pool({ connectionString: system.databases.orders.url, max: 2 });
    const ownId = await system.createOrder({ packageId: "pubg-60", playerId: player() });
    const otherRes = await system.call("orders", "/v1/orders", { method: "POST", body: JSON.stringify({ packageId: "pubg-60", playerId: player() }) }, system.keys.otherCustomer);
    assert.equal(otherRes.status, 201, JSON.stringify(otherRes.body));
    own = await system.waitForStatus(ownId, "completed");
    const otherId = (otherRes.body as { orderId: string }).orderId;
    other = await eventually(async () => {
      const res = await system.call("orders", `/v1/orders/${otherId}`, {}, system.keys.otherCustomer);
      assert.equal((res.body as OrderView).status, "completed");
      return res.body as OrderView;
    }, 20_000, 100);
    assert.ok(own.pin && other.pin, "the owners read their PINs");
  });
  after(async () => {
    await db?.end();
    await system.stop();
  });

  test("without a key, or with a malformed or unknown one, every endpoint answers 401 unauthenticated and nothing changes", async () => {
    const before = await snapshot();
    const unknown = `pf_0123456789ab_${"x".repeat(43)}`;
    for (const e of ENDPOINTS) {
      for (const key of [null, "", "not-a-key", unknown]) {
        const res = await send(e, key);
        const what = `${e.service} ${e.method} ${e.path(ids())} with ${key === null ? "no key" : JSON.stringify(key.slice(0, 12))}`;
        assert.equal(res.status, 401, `${what}: ${JSON.stringify(res.body)}`);
        assert.equal(ErrorBody.parse(res.body).error.code, "unauthenticated", what);
        assert.match(res.headers.get("www-authenticate") ?? "", /^Bearer/, what);
      }
    }
    assert.equal(await snapshot(), before, "nothing changed");
    for (const service of Object.values(system.services)) {
      for (const open of ["/healthz", "/readyz", "/metrics"]) assert.equal((await fetch(`${service.url}${open}`)).status, 200, `${service.name} ${open} stays open`);
    }
  });

  test("a revoked key, and a rotated-away key, are refused everywhere (401); the rotated key works", async () => {
    const issued = await admin("key", "issue", "--role", "operator", "--label", "to revoke");
    const revoked = issued["token"] as string;
    extraTokens.push(revoked);
    assert.equal((await system.call("dispatcher", "/v1/providers", {}, revoked)).status, 200, "valid before it is revoked");
    assert.deepEqual(await admin("key", "revoke", issued["keyId"] as string), { revoked: issued["keyId"] });

    const customer = await admin("key", "issue", "--role", "customer", "--tenant", TENANT);
    extraTokens.push(customer["token"] as string);
    const rotated = await admin("key", "rotate", customer["keyId"] as string);
    extraTokens.push(rotated["token"] as string);

    const before = await snapshot();
    for (const e of ENDPOINTS) {
      for (const key of [revoked, customer["token"] as string]) {
        const res = await send(e, key);
        assert.equal(res.status, 401, `${e.service} ${e.method} ${e.path(ids())}: ${JSON.stringify(res.body)}`);
        assert.equal(ErrorBody.parse(res.body).error.code, "unauthenticated");
      }
    }
    assert.equal(await snapshot(), before, "nothing changed");
    const read = await system.call("orders", `/v1/orders/${own.orderId}`, {}, rotated["token"] as string);
    assert.equal(read.status, 200, "the rotated key reads its tenant's order");
    assert.equal((read.body as OrderView).pin, own.pin);
    const listed = (await admin("key", "list", "--tenant", TENANT))["keys"] as { keyId: string; revokedAt: string | null; replacedBy: string | null }[];
    assert.equal(listed.find((k) => k.keyId === customer["keyId"])?.replacedBy, rotated["keyId"]);
    assert.ok(!JSON.stringify(listed).includes("pf_"), "a key list never shows a token");
  });

  test("a customer key on operator endpoints, an admin key anywhere, a one-tenant operator on controls of every tenant: 403 forbidden, nothing changes", async () => {
    const before = await snapshot();
    const forbidden: [Endpoint, string, string][] = [];
    for (const e of ENDPOINTS) {
      if (e.who === "operator" || e.who === "all-tenant operator") forbidden.push([e, system.keys.customer, "customer"]);
      if (e.who === "customer") forbidden.push([e, system.keys.operator, "operator"]);
      if (e.who === "all-tenant operator") forbidden.push([e, system.keys.otherOperator, "one-tenant operator"]);
      forbidden.push([e, system.keys.admin, "admin"]);
    }
    for (const [e, key, who] of forbidden) {
      const res = await send(e, key);
      const what = `${who} on ${e.service} ${e.method} ${e.path(ids())}`;
      assert.equal(res.status, 403, `${what}: ${JSON.stringify(res.body)}`);
      assert.equal(ErrorBody.parse(res.body).error.code, "forbidden", what);
    }
    assert.equal(await snapshot(), before, "nothing changed");
  });

  test("another tenant's order answers 404 exactly like a missing one, to its customer and its operator; lists show only one's own", async () => {
    const before = await snapshot();
    const missing = `o-${randomUUID()}`;
    for (const e of ENDPOINTS.filter((x) => x.order)) {
      const key = e.who === "operator" ? system.keys.otherOperator : system.keys.otherCustomer;
      const foreign = await send(e, key, own.orderId);
      const absent = await send(e, key, missing);
      const what = `${e.service} ${e.method} ${e.path({ own: "<acme order>", other: "" })} by ${OTHER_TENANT}`;
      assert.equal(foreign.status, 404, `${what}: ${JSON.stringify(foreign.body)}`);
      assert.deepEqual(foreign.body, absent.body, `${what}: the same answer as a missing order`);
      assert.equal(ErrorBody.parse(foreign.body).error.code, "not_found");
    }
    const theirs = (await system.call("orders", "/v1/orders?limit=200", {}, system.keys.otherCustomer)).body as { orders: OrderView[] };
    assert.deepEqual(theirs.orders.map((o) => o.orderId), [other.orderId]);
    const asTenant = await system.call("orders", `/v1/orders?tenant=${TENANT}`, {}, system.keys.otherCustomer);
    assert.equal(asTenant.status, 403, "a customer cannot ask for another tenant's list");
    assert.equal(await snapshot(), before, "nothing changed");

    // The same Idempotency-Key in two tenants makes two orders: keys belong to their tenant.
    const body = JSON.stringify({ packageId: "pubg-60", playerId: "p-same-key" });
    const a = await system.call("orders", "/v1/orders", { method: "POST", body, headers: { "idempotency-key": "shared-key-1" } }, system.keys.customer);
    const b = await system.call("orders", "/v1/orders", { method: "POST", body, headers: { "idempotency-key": "shared-key-1" } }, system.keys.otherCustomer);
    assert.equal(a.status, 201);
    assert.equal(b.status, 201, "not the other tenant's order");
    assert.notEqual((a.body as { orderId: string }).orderId, (b.body as { orderId: string }).orderId);
  });

  test("lists never carry PINs; only the owner's read of one completed order does (an operator's does not)", async () => {
    for (const key of [system.keys.customer, system.keys.operator]) {
      const list = await system.call("orders", "/v1/orders?status=completed&limit=200", {}, key);
      assert.equal(list.status, 200);
      const orders = (list.body as { orders: OrderView[] }).orders;
      assert.ok(orders.some((o) => o.orderId === own.orderId), "the completed order is listed");
      assert.deepEqual(orders.filter((o) => o.pin !== null).map((o) => o.orderId), [], "no PIN in a list");
      assert.ok(!JSON.stringify(list.body).includes(own.pin!));
    }
    assert.equal((await system.getOrder(own.orderId)).pin, own.pin, "the owner reads it");
    const asOperator = await system.call("orders", `/v1/orders/${own.orderId}`);
    assert.equal(asOperator.status, 200);
    assert.equal((asOperator.body as OrderView).pin, null, "an operator reads the order, not its PIN");
  });

  test("the tenant is on every event of the order", async () => {
    const nc = await system.connectNats("admin", "e2e-access-tenant");
    try {
      const jsm = await jetstreamManager(nc);
      for (const [order, tenant] of [[own, TENANT], [other, OTHER_TENANT]] as const) {
        const types = ["OrderCreated", "PlacementStarted", "PlacementAnswered", "OrderSent", "StatusChecked", "PinReceived"] as const;
        for (const type of types) {
          const msg = await jsm.streams.getMessage(system.names.stream, { last_by_subj: system.names.orderEvent(order.orderId, type) });
          assert.ok(msg, `${type} of ${order.orderId}`);
          assert.equal((JSON.parse(new TextDecoder().decode(msg.data)) as { tenantId?: string }).tenantId, tenant, `${type} carries ${tenant}`);
        }
      }
    } finally {
      await nc.close();
    }
  });

  test("failed authentications are throttled per client (429 too_many_requests), counted, and logged with the key id, never the key", async () => {
    const orders = system.services.orders;
    orders.env["AUTH_MAX_FAILURES"] = "3";
    await system.restart("orders");
    const wrong = `pf_${system.keys.ids.customer}_${"W".repeat(43)}`;
    for (let i = 0; i < 3; i++) assert.equal((await system.call("orders", "/v1/packages", {}, wrong)).status, 401);
    const throttled = await system.call("orders", "/v1/packages", {}, system.keys.customer);
    assert.equal(throttled.status, 429, "even a good key, from a throttled client");
    assert.equal(ErrorBody.parse(throttled.body).error.code, "too_many_requests");
    assert.ok(Number(throttled.headers.get("retry-after")) > 0);
    const metrics = await (await fetch(`${orders.url}/metrics`)).text();
    assert.match(metrics, /pinflow_auth_failures_total\{reason="wrong_secret"[^}]*\} 3/);
    assert.match(metrics, /pinflow_auth_failures_total\{reason="throttled"[^}]*\} 1/);
    await eventually(() => assert.match(orders.readLog(), new RegExp(`"reason":"wrong_secret","keyId":"${system.keys.ids.customer}"`)), 5000);
    assert.ok(!orders.readLog().includes(wrong), "the presented key is not logged");
    // Put the lenient limit back (a fresh process: the throttle is per process, in memory).
    orders.env["AUTH_MAX_FAILURES"] = lenient.AUTH_MAX_FAILURES;
    await system.restart("orders");
  });

  test("no API key, provider password or token appears in any log of the run", () => {
    const logs = system.allLogs();
    assert.ok(logs.includes("authentication refused"), "the refusals were logged");
    for (const secret of [...system.allTokens(), ...extraTokens, ZNET_PASSWORD, XSTOR_TOKEN]) {
      assert.ok(!logs.includes(secret), `a secret (${secret.slice(0, 15)}…) is in the logs`);
      // Nor its secret part alone (after `pf_<keyId>_`; base64url may itself hold "_").
      if (secret.startsWith("pf_")) assert.ok(!logs.includes(secret.slice("pf_0123456789ab_".length)), "a key's secret part is in the logs");
    }
  });
});
