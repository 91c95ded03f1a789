/**
 * A watch keeps the trace context of the OrderSent that created it (migration 007), and its claims
 * carry it back, so the scheduler's checks continue the order's trace.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { context, propagation, ROOT_CONTEXT, trace, TraceFlags } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { makeEvent } from "@pinflow/bus";
import type { Pool } from "@pinflow/pg";
import { claimContext } from "./check-trace.js";
import { PgWatchStore } from "./pg-watch-store.js";
import { newWatch, type PollPolicy } from "./poll.js";
import { createPollerDatabase } from "./poller.test-harness.js";

const POLICY: PollPolicy = { firstDelayMs: 1000, delaysMs: [1000], growth: 2, maxDelayMs: 4000, jitter: 0, deadlineMs: 30_000, maxUnclearInRow: 4 };
const TRACE_ID = "0af7651916cd43dd8448eb211c80319c";
const SPAN_ID = "b7ad6b7169203331";

let pool: Pool;
let drop: () => Promise<void>;
before(async () => {
  // What the SDK registers in a service: async context and W3C propagation.
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  ({ pool, drop } = await createPollerDatabase("watch_trace"));
});
after(async () => {
  await drop();
  context.disable();
  propagation.disable();
});

function sentEvent(orderId: string, at: Date) {
  return makeEvent(
    "OrderSent",
    { orderId, correlationId: orderId, causationId: null },
    { packageId: "pubg-60", provider: "znet", reference: `ref-${orderId}`, cost: "1.00", balance: null, providerOrderId: null },
    at,
  );
}

test("a watch created inside the OrderSent's span is claimed with that trace context; one created outside a trace with none", async () => {
  const store = new PgWatchStore(pool);
  const now = new Date();
  const consumeSpan = trace.setSpanContext(ROOT_CONTEXT, { traceId: TRACE_ID, spanId: SPAN_ID, traceFlags: TraceFlags.SAMPLED });
  await context.with(consumeSpan, () => store.insertWatch(newWatch(sentEvent("ord-traced", new Date(now.getTime() - 60_000)), POLICY, 0.5), now));
  await store.insertWatch(newWatch(sentEvent("ord-untraced", new Date(now.getTime() - 60_000)), POLICY, 0.5), now);

  const claims = await store.claimDue(new Date(now.getTime() + 60_000), "owner", 10_000, 10);
  const traced = claims.find((c) => c.watch.orderId === "ord-traced");
  const untraced = claims.find((c) => c.watch.orderId === "ord-untraced");
  assert.ok(traced && untraced, "both watches claimed");
  assert.equal(traced.traceContext?.traceparent, `00-${TRACE_ID}-${SPAN_ID}-01`);
  assert.deepEqual(trace.getSpanContext(claimContext(traced))?.traceId, TRACE_ID, "the scheduler's parent is the OrderSent's span");
  assert.equal(untraced.traceContext, null);
  assert.equal(trace.getSpanContext(claimContext(untraced)), undefined, "no trace: the check starts its own");
});
