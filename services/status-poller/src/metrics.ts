import type { ProviderName } from "@pinflow/contracts";
import { reasonLabel, rejectedEventsCounter } from "@pinflow/service-kit";
import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import type { CheckKind, Clock, WatchState } from "./poll.js";
import type { Backlog } from "./watch-store.js";

/** What the scheduler reports as it works; labels are low-cardinality enums only (no ids, no texts). */
export interface SchedulerObserver {
  checked(provider: ProviderName, outcome: CheckKind): void;
  settled(provider: ProviderName, state: Exclude<WatchState, "watching">, checks: number): void;
  leaseLost(provider: ProviderName): void;
}

export const noopObserver: SchedulerObserver = {
  checked: () => undefined,
  settled: () => undefined,
  leaseLost: () => undefined,
};

export class PollerMetrics implements SchedulerObserver {
  private readonly checks: Counter<"provider" | "outcome">;
  private readonly settledTotal: Counter<"provider" | "state">;
  private readonly lostLeases: Counter<"provider">;
  private readonly pollsPerCompleted: Histogram<"provider">;
  private readonly rejected: Counter<"reason">;
  private cached: { at: number; value: Promise<Backlog> } | undefined;

  constructor(
    registry: Registry,
    backlog: (now: Date) => Promise<Backlog>,
    clock: Clock,
  ) {
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

  eventRejected(reason: string): void {
    this.rejected.inc({ reason: reasonLabel(reason) });
  }
}
