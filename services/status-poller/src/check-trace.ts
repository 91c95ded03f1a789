/**
 * The poller's checks continue the trace of the OrderSent that created the watch (its context is
 * stored with the watch): one provider call is one span in the first watch's trace, linked to the
 * traces of the other watches it asks about; what a check commits for a watch (its events, which
 * the outbox relay publishes with that context) is recorded in that watch's own trace.
 */
import { propagation, ROOT_CONTEXT, SpanKind, trace, type Context, type Link } from "@opentelemetry/api";
import { runInSpan } from "@pinflow/bus";
import type { Claim } from "./watch-store.js";

/** Looked up per span: the SDK registers its provider before this runs, but never mind the order. */
const tracer = () => trace.getTracer("@pinflow/status-poller");

/** The stored trace context of a claim's watch (the root context when it has none). */
export function claimContext(claim: Claim): Context {
  return claim.traceContext ? propagation.extract(ROOT_CONTEXT, claim.traceContext) : ROOT_CONTEXT;
}

/** Run one provider call's unit (gate, call, results) in a span continuing the first watch's trace. */
export function traceCheckUnit<T>(provider: string, claims: readonly Claim[], fn: () => Promise<T>): Promise<T> {
  const parent = claims[0] ? claimContext(claims[0]) : ROOT_CONTEXT;
  const links: Link[] = [];
  for (const claim of claims.slice(1)) {
    const linked = trace.getSpanContext(claimContext(claim));
    if (linked) links.push({ context: linked });
  }
  const span = tracer().startSpan(
    `status check ${provider}`,
    {
      kind: SpanKind.INTERNAL,
      attributes: { "pinflow.provider": provider, "pinflow.order_ids": claims.map((c) => c.watch.orderId), "pinflow.watches": claims.length },
      links,
    },
    parent,
  );
  return runInSpan(span, parent, fn);
}

/**
 * Run `fn` (storing a check's decision for `claim`) in the claim's own trace: directly when the
 * active span already belongs to it, else in a span of its own under the watch's stored context.
 */
export function inClaimTrace<T>(claim: Claim, fn: () => Promise<T>): Promise<T> {
  const own = claimContext(claim);
  const ownTrace = trace.getSpanContext(own)?.traceId;
  const activeTrace = trace.getActiveSpan()?.spanContext().traceId;
  if (ownTrace !== undefined && ownTrace === activeTrace) return fn();
  const span = tracer().startSpan("status check result", { kind: SpanKind.INTERNAL, attributes: { "pinflow.order_id": claim.watch.orderId } }, own);
  return runInSpan(span, own, fn);
}
