import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { readOrderHistory } from "@pinflow/bus";
import { ErrorBody, TERMINAL_EVENT_TYPES, type OrderEvent, type OrderView } from "@pinflow/contracts";
import { eventually } from "@pinflow/testkit";
import { OTHER_TENANT, TENANT, TestSystem } from "../support/system.js";

const player = (prefix = "p") => `${prefix}${randomUUID().replace(/-/g, "").slice(0, 12)}`;

interface ReviewEntry {
  orderId: string;
  tenantId: string;
  reviewReason: string | null;
  ageSeconds: number;
}
interface TimelineEntry {
  type: string;
  data: Record<string, unknown>;
}

/** Operators act on orders in review (DESIGN §6): each action an event naming the operator and the reason. */
describe("operator actions on orders in review", () => {
  // An unreadable status reply twice in a row sends an order to review within seconds (the circuit
  // breaker would otherwise treat the unreadable replies of several orders as an outage and wait).
  const system = new TestSystem({
    env: {
      "status-poller": { MAX_UNCLEAR_IN_ROW: "2", BREAKER_THRESHOLD: "1000" },
      // An unclear placement goes to review after two unclear reconciles.
      dispatcher: { RECONCILE_MAX_TRIES: "2", RECONCILE_BASE_MS: "200", BREAKER_THRESHOLD: "1000" },
    },
  });

  before(async () => {
    await system.start();
  });
  after(async () => {
    await system.stop();
  });

  /** An order of TENANT that reached review because znet's status answers are unreadable. */
  async function reviewOrder(): Promise<{ orderId: string; playerId: string }> {
    const playerId = player("rv");
    system.znet.addRule({ playerId, checkFault: "garbage", completeAfterMs: 0 });
    const orderId = await system.createOrder({ packageId: "pubg-60", playerId });
    await system.waitForStatus(orderId, "review");
    return { orderId, playerId };
  }

  async function streamEvents(orderId: string): Promise<OrderEvent[]> {
    const nc = await system.connectNats("admin", "e2e-operator-actions");
    try {
      const messages = await readOrderHistory(nc, system.names, orderId);
      return messages.flatMap((m) => (m.ok ? [m.event] : []));
    } finally {
      await nc.close();
    }
  }

  const timeline = async (orderId: string) => ((await system.request(`/v1/orders/${orderId}/events`)).body as { events: TimelineEntry[] }).events;

  test("the review queue lists orders in review with their reason and age, filtered by reason and tenant", async () => {
    const { orderId } = await reviewOrder();
    const queue = await system.call("orders", "/v1/review?reason=unknown_status");
    assert.equal(queue.status, 200, JSON.stringify(queue.body));
    const entry = (queue.body as { orders: ReviewEntry[] }).orders.find((o) => o.orderId === orderId);
    assert.ok(entry, "the order is in the queue");
    assert.equal(entry.tenantId, TENANT);
    assert.equal(entry.reviewReason, "unknown_status");
    assert.ok(entry.ageSeconds >= 0);
    const otherReason = (await system.call("orders", "/v1/review?reason=placement_unknown")).body as { orders: ReviewEntry[] };
    assert.ok(!otherReason.orders.some((o) => o.orderId === orderId), "filtered by reason");
    const otherTenant = (await system.call("orders", `/v1/review?tenant=${OTHER_TENANT}`)).body as { orders: ReviewEntry[] };
    assert.ok(!otherTenant.orders.some((o) => o.orderId === orderId), "filtered by tenant");
    const scoped = (await system.call("orders", "/v1/review", {}, system.keys.otherOperator)).body as { orders: ReviewEntry[] };
    assert.ok(!scoped.orders.some((o) => o.orderId === orderId), "an operator of another tenant does not see it");
    assert.equal((await system.call("orders", "/v1/review?reason=nonsense")).status, 400);
  });

  test("complete by hand: the customer sees the PIN, the timeline names the operator and the reason, the PIN is sealed on the stream", async () => {
    const { orderId } = await reviewOrder();
    const pin = "MANU-AL12-PIN3-4567";
    const res = await system.call("orders", `/v1/orders/${orderId}/complete`, { method: "POST", body: JSON.stringify({ pin, reason: "znet support confirmed the PIN by phone" }) });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    assert.deepEqual(res.body, { orderId, status: "completed" });

    const view = await system.getOrder(orderId);
    assert.equal(view.status, "completed");
    assert.equal(view.pin, pin, "the customer reads the PIN");
    const asOperator = (await system.call("orders", `/v1/orders/${orderId}`)).body as OrderView;
    assert.equal(asOperator.pin, null, "operators do not read PINs back");

    const entry = (await timeline(orderId)).find((e) => e.type === "CompletedByOperator");
    assert.ok(entry, "on the timeline");
    assert.equal(entry.data["operator"], system.keys.ids.operator);
    assert.equal(entry.data["reason"], "znet support confirmed the PIN by phone");
    assert.ok(!JSON.stringify(await timeline(orderId)).includes(pin), "the timeline never shows the PIN");

    const events = await streamEvents(orderId);
    const completed = events.filter((e) => e.type === "CompletedByOperator");
    assert.equal(completed.length, 1);
    assert.equal(completed[0]!.tenantId, TENANT);
    assert.ok(!JSON.stringify(events).includes(pin), "the PIN is sealed on the stream");

    // The same decision again (a retry) changes nothing; another decision is refused.
    const again = await system.call("orders", `/v1/orders/${orderId}/complete`, { method: "POST", body: JSON.stringify({ pin, reason: "retry" }) });
    assert.equal(again.status, 202);
    const fail = await system.call("orders", `/v1/orders/${orderId}/fail`, { method: "POST", body: JSON.stringify({ reasonCode: "operator_failed", reason: "too late" }) });
    assert.equal(fail.status, 409);
    assert.equal(ErrorBody.parse(fail.body).error.code, "order_not_in_review");
    assert.equal((await streamEvents(orderId)).filter((e) => e.type === "CompletedByOperator" || e.type === "FailedByOperator").length, 1);
    assert.equal((await system.getOrder(orderId)).pin, pin);
  });

  test("fail with a reason code: the terminal event is appended once, whatever is retried", async () => {
    const { orderId } = await reviewOrder();
    const body = JSON.stringify({ reasonCode: "provider_cancelled", reason: "znet says the order was cancelled on their side" });
    const results = await Promise.all([1, 2, 3].map(() => system.call("orders", `/v1/orders/${orderId}/fail`, { method: "POST", body })));
    assert.deepEqual(results.map((r) => r.status), [202, 202, 202], JSON.stringify(results.map((r) => r.body)));
    const complete = await system.call("orders", `/v1/orders/${orderId}/complete`, { method: "POST", body: JSON.stringify({ pin: "X", reason: "no" }) });
    assert.equal(complete.status, 409);

    const view = await system.waitForStatus(orderId, "failed");
    assert.equal(view.reasonCode, "provider_cancelled");
    assert.equal(view.pin, null);
    const events = await streamEvents(orderId);
    const terminal = events.filter((e) => (TERMINAL_EVENT_TYPES as readonly string[]).includes(e.type));
    assert.deepEqual(terminal.map((e) => e.type), ["FailedByOperator"], "exactly one terminal event");
    const failed = terminal[0] as Extract<OrderEvent, { type: "FailedByOperator" }>;
    assert.deepEqual(failed.data, { operator: system.keys.ids.operator, reason: "znet says the order was cancelled on their side", reasonCode: "provider_cancelled" });

    const bad = await system.call("orders", `/v1/orders/${orderId}/fail`, { method: "POST", body: JSON.stringify({ reasonCode: "because", reason: "x" }) });
    assert.equal(bad.status, 400, "reason codes are a closed set");
    const noReason = await system.call("orders", `/v1/orders/${player("o-")}/fail`, { method: "POST", body: JSON.stringify({ reasonCode: "operator_failed" }) });
    assert.equal(noReason.status, 404);
  });

  test("an order not in review cannot be completed or failed by hand", async () => {
    const orderId = await system.createOrder({ packageId: "pubg-60", playerId: player() });
    const view = await system.waitForStatus(orderId, "completed");
    for (const [action, body] of [["complete", { pin: "NOPE-NOPE-NOPE-NOPE", reason: "x" }], ["fail", { reasonCode: "operator_failed", reason: "x" }]] as const) {
      const res = await system.call("orders", `/v1/orders/${orderId}/${action}`, { method: "POST", body: JSON.stringify(body) });
      assert.equal(res.status, 409, action);
      assert.equal(ErrorBody.parse(res.body).error.code, "order_not_in_review");
    }
    assert.equal((await system.getOrder(orderId)).pin, view.pin, "the provider's PIN stays");
  });

  test("dispatch again is refused for an order whose placement is unknown (the dispatcher's record shows it may exist)", async () => {
    const playerId = player("pu");
    // A 5xx to the place request (ambiguous), then unreadable status answers: the placement stays unknown.
    system.znet.addRule({ playerId, placeFault: "http500", checkFault: "garbage" });
    const orderId = await system.createOrder({ packageId: "pubg-60", playerId });
    const view = await system.waitForStatus(orderId, "review", 30_000);
    assert.equal(view.reviewReason, "placement_unknown");
    const res = await system.call("dispatcher", `/v1/orders/${orderId}/dispatch-again`);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const verdict = res.body as { orderId: string; kind: string; reason: string };
    assert.equal(verdict.kind, "refused");
    assert.match(verdict.reason, /a placement at znet with reference \d+ may exist/);
    const settled = await system.createOrder({ packageId: "pubg-60", playerId: player() });
    await system.waitForStatus(settled, "completed");
    assert.deepEqual((await system.call("dispatcher", `/v1/orders/${settled}/dispatch-again`)).body, { orderId: settled, kind: "refused", reason: "a provider accepted the order (OrderSent)" });
  });

  test("dispatch again: a placement znet never recorded (5xx, then 'not found') is dispatched again with a new reference, twice (a second review is not lost), and completes with its PIN, placed once", async () => {
    const playerId = player("ra");
    // znet answers every place request with a 5xx and records nothing; its status answer is "not found".
    system.znet.addRule({ playerId, placeFault: "http500" });
    const orderId = await system.createOrder({ packageId: "pubg-60", playerId });
    assert.equal((await system.waitForStatus(orderId, "review", 30_000)).reviewReason, "placement_unknown");
    const path = `/v1/orders/${orderId}/dispatch-again`;
    const post = (body: unknown, key?: string) => system.call("dispatcher", path, { method: "POST", body: JSON.stringify(body) }, key);
    assert.deepEqual((await system.call("dispatcher", path)).body, { orderId, kind: "allowed" });

    assert.equal((await post({ reason: "x" }, system.keys.customer)).status, 403, "customers may not");
    assert.equal((await post({ reason: "x" }, system.keys.otherOperator)).status, 404, "another tenant's operator sees no such order");
    const noReason = await post({});
    assert.equal(noReason.status, 400);
    assert.equal(ErrorBody.parse(noReason.body).error.code, "validation_failed");

    // Generation 2 meets the same 5xx: back in review, with a review of its own.
    const second = await post({ reason: "znet says they never got it" });
    assert.equal(second.status, 202, JSON.stringify(second.body));
    const gen2 = second.body as { generation: number; provider: string; reference: string; state: string };
    assert.deepEqual([gen2.generation, gen2.provider, gen2.state], [2, "znet", "ready"]);
    await eventually(async () => assert.equal((await streamEvents(orderId)).filter((e) => e.type === "ReviewRequired").length, 2), 30_000);
    assert.equal((await system.waitForStatus(orderId, "review", 30_000)).reviewReason, "placement_unknown");

    // znet works again: generation 3 completes.
    system.znet.addRule({ playerId });
    const third = await post({ reason: "znet fixed their API" });
    assert.equal(third.status, 202, JSON.stringify(third.body));
    const gen3 = third.body as { generation: number; reference: string };
    assert.equal(gen3.generation, 3);
    const done = await system.waitForStatus(orderId, "completed", 30_000);
    assert.deepEqual(system.znet.referencesFor(playerId), [gen3.reference], "one order at znet, under the last generation's reference");
    assert.equal(system.znet.placements(gen3.reference), 1);
    assert.equal(done.pin, system.znet.order(gen3.reference)!.pin);
    const tried = system.znet.placedReferences().filter((r) => r === gen2.reference || r === gen3.reference);
    assert.equal(new Set(tried).size, 2, "each generation placed its own reference");

    const events = await streamEvents(orderId);
    const again = events.filter((e) => e.type === "RedispatchRequested");
    assert.deepEqual(again.map((e) => [e.data.generation, e.data.operator, e.data.reason, e.tenantId]), [
      [2, system.keys.ids.operator, "znet says they never got it", TENANT],
      [3, system.keys.ids.operator, "znet fixed their API", TENANT],
    ]);
    assert.equal(events.filter((e) => (TERMINAL_EVENT_TYPES as readonly string[]).includes(e.type)).length, 1, "one terminal event");
    assert.ok((await timeline(orderId)).some((e) => e.type === "RedispatchRequested" && e.data["reason"] === "znet fixed their API"), "on the timeline");
    const refused = await post({ reason: "once more" });
    assert.equal(refused.status, 409);
    assert.equal(ErrorBody.parse(refused.body).error.code, "redispatch_refused");
  });

  test("check again now: the poller re-opens the review, records who asked and why, and the order completes with the provider's PIN", async () => {
    const { orderId, playerId } = await reviewOrder();
    const refused = await system.call("status-poller", `/v1/watches/${orderId}/check-now`, { method: "POST", body: JSON.stringify({}) });
    assert.equal(refused.status, 400, "a reason is required");
    system.znet.clearRules(); // znet answers again
    const res = await system.call("status-poller", `/v1/watches/${orderId}/check-now`, { method: "POST", body: JSON.stringify({ reason: "znet fixed their status page" }) });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    const view = await system.waitForStatus(orderId, "completed");
    const [reference] = system.znet.referencesFor(playerId);
    assert.equal(view.pin, system.znet.order(reference!)!.pin);
    const entries = await timeline(orderId);
    const recheck = entries.find((e) => e.type === "RecheckRequested");
    assert.ok(recheck, "on the timeline");
    assert.equal(recheck.data["operator"], system.keys.ids.operator);
    assert.equal(recheck.data["reason"], "znet fixed their status page");
    const types = entries.map((e) => e.type);
    assert.ok(types.indexOf("RecheckRequested") > types.indexOf("ReviewRequired") && types.indexOf("RecheckRequested") < types.indexOf("PinReceived"));
    await eventually(async () => assert.equal((await streamEvents(orderId)).filter((e) => e.type === "RecheckRequested")[0]?.tenantId, TENANT));
  });
});
