import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import type { OrderView } from "@pinflow/contracts";
import { TestSystem, XSTOR_TOKEN } from "../support/system.js";

/**
 * x-stor as the fallback provider, end to end with every service as its own process: znet refuses
 * for lack of balance, the dispatcher places the order at x-stor (order_uuid = our reference), and
 * the status-poller watches it there with x-stor's documented batch check (`check?orders=[…]`, by the
 * provider's order_id recorded in OrderSent) until the PIN arrives. The simulator runs at its defaults
 * (the documented entries carry no order_uuid).
 */
const player = () => `xs${randomUUID().replace(/-/g, "").slice(0, 12)}`;
const ORDERS = 6;

describe("an order znet refuses for balance is placed at x-stor and monitored there in batches", () => {
  const system = new TestSystem({
    xstor: { completeAfterMs: 2500 },
    env: {
      dispatcher: { ZNET_RATE_PER_SEC: "50", XSTOR_RATE_PER_SEC: "50" },
      // One claim pass a second and no jitter: orders sent close together are due together.
      "status-poller": { SCHEDULER_TICK_MS: "1000", POLL_FIRST_DELAY_MS: "1000", POLL_DELAYS_MS: "1000", POLL_JITTER: "0" },
    },
  });

  before(async () => {
    await system.start();
  });
  after(async () => {
    await system.stop();
  });

  test("znet `8|Yetersiz bakiye` → x-stor; the poller checks x-stor in batch by order_id; GET /v1/orders/:id is completed with x-stor's PIN", async (t) => {
    const players = Array.from({ length: ORDERS }, player);
    for (const playerId of players) system.znet.addRule({ playerId, placeReply: "8|Yetersiz bakiye" });
    const orderIds = await Promise.all(players.map((playerId) => system.createOrder({ packageId: "pubg-60", playerId })));

    const references: string[] = [];
    const xstorOrderIds: string[] = [];
    for (const [i, orderId] of orderIds.entries()) {
      const playerId = players[i]!;
      const order: OrderView = await system.waitForStatus(orderId, "completed", 30_000);
      assert.equal(order.provider, "xstor");
      assert.equal(system.znet.referencesFor(playerId).length, 0, "znet recorded nothing");
      const refs = system.xstor.referencesFor(playerId);
      assert.equal(refs.length, 1, "one order at x-stor");
      const reference = refs[0]!;
      references.push(reference);
      xstorOrderIds.push(system.xstor.order(reference)!.orderId);
      assert.equal(system.xstor.placements(reference), 1, "placed once");
      assert.equal(order.pin, system.xstor.order(reference)!.pin, "the x-stor simulator's PIN");

      const timeline = await system.request(`/v1/orders/${orderId}/events`);
      const events = (timeline.body as { events: { type: string; data: Record<string, unknown> }[] }).events;
      const checks = events.filter((e) => e.type === "StatusChecked");
      assert.ok(checks.length >= 2, `pending, then done: ${JSON.stringify(events.map((e) => [e.type, e.data["outcome"] ?? ""]))}`);
      assert.ok(checks.every((e) => e.data["provider"] === "xstor" && e.data["reference"] === reference));
      assert.equal(events.filter((e) => e.type === "PinReceived").length, 1);
      assert.ok(!events.some((e) => e.type === "OrderFailed" || e.type === "ReviewRequired" || e.type === "DispatchFailed"));
    }

    // The poller's checks: by the provider's order id (no uuid=1), several orders per call.
    const batches = system.xstor
      .requestLog()
      .filter((line) => line.includes("/client/api/check"))
      .map((line) => new URL(line.replace(/^GET /, ""), "http://x.invalid").searchParams)
      .map((q) => ({ byUuid: q.get("uuid") === "1", ids: (JSON.parse(q.get("orders") ?? "[]") as string[]).filter((id) => xstorOrderIds.includes(id) || references.includes(id)) }))
      .filter((b) => b.ids.length > 0);
    assert.ok(batches.every((b) => !b.byUuid && b.ids.every((id) => xstorOrderIds.includes(id))), "asked by the order_id recorded in OrderSent");
    const asked = batches.reduce((n, b) => n + b.ids.length, 0);
    t.diagnostic(`x-stor check calls for our ${ORDERS} orders: ${batches.length}, ids per call ${batches.map((b) => b.ids.length).join(",")}`);
    assert.ok(batches.some((b) => b.ids.length >= 2), `some call asked about several orders: ${batches.map((b) => b.ids.length).join(",")}`);
    assert.ok(batches.length < asked, `${batches.length} calls for ${asked} order checks`);

    const poller = system.services["status-poller"].url;
    const status = await system.operatorFetch(`${poller}/v1/providers/xstor`);
    assert.equal(status.status, 200);
    assert.equal(((await status.json()) as { paused: boolean }).paused, false);
    const metrics = await (await fetch(`${poller}/metrics`)).text();
    const done = /pinflow_status_checks_total\{[^}]*outcome="done"[^}]*provider="xstor"[^}]*\} (\d+)|pinflow_status_checks_total\{[^}]*provider="xstor"[^}]*outcome="done"[^}]*\} (\d+)/.exec(metrics);
    assert.ok(done && Number(done[1] ?? done[2]) >= ORDERS, "checks by provider and outcome");
    assert.match(metrics, /pinflow_detection_delay_seconds_count\{[^}]*provider="xstor"[^}]*\} [1-9]/);
    assert.match(metrics, /pinflow_provider_calls_total\{[^}]*provider="xstor"[^}]*\} [1-9]/);
    assert.ok(!system.allLogs().includes(XSTOR_TOKEN), "the x-stor token is never logged");
  });
});
