/**
 * Which schedule a watch follows: the provider's preset, or (adaptive mode)
 * the schedule learnt from its recent completions. The learnt schedules are
 * rebuilt by `refresh()`, which the scheduler calls periodically (never per
 * check); between refreshes, choosing a cadence is a map lookup.
 */
import { ProviderName } from "@pinflow/contracts";
import type { Logger } from "pino";
import { learnSchedules, NO_SCHEDULES, type LearntSchedules } from "./adaptive.js";
import { cadenceFor, type Cadence } from "./poll.js";
import { DEFAULT_ADAPTIVE, fixedPlan, type PollingPlan, type PollPolicy, type ProviderPolling } from "./policy.js";
import type { WatchStore } from "./watch-store.js";

export type CompletionSource = Pick<WatchStore, "recentCompletions" | "trimCompletions" | "pendingWatches">;

/**
 * Pending watches read per (provider, package), as a multiple of the completions window: the
 * learner counts the pending orders sent since its oldest completion (survival.ts), and a slow
 * provider can have more of those than completions.
 */
const PENDING_PER_WINDOW = 2;

export class PollPlanner {
  private learnt: LearntSchedules = NO_SCHEDULES;
  private refreshing: Promise<void> | undefined;

  constructor(
    readonly plan: PollingPlan,
    private readonly source: CompletionSource,
    private readonly logger: Logger,
  ) {}

  /** Every provider on one preset policy (no learning). */
  static fixed(policy: PollPolicy, source: CompletionSource, logger: Logger): PollPlanner {
    return new PollPlanner(fixedPlan(policy, ProviderName.options), source, logger);
  }

  pollingFor(provider: ProviderName): ProviderPolling {
    return this.plan[provider];
  }

  /** The provider's policy: its preset, or the adaptive mode's fallback preset (jitter, cap, deadline, unclear limit). */
  policyFor(provider: ProviderName): PollPolicy {
    return this.plan[provider].policy;
  }

  cadenceFor(provider: ProviderName, packageId: string): Cadence {
    return cadenceFor(this.plan[provider], this.learnt, provider, packageId);
  }

  /** The schedules learnt at the last refresh. */
  schedules(): LearntSchedules {
    return this.learnt;
  }

  /** Whether any provider learns its schedule. */
  get adaptive(): boolean {
    return ProviderName.options.some((p) => this.plan[p].mode === "adaptive");
  }

  /**
   * Trim the recorded completions to their windows and, for adaptive
   * providers, learn the schedules again from them and the pending watches
   * (`now`: the scheduler's clock, how old each pending order is). Samples are recorded in
   * every mode (so switching a provider to adaptive starts from its history),
   * and trimmed in every mode (so the table stays bounded).
   */
  refresh(now: Date = new Date()): Promise<void> {
    this.refreshing ??= this.doRefresh(now).finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }

  private async doRefresh(now: Date): Promise<void> {
    const window = this.window();
    const trimmed = await this.source.trimCompletions(window);
    if (trimmed > 0) this.logger.debug({ trimmed, window }, "old completion samples trimmed");
    if (!this.adaptive) return;
    const records = await this.source.recentCompletions(window);
    const pendingPerKey = window * PENDING_PER_WINDOW;
    const pending = await this.source.pendingWatches(pendingPerKey);
    const before = this.learnt;
    const after = learnSchedules(
      records,
      (provider) => {
        const polling = this.plan[provider];
        return polling.mode === "adaptive" ? { settings: polling.adaptive, policy: polling.policy } : null;
      },
      before,
      { pending, pendingPerKey, nowMs: now.getTime() },
    );
    this.learnt = after;
    for (const [provider, s] of after.byProvider) {
      if (before.byProvider.get(provider) === s) continue;
      this.logger.info(
        {
          provider,
          samples: s.basis.samples,
          hazard: s.hazard,
          maxGapMs: s.maxGapMs,
          tailFromMs: Math.round(s.tailFromMs),
          expectedChecks: round2(s.basis.expectedChecks),
          budgetChecks: round2(s.basis.budgetChecks),
          expectedP95DelayMs: Math.round(s.basis.expectedDelayMs),
          firstHourChecks: s.basis.firstHourChecks,
        },
        "adaptive schedule learnt",
      );
    }
    for (const provider of before.byProvider.keys()) {
      if (!after.byProvider.has(provider)) this.logger.warn({ provider }, "adaptive schedule dropped; back on the preset");
    }
  }

  /** The largest window any provider uses (the default when none is adaptive). */
  private window(): number {
    let window = 0;
    for (const p of ProviderName.options) {
      const polling = this.plan[p];
      if (polling.mode === "adaptive") window = Math.max(window, polling.adaptive.window);
    }
    return window > 0 ? window : DEFAULT_ADAPTIVE.window;
  }
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}
