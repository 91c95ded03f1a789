import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import type { DeadLetter } from "@pinflow/bus";
import { deadLettersCounter, rejectedEventsCounter, reasonLabel } from "@pinflow/service-kit";

/** Outcomes of one handling step (low cardinality, fixed set). */
export type DispatchOutcome =
  | "accepted"
  | "reconciled"
  | "refused"
  | "ambiguous"
  | "retry"
  | "place_again"
  | "review"
  | "no_route"
  | "busy"
  /** A delivery came before the row's next reconcile was due: it waits (no call). */
  | "not_due"
  /** A definite refusal moved the order to the next offer. */
  | "fallback"
  /** Every offer was refused without a call (cost above the maximum). */
  | "refused_without_call"
  /** The provider's limits held the call back (paused, circuit open, rate, concurrency): the order waits. */
  | "held";

export type ProviderErrorKind =
  | "place_ambiguous"
  | "check_unknown"
  | "check_not_found"
  | "balance_failed"
  | "not_configured"
  /** The provider shut us out (znet's empty body: wrong password, API access off, IP not allowed). */
  | "access_denied";

export type GateBlockReason = "paused" | "circuit_open" | "rate_limited" | "busy";

export class DispatchMetrics {
  readonly dispatches: Counter<"provider" | "outcome">;
  readonly latency: Histogram<"provider">;
  readonly providerErrors: Counter<"provider" | "kind">;
  readonly rejected: Counter<"reason">;
  readonly deadLetters: Counter<"consumer" | "kind">;
  readonly balances: Gauge<"provider">;
  readonly held: Counter<"provider" | "reason">;
  readonly aboveMaximum: Counter<"provider">;
  readonly holds: Counter<"provider" | "reason">;

  constructor(registry: Registry) {
    this.dispatches = new Counter({
      name: "pinflow_dispatch_total",
      help: "Dispatch handling steps by provider and outcome",
      labelNames: ["provider", "outcome"],
      registers: [registry],
    });
    this.latency = new Histogram({
      name: "pinflow_dispatch_latency_seconds",
      help: "Time from OrderCreated (occurredAt) to the provider's acceptance being known",
      labelNames: ["provider"],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900],
      registers: [registry],
    });
    this.providerErrors = new Counter({
      name: "pinflow_provider_errors_total",
      help: "Unclear or failed provider calls by provider and kind",
      labelNames: ["provider", "kind"],
      registers: [registry],
    });
    this.rejected = rejectedEventsCounter(registry);
    this.deadLetters = deadLettersCounter(registry);
    this.balances = new Gauge({
      name: "pinflow_provider_balance",
      help: "The reseller balance at the provider (TRY), refreshed periodically and from acceptances",
      labelNames: ["provider"],
      registers: [registry],
    });
    this.held = new Counter({
      name: "pinflow_provider_calls_held_total",
      help: "Provider calls held back by the provider's limits (the order waits), by reason",
      labelNames: ["provider", "reason"],
      registers: [registry],
    });
    this.holds = new Counter({
      name: "pinflow_dispatch_held_total",
      help: "Orders that started to wait before dispatch (DispatchHeld), by provider and reason (paused, circuit open, shut out, not configured)",
      labelNames: ["provider", "reason"],
      registers: [registry],
    });
    this.aboveMaximum = new Counter({
      name: "pinflow_cost_above_maximum_total",
      help: "Accepted orders the provider charged more than the route's maxCost for (OrderSent.costAboveMaximum)",
      labelNames: ["provider"],
      registers: [registry],
    });
  }

  /** A DispatchHeld was appended: an order started to wait for `reason` (or its reason changed). */
  orderHeld(provider: string, reason: string): void {
    this.holds.inc({ provider, reason });
  }

  costAboveMaximum(provider: string): void {
    this.aboveMaximum.inc({ provider });
  }

  balance(provider: string, balance: string): void {
    const n = Number(balance);
    if (Number.isFinite(n)) this.balances.set({ provider }, n);
  }

  heldBack(provider: string, reason: GateBlockReason): void {
    this.held.inc({ provider, reason });
  }

  outcome(provider: string, outcome: DispatchOutcome): void {
    this.dispatches.inc({ provider, outcome });
  }

  providerError(provider: string, kind: ProviderErrorKind): void {
    this.providerErrors.inc({ provider, kind });
  }

  acceptedAfter(provider: string, seconds: number): void {
    if (Number.isFinite(seconds)) this.latency.observe({ provider }, Math.max(0, seconds));
  }

  deadLettered(letter: DeadLetter): void {
    this.deadLetters.inc({ consumer: letter.consumer, kind: letter.kind });
  }

  rejectedEvent(reason: string): void {
    this.rejected.inc({ reason: reasonLabel(reason) });
  }
}
