import { register } from "node:module";
import type { IncomingMessage } from "node:http";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { ExpressInstrumentation } from "@opentelemetry/instrumentation-express";
import { HttpInstrumentation } from "@opentelemetry/instrumentation-http";
import { PgInstrumentation } from "@opentelemetry/instrumentation-pg";
import { NodeSDK } from "@opentelemetry/sdk-node";
import { AlwaysOffSampler, BatchSpanProcessor, type Sampler, type SpanProcessor } from "@opentelemetry/sdk-trace";
import { UrlRedactionProcessor } from "./url-redaction-processor.js";

/** Modules the ESM loader hook wraps (everything else loads untouched). */
const HOOKED_MODULES = ["pg", "pg-pool", "express", "http", "https", "node:http", "node:https"];

/** Probe and scrape paths: polled all the time, never part of an order's story. */
const UNTRACED_PATHS = /^\/(?:healthz|readyz|livez|health|ready|metrics)(?:[/?]|$)/;

let sdk: NodeSDK | undefined;

/** Whether spans leave the process (an OTLP endpoint is configured). */
export function exportConfigured(env: NodeJS.ProcessEnv = process.env): boolean {
  return Boolean(env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || env.OTEL_EXPORTER_OTLP_ENDPOINT) && env.OTEL_SDK_DISABLED !== "true";
}

/**
 * The sampler: with spans exported, the SDK's own (`OTEL_TRACES_SAMPLER`, by default every trace);
 * with nowhere to send them, none is recorded — a recorded span nobody exports is work thrown away
 * (about a fifth of each service's CPU at 100 orders/s, BENCHMARKS.md) — while every span still has
 * its ids, in log lines and in the `traceparent` passed on. `OTEL_TRACES_SAMPLER` set explicitly wins.
 */
export function samplerFor(env: NodeJS.ProcessEnv = process.env): Sampler | undefined {
  if (exportConfigured(env) || env.OTEL_TRACES_SAMPLER) return undefined;
  return new AlwaysOffSampler();
}

/**
 * Start the OpenTelemetry Node SDK for `service`. Must run before the service's own modules load:
 * each service's `start.ts` calls it, then imports `main.js`. Instruments inbound HTTP (Express),
 * outbound HTTP (the provider clients use `node:http`) and `pg` (only inside a trace: the poller's
 * idle claim queries would otherwise each make a trace of their own). W3C trace context is the
 * propagator, so the bus's `traceparent` headers and the outbox's stored contexts join one trace.
 * Spans are exported over OTLP/HTTP (JSON) to `OTEL_EXPORTER_OTLP_ENDPOINT` when it is set;
 * otherwise they are not recorded (`samplerFor`), and their ids still appear in log lines.
 */
export function startTelemetry(service: string): void {
  // OTEL_SDK_DISABLED=true: no SDK and no loader hook at all (a benchmark's baseline, a suspected instrumentation bug).
  if (sdk || process.env.OTEL_SDK_DISABLED === "true") return;
  // The services are ES modules: `pg` and `node:http` imported by them are patched through this hook.
  register("@opentelemetry/instrumentation/hook.mjs", import.meta.url, { data: { include: HOOKED_MODULES } });
  const spanProcessors: SpanProcessor[] = [new UrlRedactionProcessor()];
  if (exportConfigured()) spanProcessors.push(new BatchSpanProcessor({ exporter: new OTLPTraceExporter(), scheduledDelayMillis: 1000 }));
  sdk = new NodeSDK({
    serviceName: service,
    spanProcessors,
    sampler: samplerFor(),
    metricReaders: [],
    logRecordProcessors: [],
    instrumentations: [
      new HttpInstrumentation({
        ignoreIncomingRequestHook: (req: IncomingMessage) => UNTRACED_PATHS.test(req.url ?? ""),
        // Every query value is masked by UrlRedactionProcessor; this is the instrumentation's own first line.
        redactedQueryParams: ["kod", "sifre", "password", "pass", "token", "api_key", "apikey", "key"],
      }),
      new ExpressInstrumentation(),
      new PgInstrumentation({ requireParentSpan: true }),
    ],
  });
  sdk.start();
}

/** Export what is buffered and stop (on shutdown). A no-op when telemetry was never started. */
export async function stopTelemetry(): Promise<void> {
  const running = sdk;
  sdk = undefined;
  await running?.shutdown().catch(() => undefined);
}
