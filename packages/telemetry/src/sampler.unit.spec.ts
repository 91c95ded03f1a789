/**
 * Which spans are recorded: every one when they are exported (or as `OTEL_TRACES_SAMPLER` says),
 * none when nothing would export them — and a span not recorded still has the ids that log lines
 * and the `traceparent` header carry.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { isSpanContextValid, ROOT_CONTEXT, trace, TraceFlags } from "@opentelemetry/api";
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from "@opentelemetry/sdk-trace";
import { samplerFor } from "./telemetry.js";

test("spans exported: the SDK's sampler (every trace unless OTEL_TRACES_SAMPLER says otherwise)", () => {
  assert.equal(samplerFor({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318" }), undefined);
  assert.equal(samplerFor({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://collector:4318/v1/traces" }), undefined);
  assert.equal(samplerFor({ OTEL_TRACES_SAMPLER: "always_on" }), undefined, "an explicit sampler wins");
});

test("nowhere to export: no span recorded, yet each has its trace and span ids, and a valid context to pass on", () => {
  const exported = new InMemorySpanExporter();
  const provider = new TracerProvider({ sampler: samplerFor({}), spanProcessors: [new SimpleSpanProcessor({ exporter: exported })] });
  const tracer = provider.getTracer("test");
  const parent = tracer.startSpan("POST /v1/orders");
  assert.equal(parent.isRecording(), false);
  assert.match(parent.spanContext().traceId, /^[0-9a-f]{32}$/);
  assert.notEqual(parent.spanContext().traceId, "0".repeat(32));
  const child = tracer.startSpan("publish OrderCreated", {}, trace.setSpan(ROOT_CONTEXT, parent));
  assert.equal(child.spanContext().traceId, parent.spanContext().traceId, "a child stays in its parent's trace");
  // What the W3C propagator writes as `traceparent` (00-<trace>-<span>-<flags>): a valid context, flagged "not sampled".
  assert.equal(isSpanContextValid(child.spanContext()), true);
  assert.equal(child.spanContext().traceFlags, TraceFlags.NONE);
  child.end();
  parent.end();
  assert.deepEqual(exported.getFinishedSpans(), []);
});
