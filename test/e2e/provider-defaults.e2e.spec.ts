import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import type { OrderView } from "@pinflow/contracts";
import { TestSystem, XSTOR_TOKEN, ZNET_PASSWORD } from "../support/system.js";

/**
 * Both providers at their simulators' defaults — the documented wire formats and the least convenient
 * behaviour the documents allow: x-stor check entries without our order_uuid (and placeholders in empty
 * `pin` fields, the PIN sometimes in `code`), a repeated uuid or reference charged again. Every service
 * runs as its own process.
 *
 * 50 orders go to x-stor (znet refuses them for balance); half of them x-stor finishes in its place
 * reply: the dispatcher delivers those PINs at once, and the poller never checks them. The other half
 * is checked in batches by the order_id recorded in OrderSent. A few orders complete at znet.
 */
const tag = (p: string) => `${p}${randomUUID().replace(/-/g, "").slice(0, 10)}`;
const XSTOR_ORDERS = 50;
const ZNET_ORDERS = 4;
const SECRET_PIN = "SECRET-PIN";

type TimelineEvent = { type: string; data: Record<string, unknown> };

describe("both providers at the simulators' documented defaults", () => {
  const system = new TestSystem({
    xstor: { completeAfterMs: 2500 },
    env: {
      dispatcher: { ZNET_RATE_PER_SEC: "100", XSTOR_RATE_PER_SEC: "100", RECONCILE_BASE_MS: "200", RECONCILE_MAX_DELAY_MS: "1000" },
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

  test("50 x-stor orders checked in batches all complete with their PINs; half of them finished in the place reply", async (t) => {
    const players = Array.from({ length: XSTOR_ORDERS }, (_, i) => tag(i % 2 === 0 ? "inplace" : "checked"));
    const inPlace = new Set(players.filter((_, i) => i % 2 === 0));
    for (const playerId of players) {
      system.znet.addRule({ playerId, placeReply: "8|Yetersiz bakiye" });
      if (inPlace.has(playerId)) system.xstor.addRule({ playerId, finishInPlaceReply: true });
    }
    const znetPlayers = Array.from({ length: ZNET_ORDERS }, () => tag("zn"));
    const orderIds = await Promise.all([...players, ...znetPlayers].map((playerId) => system.createOrder({ packageId: "pubg-60", playerId })));

    const checkedOrderIds: string[] = [];
    const checkedReferences: string[] = [];
    for (const [i, orderId] of orderIds.slice(0, XSTOR_ORDERS).entries()) {
      const playerId = players[i]!;
      const order: OrderView = await system.waitForStatus(orderId, "completed", 90_000);
      assert.equal(order.provider, "xstor");
      const refs = system.xstor.referencesFor(playerId);
      assert.equal(refs.length, 1, "one order at x-stor");
      const reference = refs[0]!;
      const placed = system.xstor.order(reference)!;
      assert.equal(system.xstor.placements(reference), 1, "placed once");
      assert.equal(system.xstor.placeCalls(reference), 1);
      assert.equal(order.pin, placed.pin, "x-stor's PIN");

      const timeline = await system.request(`/v1/orders/${orderId}/events`);
      // The dispatcher's attempt facts (PlacementStarted/Answered) are on the timeline too; the outcome events are checked here.
      const events = (timeline.body as { events: TimelineEvent[] }).events.filter((e) => !["PlacementStarted", "PlacementAnswered", "ReconcileAnswered"].includes(e.type));
      const types = events.map((e) => e.type);
      assert.equal(events.filter((e) => e.type === "PinReceived").length, 1);
      assert.ok(!types.some((ty) => ty === "OrderFailed" || ty === "ReviewRequired" || ty === "DispatchFailed"), types.join(","));
      const sent = events.find((e) => e.type === "OrderSent")!;
      assert.equal(sent.data["providerOrderId"], placed.orderId, "OrderSent records x-stor's order id");
      if (inPlace.has(playerId)) {
        assert.deepEqual(types, ["OrderCreated", "OrderSent", "PinReceived"], "delivered from the place reply");
        assert.equal(sent.data["pinInPlaceReply"], true);
        assert.equal(events[2]!.data["checks"], 0);
        assert.equal(system.xstor.checkedIds(reference), 0, "never checked");
      } else {
        assert.equal(sent.data["pinInPlaceReply"], undefined);
        assert.ok(types.filter((ty) => ty === "StatusChecked").length >= 2, `pending, then done: ${types.join(",")}`);
        checkedOrderIds.push(placed.orderId);
        checkedReferences.push(reference);
      }
    }
    assert.equal(checkedOrderIds.length, XSTOR_ORDERS / 2);

    // The poller asked x-stor by the order ids recorded in OrderSent, never by uuid, several per call.
    const calls = system.xstor
      .requestLog()
      .filter((line) => line.includes("/client/api/check"))
      .map((line) => new URL(line.replace(/^GET /, ""), "http://x.invalid").searchParams)
      .map((q) => ({ byUuid: q.get("uuid") === "1", ids: JSON.parse(q.get("orders") ?? "[]") as string[] }));
    assert.ok(calls.every((c) => !c.byUuid), "no check by uuid: every watched order has its x-stor order id");
    const ours = calls.map((c) => c.ids.filter((id) => checkedOrderIds.includes(id))).filter((ids) => ids.length > 0);
    const asked = ours.reduce((n, ids) => n + ids.length, 0);
    t.diagnostic(`x-stor check calls for the ${checkedOrderIds.length} checked orders: ${ours.length}, ids per call ${ours.map((ids) => ids.length).join(",")}`);
    // How many share one call depends on how close together they were sent (a busy machine spreads them);
    // the exact batch sizes are proven in the poller's limits tests (120 orders, 3 calls a round).
    assert.ok(ours.some((ids) => ids.length >= 5), `batches of several orders: ${ours.map((ids) => ids.length).join(",")}`);
    assert.ok(ours.length * 3 < asked, `${ours.length} calls for ${asked} order checks`);
    assert.ok(checkedReferences.every((r) => system.xstor.checkedIds(r) >= 2));

    for (const [i, orderId] of orderIds.slice(XSTOR_ORDERS).entries()) {
      const order = await system.waitForStatus(orderId, "completed", 60_000);
      assert.equal(order.provider, "znet");
      const reference = system.znet.referencesFor(znetPlayers[i]!)[0]!;
      assert.equal(order.pin, system.znet.order(reference)?.pin);
      assert.equal(system.znet.placements(reference), 1);
    }

    const logs = system.allLogs();
    for (const orderId of orderIds) {
      const pin = (await system.getOrder(orderId)).pin ?? "";
      assert.ok(pin !== "" && !logs.includes(pin), "no PIN in any log");
    }
    assert.ok(!logs.includes(XSTOR_TOKEN) && !logs.includes(ZNET_PASSWORD), "no credential in any log");
  });

  test("an x-stor place reply with a PIN and an unreadable price: review, and the PIN is in no log, event or API field", async () => {
    const playerId = tag("pinprice");
    system.znet.addRule({ playerId, placeReply: "8|Yetersiz bakiye" });
    system.xstor.addRule({ playerId, placeReply: { status: "OK", data: { status: "success", pin: SECRET_PIN, price: "abc" } } });
    const orderId = await system.createOrder({ packageId: "pubg-60", playerId });
    const order = await system.waitForStatus(orderId, "review", 60_000);
    assert.match(order.providerNote ?? "", /without a readable price/);
    const timeline = await system.request(`/v1/orders/${orderId}/events`);
    for (const text of [JSON.stringify(order), JSON.stringify(timeline.body), system.allLogs()]) {
      assert.ok(!text.includes(SECRET_PIN), "the place reply's PIN is masked everywhere");
    }
  });
});
