import { trace } from "@opentelemetry/api";

/*
 * The tracer provider is the OpenTelemetry Node SDK, started by each service's `start.ts`
 * (@pinflow/telemetry) before anything else loads. Code here only reads the active span.
 */

/** Trace and span ids of the active span, for log lines. */
export function traceFields(): { traceId?: string; spanId?: string } {
  const span = trace.getActiveSpan();
  if (!span) return {};
  const ctx = span.spanContext();
  return { traceId: ctx.traceId, spanId: ctx.spanId };
}
