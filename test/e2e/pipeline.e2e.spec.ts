import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { jetstreamManager } from "@nats-io/jetstream";
import { type ErrorBody, type OrderView } from "@pinflow/contracts";
import { eventually } from "@pinflow/testkit";
import { TestSystem, ZNET_PASSWORD } from "../support/system.js";

const ATTEMPT_FACTS: ReadonlySet<string> = new Set(["PlacementStarted", "PlacementAnswered", "ReconcileAnswered"]);
const player = (prefix = "p") => `${prefix}${randomUUID().replace(/-/g, "").slice(0, 12)}`;

describe("an order flows from the HTTP API to a PIN through all three services", () => {
  const system = new TestSystem();
  const deliveredPins: string[] = [];

  before(async () => {
    await system.start();
  });
  after(async () => {
    await system.stop();
  });

  test("a created order reaches completed with the simulator's PIN, after pending checks are polled again", async () => {
    const playerId = player();
    system.znet.addRule({ playerId, completeAfterMs: 1200 });
    const created = await system.request("/v1/orders", { method: "POST", body: JSON.stringify({ packageId: "pubg-60", playerId }) });
    assert.equal(created.status, 201);
    const { orderId, status } = created.body as { orderId: string; status: string };
    assert.equal(status, "pending");
    assert.equal(created.headers.get("location"), `/v1/orders/${orderId}`);

    const order = await system.waitForStatus(orderId, "completed");
    const [reference] = system.znet.referencesFor(playerId);
    assert.ok(reference, "the simulator received the order");
    assert.equal(order.pin, system.znet.order(reference)!.pin);
    assert.equal(order.provider, "znet");
    assert.equal(order.providerNote, "İşlem tamamlandı");
    assert.equal(system.znet.placements(reference), 1);
    assert.ok(system.znet.checkCalls(reference) >= 2, `state-1 answers were polled again (${system.znet.checkCalls(reference)} checks)`);
    deliveredPins.push(order.pin!);

    const timeline = await system.request(`/v1/orders/${orderId}/events`);
    const events = (timeline.body as { events: { type: string; data: Record<string, unknown> }[] }).events;
    const types = events.map((e) => e.type).filter((t) => !ATTEMPT_FACTS.has(t));
    assert.deepEqual(types.slice(0, 2), ["OrderCreated", "OrderSent"]);
    // The timeline shows the attempt: started before the request, then znet's answer, same reference.
    const attempt = events.filter((e) => ATTEMPT_FACTS.has(e.type));
    assert.deepEqual(
      attempt.map((e) => [e.type, e.data["provider"], e.data["reference"], e.data["placeCall"], e.data["outcome"]]),
      [
        ["PlacementStarted", "znet", reference, 1, undefined],
        ["PlacementAnswered", "znet", reference, 1, "accepted"],
      ],
    );
    assert.equal(types.at(-1), "PinReceived");
    assert.ok(types.filter((t) => t === "StatusChecked").length >= 2);
    assert.ok(!JSON.stringify(timeline.body).includes(order.pin!), "the timeline never shows the PIN");
    assert.ok(!JSON.stringify(timeline.body).includes(ZNET_PASSWORD), "nor a provider secret");
  });

  test("one trace runs from the API's OrderCreated through the dispatcher's OrderSent (traceparent in NATS headers)", async () => {
    const orderId = await system.createOrder({ packageId: "pubg-60", playerId: player() });
    await system.waitForStatus(orderId, "processing");
    const nc = await system.connectNats("admin", "e2e-pipeline");
    try {
      const jsm = await jetstreamManager(nc);
      const traceOf = async (type: "OrderCreated" | "OrderSent") => {
        const msg = await jsm.streams.getMessage(system.names.stream, { last_by_subj: system.names.orderEvent(orderId, type) });
        const traceparent = msg?.header.get("traceparent") ?? "";
        assert.match(traceparent, /^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/, `${type} carries a traceparent`);
        return traceparent.split("-");
      };
      const [, createdTrace, createdSpan] = await traceOf("OrderCreated");
      const [, sentTrace, sentSpan] = await traceOf("OrderSent");
      assert.equal(sentTrace, createdTrace, "the same trace id");
      assert.notEqual(sentSpan, createdSpan, "a later span of it");
    } finally {
      await nc.close();
    }
  });

  test("a refused order reaches failed with the refusal text and a reason code", async () => {
    const playerId = player();
    system.znet.addRule({ playerId, placeReply: "3|Oyuncu bulunamadı" });
    const orderId = await system.createOrder({ packageId: "pubg-60", playerId });
    const order = await system.waitForStatus(orderId, "failed");
    assert.equal(order.providerNote, "Oyuncu bulunamadı");
    assert.equal(order.reasonCode, "invalid_player");
    assert.equal(order.pin, null);
  });

  test("an order the provider cancels reaches failed", async () => {
    const playerId = player();
    system.znet.addRule({ playerId, outcome: "cancel", completeAfterMs: 400 });
    const orderId = await system.createOrder({ packageId: "freefire-100", playerId });
    const order = await system.waitForStatus(orderId, "failed");
    assert.equal(order.reasonCode, "provider_cancelled");
    assert.match(order.providerNote ?? "", /İşlem iptal edildi/);
  });

  test("a phone number in the extra field goes to musteri_tel", async () => {
    const playerId = player();
    const orderId = await system.createOrder({ packageId: "pubg-325", playerId, extra: "+905551112233" });
    const order = await system.waitForStatus(orderId, "completed");
    deliveredPins.push(order.pin!);
    const [reference] = system.znet.referencesFor(playerId);
    assert.equal(system.znet.order(reference!)!.phone, "+905551112233");
  });

  test("the same Idempotency-Key and body give the same order; a different body is a conflict", async () => {
    const key = randomUUID();
    const body = { packageId: "pubg-60", playerId: player() };
    const first = await system.request("/v1/orders", { method: "POST", body: JSON.stringify(body), headers: { "idempotency-key": key } });
    const again = await system.request("/v1/orders", { method: "POST", body: JSON.stringify(body), headers: { "idempotency-key": key } });
    assert.equal(first.status, 201);
    assert.equal(again.status, 200);
    const orderId = (first.body as { orderId: string }).orderId;
    assert.equal((again.body as { orderId: string }).orderId, orderId);
    const conflict = await system.request("/v1/orders", {
      method: "POST",
      body: JSON.stringify({ ...body, playerId: player() }),
      headers: { "idempotency-key": key },
    });
    assert.equal(conflict.status, 409);
    assert.equal((conflict.body as ErrorBody).error.code, "idempotency_conflict");
    const order = await system.waitForStatus(orderId, "completed");
    deliveredPins.push(order.pin!);
    assert.equal(system.znet.referencesFor(body.playerId).length, 1, "one placement for one key");
  });

  test("bad input answers 4xx with a machine-readable code and creates nothing", async () => {
    const before = await system.request("/v1/orders?limit=200");
    const count = (before.body as { orders: OrderView[] }).orders.length;
    const cases: { name: string; body: string; status: number; code: string; headers?: Record<string, string> }[] = [
      { name: "missing player id", body: JSON.stringify({ packageId: "pubg-60" }), status: 400, code: "validation_failed" },
      { name: "blank player id", body: JSON.stringify({ packageId: "pubg-60", playerId: "   " }), status: 400, code: "validation_failed" },
      { name: "unknown package", body: JSON.stringify({ packageId: "pubg-9999", playerId: "1" }), status: 422, code: "unknown_package" },
      { name: "wrong types", body: JSON.stringify({ packageId: 60, playerId: ["x"] }), status: 400, code: "validation_failed" },
      { name: "unknown field", body: JSON.stringify({ packageId: "pubg-60", playerId: "1", price: "0.01" }), status: 400, code: "validation_failed" },
      { name: "oversized player id", body: JSON.stringify({ packageId: "pubg-60", playerId: "9".repeat(129) }), status: 400, code: "validation_failed" },
      { name: "oversized extra", body: JSON.stringify({ packageId: "pubg-60", playerId: "1", extra: "x".repeat(129) }), status: 400, code: "validation_failed" },
      { name: "oversized body", body: JSON.stringify({ packageId: "pubg-60", playerId: "1", extra: "x".repeat(40_000) }), status: 413, code: "payload_too_large" },
      { name: "not JSON", body: "{packageId:", status: 400, code: "invalid_json" },
      { name: "an array", body: "[]", status: 400, code: "validation_failed" },
      { name: "bad idempotency key", body: JSON.stringify({ packageId: "pubg-60", playerId: "1" }), status: 400, code: "validation_failed", headers: { "idempotency-key": "a b" } },
    ];
    for (const c of cases) {
      const res = await system.request("/v1/orders", { method: "POST", body: c.body, headers: c.headers ?? {} });
      assert.equal(res.status, c.status, `${c.name}: ${JSON.stringify(res.body)}`);
      assert.equal((res.body as ErrorBody).error.code, c.code, c.name);
    }
    const missing = await system.request(`/v1/orders/${randomUUID()}`);
    assert.equal(missing.status, 404);
    assert.equal((missing.body as ErrorBody).error.code, "not_found");
    const unsafe = await system.request("/v1/orders/a.b");
    assert.equal(unsafe.status, 404);

    const afterwards = await system.request("/v1/orders?limit=200");
    assert.equal((afterwards.body as { orders: OrderView[] }).orders.length, count, "no order was created");
  });

  test("the order list pages with a cursor and filters by status", async () => {
    const page1 = await system.request("/v1/orders?limit=2");
    const body1 = page1.body as { orders: OrderView[]; nextCursor: string | null };
    assert.equal(body1.orders.length, 2);
    assert.ok(body1.nextCursor);
    const page2 = await system.request(`/v1/orders?limit=2&cursor=${body1.nextCursor}`);
    const ids2 = (page2.body as { orders: OrderView[] }).orders.map((o) => o.orderId);
    assert.ok(ids2.every((id) => !body1.orders.some((o) => o.orderId === id)), "pages do not overlap");
    const failed = await system.request("/v1/orders?status=failed&limit=200");
    const failedOrders = (failed.body as { orders: OrderView[] }).orders;
    assert.ok(failedOrders.length >= 2);
    assert.ok(failedOrders.every((o) => o.status === "failed"));
    const bad = await system.request("/v1/orders?status=lost");
    assert.equal(bad.status, 400);
  });

  test("while the broker is down, POST answers 503 unavailable; a retry with the same key after it is back creates the order once", async () => {
    const key = randomUUID();
    const body = JSON.stringify({ packageId: "pubg-60", playerId: player() });
    await system.nats.stop();
    try {
      const down = await system.request("/v1/orders", { method: "POST", body, headers: { "idempotency-key": key } });
      assert.equal(down.status, 503);
      assert.equal((down.body as ErrorBody).error.code, "unavailable");
    } finally {
      await system.nats.start();
    }
    const retried = await eventually(async () => {
      const res = await system.request("/v1/orders", { method: "POST", body, headers: { "idempotency-key": key } });
      assert.equal(res.status, 201, "the first request recorded nothing, so the retry creates the order");
      return res.body as { orderId: string };
    }, 20_000, 250);
    const order = await system.waitForStatus(retried.orderId, "completed", 30_000);
    deliveredPins.push(order.pin!);
  });

  test("no credential or PIN appears in any service log", async () => {
    assert.ok(deliveredPins.length >= 3);
    await eventually(() => assert.ok(system.allLogs().includes("order accepted")), 5000);
    const logs = system.allLogs();
    assert.ok(!logs.includes(ZNET_PASSWORD), "the znet password is never logged");
    assert.ok(!logs.includes(encodeURIComponent(ZNET_PASSWORD)), "not even URL-encoded");
    for (const pin of deliveredPins) assert.ok(!logs.includes(pin), `PIN ${pin.slice(0, 4)}… is never logged`);
    assert.ok(!logs.includes(system.pinKeys.split(":")[1]!), "the PIN key is never logged");
    for (const password of system.natsUsers.allPasswords()) assert.ok(!logs.includes(password), "no NATS user's password is logged");
  });

  test("the services' NATS users were refused nothing: each has exactly the permissions it uses", () => {
    // The server logs every subject it refuses a client (publish or subscribe violation); it has a log.
    assert.match(readFileSync(system.nats.logFile, "utf8"), /Server is ready/);
    assert.deepEqual(system.refusedServiceSubjects(), []);
  });
});
