import { trace } from "@opentelemetry/api";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { BatchSpanProcessor, type SpanProcessor } from "@opentelemetry/sdk-trace-base";
import { NodeTracerProvider } from "@opentelemetry/sdk-trace-node";

/**
 * Register the tracer provider, W3C trace-context propagation and the
 * async-context manager for this process. Spans cross services through the
 * `traceparent` header the bus writes into NATS messages. Spans are exported
 * over OTLP/HTTP when OTEL_EXPORTER_OTLP_ENDPOINT is set; otherwise they are
 * still created and propagated (trace ids show in logs), just not exported.
 */
export function initTracing(service: string): NodeTracerProvider {
  const spanProcessors: SpanProcessor[] = [];
  if (process.env.OTEL_EXPORTER_OTLP_ENDPOINT) spanProcessors.push(new BatchSpanProcessor(new OTLPTraceExporter()));
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ "service.name": service }),
    spanProcessors,
  });
  provider.register();
  return provider;
}

/** Trace and span ids of the active span, for log lines. */
export function traceFields(): { traceId?: string; spanId?: string } {
  const span = trace.getActiveSpan();
  if (!span) return {};
  const ctx = span.spanContext();
  return { traceId: ctx.traceId, spanId: ctx.spanId };
}
