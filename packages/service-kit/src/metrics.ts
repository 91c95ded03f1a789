import { collectDefaultMetrics, Counter, Gauge, Registry } from "prom-client";

export function createMetricsRegistry(service: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry });
  return registry;
}

/** Malformed events a service refused (logged too): the alarm for a bad producer. */
export function rejectedEventsCounter(registry: Registry): Counter<"reason"> {
  return new Counter({
    name: "pinflow_events_rejected_total",
    help: "Events rejected as malformed or unprocessable",
    labelNames: ["reason"],
    registers: [registry],
  });
}

/** Reduce a free-text rejection reason to a low-cardinality label. */
export function reasonLabel(reason: string): string {
  return reason.split(/[:(]/)[0]!.trim().slice(0, 40) || "unknown";
}

/**
 * The lag of the service's durable consumers, read from the server at each scrape:
 * `pinflow_consumer_pending{durable}` (not delivered yet: the alert's consumer lag) and
 * `pinflow_consumer_ack_pending{durable}` (delivered, not acknowledged). A failed read leaves the
 * gauges empty, so the alert sees no series (the absent() rule), never a stale value.
 */
export function consumerLagGauges(registry: Registry, read: () => Promise<readonly { durable: string; pending: number; ackPending: number }[]>): void {
  const collectInto = (gauge: Gauge<"durable">, pick: (b: { pending: number; ackPending: number }) => number) => async () => {
    gauge.reset();
    try {
      for (const b of await read()) gauge.set({ durable: b.durable }, pick(b));
    } catch {
      // Unreadable (NATS away): no series rather than a stale one.
    }
  };
  const pending: Gauge<"durable"> = new Gauge({
    name: "pinflow_consumer_pending",
    help: "Messages matching the durable consumer not yet delivered (its lag)",
    labelNames: ["durable"],
    registers: [registry],
    collect: () => collectInto(pending, (b) => b.pending)(),
  });
  const ackPending: Gauge<"durable"> = new Gauge({
    name: "pinflow_consumer_ack_pending",
    help: "Messages delivered to the durable consumer and not yet acknowledged",
    labelNames: ["durable"],
    registers: [registry],
    collect: () => collectInto(ackPending, (b) => b.ackPending)(),
  });
}

/** Messages a durable consumer was given again (delivery count above 1), by durable. */
export function redeliveredEventsCounter(registry: Registry): Counter<"durable"> {
  return new Counter({
    name: "pinflow_events_redelivered_total",
    help: "Messages delivered again to a durable consumer (handed back to wait, failed before, or not acknowledged in time)",
    labelNames: ["durable"],
    registers: [registry],
  });
}
