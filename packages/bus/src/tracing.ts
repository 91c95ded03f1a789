import { context, propagation, trace, SpanKind, SpanStatusCode, type Context, type Span } from "@opentelemetry/api";
import type { MsgHdrs } from "@nats-io/transport-node";

/**
 * Looked up per span, not cached at import: an import that runs before the
 * service registers its tracer provider would otherwise keep a no-op tracer
 * (ESM and CommonJS copies of the API each have their own proxy).
 */
const tracer = () => trace.getTracer("@pinflow/bus");

/** Put the active trace context (W3C `traceparent`) into NATS headers. */
export function injectTraceContext(hdrs: MsgHdrs): void {
  propagation.inject(context.active(), hdrs, {
    set: (carrier, key, value) => carrier.set(key, value),
  });
}

export function extractTraceContext(hdrs: MsgHdrs | undefined): Context {
  if (!hdrs) return context.active();
  return propagation.extract(context.active(), hdrs, {
    get: (carrier, key) => (carrier.has(key) ? carrier.get(key) : undefined),
    keys: (carrier) => carrier.keys(),
  });
}

/** Run `fn` inside a span; the span ends with the promise and records failures. */
export async function inSpan<T>(
  name: string,
  kind: SpanKind,
  parent: Context,
  attributes: Record<string, string | number>,
  fn: () => Promise<T>,
): Promise<T> {
  return runInSpan(tracer().startSpan(name, { kind, attributes }, parent), parent, fn);
}

/** Run `fn` as the active span `span` (started under `parent`); the span ends with the promise and records failures. */
export async function runInSpan<T>(span: Span, parent: Context, fn: () => Promise<T>): Promise<T> {
  try {
    return await context.with(trace.setSpan(parent, span), fn);
  } catch (error) {
    span.recordException(error as Error);
    span.setStatus({ code: SpanStatusCode.ERROR });
    throw error;
  } finally {
    span.end();
  }
}

export { SpanKind };

/**
 * Start a consume span for a message applied later with others (a projection's batch): the caller
 * ends it once the message is applied, and marks it failed when the apply failed.
 */
export function startConsumeSpan(name: string, parent: Context, attributes: Record<string, string | number>): Span {
  return tracer().startSpan(name, { kind: SpanKind.CONSUMER, attributes }, parent);
}

export function endSpans(spans: readonly Span[], error?: unknown): void {
  for (const span of spans) {
    if (error !== undefined) {
      span.recordException(error as Error);
      span.setStatus({ code: SpanStatusCode.ERROR });
    }
    span.end();
  }
}
