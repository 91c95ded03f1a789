/**
 * One order, one trace: the three services export spans over OTLP/HTTP to a small receiver (what
 * Jaeger's collector would get), and the order's trace holds the HTTP request, every publish and
 * consume, the provider calls, the database statements, each status check and the PinReceived.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { eventually } from "@pinflow/testkit";
import { OtlpReceiver, type ReceivedSpan } from "../support/otlp-receiver.js";
import { TestSystem, ZNET_CODE, ZNET_PASSWORD } from "../support/system.js";

const SERVER = 2;
const CLIENT = 3;

describe("tracing: one order is one trace across the three services (OpenTelemetry Node SDK, OTLP)", () => {
  const receiver = new OtlpReceiver();
  let system: TestSystem;
  const pins: string[] = [];

  before(async () => {
    const endpoint = await receiver.start();
    const otel = { OTEL_EXPORTER_OTLP_ENDPOINT: endpoint };
    system = new TestSystem({ env: { orders: otel, dispatcher: otel, "status-poller": otel } });
    await system.start();
  });
  after(async () => {
    await system?.stop();
    await receiver.stop();
  });

  test("the order's trace runs from POST /v1/orders to PinReceived: publishes, consumes, provider calls, status checks, pg", async () => {
    const playerId = `t${randomUUID().replace(/-/g, "").slice(0, 12)}`;
    system.znet.addRule({ playerId, completeAfterMs: 1200 });
    const created = await system.request("/v1/orders", { method: "POST", body: JSON.stringify({ packageId: "pubg-60", playerId }) });
    assert.equal(created.status, 201);
    const { orderId } = created.body as { orderId: string };
    const completed = await system.waitForStatus(orderId, "completed");
    pins.push(completed.pin!);
    const [reference] = system.znet.referencesFor(playerId);
    const checks = system.znet.checkCalls(reference!);
    assert.ok(checks >= 2, `the order was checked more than once (${checks})`);

    // The request's server span names the trace; the rest of the order must arrive in it.
    const request = await eventually(async () => {
      const found = receiver.spans.find((s) => s.service === "orders" && s.kind === SERVER && String(s.attributes["http.route"] ?? "").includes("/v1/orders") && s.name.startsWith("POST"));
      if (!found) throw new Error("no POST /v1/orders server span yet");
      return found;
    }, 15_000, 200);
    const names = (spans: ReceivedSpan[], service: string) => spans.filter((s) => s.service === service).map((s) => s.name);
    const spans = await eventually(async () => {
      const inTrace = receiver.trace(request.traceId);
      const has = (service: string, name: string) => names(inTrace, service).includes(name);
      const missing = [
        ["orders", "publish OrderCreated"],
        ["dispatcher", "consume OrderCreated"],
        ["dispatcher", "publish OrderSent"],
        ["status-poller", "consume OrderSent"],
        ["status-poller", "status check znet"],
        ["status-poller", "publish PinReceived"],
        // The orders projection consumes the order's events in the same trace, to the PIN.
        ["orders", "consume OrderSent"],
        ["orders", "consume PinReceived"],
      ].filter(([service, name]) => !has(service!, name!));
      if (missing.length > 0) throw new Error(`not yet in the trace: ${JSON.stringify(missing)}`);
      return inTrace;
    }, 20_000, 250);

    // Provider calls: the dispatcher's placement and every one of the poller's status calls, as HTTP client spans.
    const providerCalls = (service: string) => spans.filter((s) => s.service === service && s.kind === CLIENT && String(s.attributes["url.full"] ?? s.attributes["http.url"] ?? "").includes("/servis/"));
    assert.ok(providerCalls("dispatcher").length >= 1, "the placement call is in the trace");
    const statusChecks = spans.filter((s) => s.service === "status-poller" && s.name === "status check znet");
    await eventually(async () => {
      const inTrace = receiver.trace(request.traceId).filter((s) => s.service === "status-poller" && s.name === "status check znet");
      assert.equal(inTrace.length, checks, "every status check the simulator answered is a span of the order's trace");
    }, 10_000, 250);
    assert.ok(statusChecks.length >= 2);
    const pollerCalls = providerCalls("status-poller");
    assert.ok(pollerCalls.length >= 2, `the poller's provider calls are in the trace (${pollerCalls.length})`);
    const checkSpanIds = new Set(receiver.trace(request.traceId).filter((s) => s.name === "status check znet").map((s) => s.spanId));
    assert.ok(pollerCalls.every((c) => checkSpanIds.has(c.parentSpanId)), "each status call is a child of its check's span");
    // Database statements of the services, in the same trace.
    for (const service of ["orders", "dispatcher", "status-poller"]) {
      assert.ok(spans.some((s) => s.service === service && (s.attributes["db.system.name"] === "postgresql" || s.attributes["db.system"] === "postgresql")), `${service}'s pg statements are in the trace`);
    }
    // Not a single other trace for the order: every span that names it is in this one.
    const otherTraces = new Set(receiver.spans.filter((s) => s.attributes["pinflow.order_id"] === orderId && s.traceId !== request.traceId).map((s) => s.traceId));
    assert.deepEqual([...otherTraces], [], "no span of the order is in another trace");
  });

  test("no secret in any exported span: znet's query-string credentials are redacted, the PIN and API keys never appear", async () => {
    await eventually(async () => {
      if (!receiver.spans.some((s) => s.kind === CLIENT && String(s.attributes["url.full"] ?? "").includes("/servis/"))) throw new Error("no provider call yet");
    }, 10_000, 200);
    const exported = receiver.rawBodies.join("\n");
    assert.ok(!exported.includes(ZNET_PASSWORD), "the znet password is never exported");
    assert.ok(!exported.includes(ZNET_CODE), "nor the znet account code");
    assert.ok(pins.length > 0 && pins.every((pin) => pin !== "" && !exported.includes(pin)), "nor the order's PIN");
    for (const token of system.allTokens()) assert.ok(!exported.includes(token), "nor an API key");
    const calls = receiver.spans.filter((s) => s.kind === CLIENT && String(s.attributes["url.full"] ?? "").includes("/servis/"));
    for (const call of calls) assert.match(String(call.attributes["url.full"]), /[?&]sifre=REDACTED(&|$)/, "the parameter stays, its value does not");
  });
});
