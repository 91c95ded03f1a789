import type { ProviderName } from "@pinflow/contracts";
import type { DeadLetter } from "@pinflow/bus";
import { deadLettersCounter, reasonLabel, rejectedEventsCounter } from "@pinflow/service-kit";
import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import type { CallOutcome } from "@pinflow/limits";
import type { CheckKind, Clock, HoldReason, WatchState } from "./poll.js";
import type { Backlog } from "./watch-store.js";

/** What the scheduler reports as it works; labels are low-cardinality enums only (no ids, no texts). */
export interface SchedulerObserver {
  checked(provider: ProviderName, outcome: CheckKind): void;
  settled(provider: ProviderName, state: Exclude<WatchState, "watching">, checks: number): void;
  leaseLost(provider: ProviderName): void;
  /** A provider call (one reference or one batch) was made; what it told the breaker. */
  called(provider: ProviderName, outcome: CallOutcome["kind"]): void;
  /** A provider call was not made (or its answer was an outage): its watches wait. */
  held(provider: ProviderName, reason: HoldReason): void;
  /** An order was found done this long (s) after the last check that saw it pending (or after it was sent). */
  detected(provider: ProviderName, seconds: number): void;
}

export const noopObserver: SchedulerObserver = {
  checked: () => undefined,
  settled: () => undefined,
  leaseLost: () => undefined,
  called: () => undefined,
  held: () => undefined,
  detected: () => undefined,
};

/** The provider limits' state, read at scrape time (paused, circuit open). */
export type GateStatusSource = () => Promise<Array<{ provider: string; paused: boolean; circuitOpenForMs: number }>>;

export class PollerMetrics implements SchedulerObserver {
  private readonly checks: Counter<"provider" | "outcome">;
  private readonly settledTotal: Counter<"provider" | "state">;
  private readonly lostLeases: Counter<"provider">;
  private readonly pollsPerCompleted: Histogram<"provider">;
  private readonly rejected: Counter<"reason">;
  private readonly deadLetters: Counter<"consumer" | "kind">;
  private readonly providerCalls: Counter<"provider" | "outcome">;
  private readonly heldCalls: Counter<"provider" | "reason">;
  private readonly detectionDelay: Histogram<"provider">;
  private cached: { at: number; value: Promise<Backlog> } | undefined;

  constructor(
    registry: Registry,
    backlog: (now: Date) => Promise<Backlog>,
    clock: Clock,
    gates: GateStatusSource = async () => [],
  ) {
    this.providerCalls = new Counter({
      name: "pinflow_provider_calls_total",
      help: "Status calls made to a provider (a batch call counts once), by what they told the circuit breaker (ok, failure, retry_after)",
      labelNames: ["provider", "outcome"],
      registers: [registry],
    });
    this.heldCalls = new Counter({
      name: "pinflow_provider_calls_held_total",
      help: "Provider calls held back by the provider's limits or its own Retry-After (the watches wait, never fail), by reason",
      labelNames: ["provider", "reason"],
      registers: [registry],
    });
    this.detectionDelay = new Histogram({
      name: "pinflow_detection_delay_seconds",
      help: "For each order found done: time from the last check that saw it pending (or from OrderSent) to the check that found it done; an upper bound of provider done -> we know",
      labelNames: ["provider"],
      buckets: [1, 2, 5, 10, 20, 30, 60, 120, 180, 300, 600, 1200, 1800, 3600],
      registers: [registry],
    });
    // Read from the gate at scrape time, once for both gauges (cached 1 s).
    let gatesCached: { at: number; value: ReturnType<GateStatusSource> } | undefined;
    const readGates = async (): Promise<Array<{ provider: string; paused: boolean; circuitOpenForMs: number }>> => {
      const now = Date.now();
      if (!gatesCached || now - gatesCached.at > 1000) gatesCached = { at: now, value: gates() };
      try {
        return await gatesCached.value;
      } catch {
        return [];
      }
    };
    new Gauge({
      name: "pinflow_provider_paused",
      help: "1 while an operator has paused the poller's checks of the provider",
      labelNames: ["provider"],
      registers: [registry],
      async collect() {
        for (const g of await readGates()) this.set({ provider: g.provider }, g.paused ? 1 : 0);
      },
    });
    new Gauge({
      name: "pinflow_provider_circuit_open_seconds",
      help: "How much longer the provider's circuit stays open (0 = closed): its checks wait",
      labelNames: ["provider"],
      registers: [registry],
      async collect() {
        for (const g of await readGates()) this.set({ provider: g.provider }, g.circuitOpenForMs / 1000);
      },
    });
    this.checks = new Counter({
      name: "pinflow_status_checks_total",
      help: "Provider status checks, by provider and outcome",
      labelNames: ["provider", "outcome"],
      registers: [registry],
    });
    this.settledTotal = new Counter({
      name: "pinflow_watches_settled_total",
      help: "Watches that left the schedule, by final state (completed, failed, review)",
      labelNames: ["provider", "state"],
      registers: [registry],
    });
    this.lostLeases = new Counter({
      name: "pinflow_watch_leases_lost_total",
      help: "Check results discarded because the claim had passed to another replica",
      labelNames: ["provider"],
      registers: [registry],
    });
    this.pollsPerCompleted = new Histogram({
      name: "pinflow_polls_per_completed_order",
      help: "Status checks it took until the PIN arrived",
      labelNames: ["provider"],
      buckets: [1, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 50, 100, 200],
      registers: [registry],
    });
    this.rejected = rejectedEventsCounter(registry);
    this.deadLetters = deadLettersCounter(registry);

    // Backlog gauges are read from the database at scrape time (one query shared by both, cached 1 s).
    const readBacklog = (): Promise<Backlog> => {
      const now = Date.now();
      if (!this.cached || now - this.cached.at > 1000) {
        const value = backlog(clock.now());
        value.catch(() => undefined);
        this.cached = { at: now, value };
      }
      return this.cached.value;
    };
    new Gauge({
      name: "pinflow_watch_backlog",
      help: "Watches due for a check that no poller has claimed yet",
      registers: [registry],
      async collect() {
        try {
          this.set((await readBacklog()).due);
        } catch {
          // Leave the last value; the readiness probe reports the database.
        }
      },
    });
    new Gauge({
      name: "pinflow_oldest_overdue_check_seconds",
      help: "How long the most overdue unclaimed check has been due (0 when none)",
      registers: [registry],
      async collect() {
        try {
          const { oldestDueAt } = await readBacklog();
          this.set(oldestDueAt === null ? 0 : Math.max(0, (clock.now().getTime() - oldestDueAt.getTime()) / 1000));
        } catch {
          // as above
        }
      },
    });
  }

  checked(provider: ProviderName, outcome: CheckKind): void {
    this.checks.inc({ provider, outcome });
  }

  settled(provider: ProviderName, state: Exclude<WatchState, "watching">, checks: number): void {
    this.settledTotal.inc({ provider, state });
    if (state === "completed") this.pollsPerCompleted.observe({ provider }, checks);
  }

  leaseLost(provider: ProviderName): void {
    this.lostLeases.inc({ provider });
  }

  called(provider: ProviderName, outcome: CallOutcome["kind"]): void {
    this.providerCalls.inc({ provider, outcome });
  }

  held(provider: ProviderName, reason: HoldReason): void {
    this.heldCalls.inc({ provider, reason });
  }

  detected(provider: ProviderName, seconds: number): void {
    this.detectionDelay.observe({ provider }, seconds);
  }

  deadLettered(letter: DeadLetter): void {
    this.deadLetters.inc({ consumer: letter.consumer, kind: letter.kind });
  }

  eventRejected(reason: string): void {
    this.rejected.inc({ reason: reasonLabel(reason) });
  }
}
