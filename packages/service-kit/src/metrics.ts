import { collectDefaultMetrics, Counter, Registry } from "prom-client";

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
