/**
 * Poll policies, pure (no pg, NATS or Nest): the named presets, the fixed
 * back-off of a preset, and which provider follows what (DESIGN.md §5).
 *
 * - `seed`: the schedule the system started with (60 s, then 30 s, 1 m, 2 m …
 *   capped at 10 m). Kept as it was, so `POLL_PRESET=seed` behaves exactly as before.
 * - `default`: every 30 s for two minutes, then ×1.4 up to 5 min, chosen
 *   from the policy benchmark (bench/, BENCHMARKS.md): see DEFAULT_POLICY.
 * - `adaptive`: check times learnt from the provider's own recent completion
 *   times (adaptive.ts), with the `default` preset (plus overrides) as the
 *   fallback until there are enough samples and for jitter, cap and deadline.
 */
import type { ProviderName } from "@pinflow/contracts";
import type { CheckBudget } from "./check-budget.js";

export interface PollPolicy {
  /** Delay from OrderSent to the first check. */
  firstDelayMs: number;
  /** Delays after the 1st, 2nd, … check; after the list, the last delay keeps growing. */
  delaysMs: readonly number[];
  /** Factor applied per check after `delaysMs` runs out (≥ 1). */
  growth: number;
  /** No delay (before jitter) is longer than this. */
  maxDelayMs: number;
  /** Bounded jitter as a fraction: 0.1 = ±10 %. */
  jitter: number;
  /** From OrderSent; past it without a final answer the order goes to review (never to failed). */
  deadlineMs: number;
  /** This many unclear replies (unknown / not found) in a row → review. */
  maxUnclearInRow: number;
  /**
   * Per-watch bounds on checks from sent (check-budget.ts): whatever places the checks, the next
   * one goes no earlier than they allow. Unset for the presets (their back-off is fixed); the
   * adaptive mode sets it from its settings.
   */
  checkBudget?: CheckBudget;
}

/** The seed schedule: 60 s, then 30 s, 1 m, 2 m, 4 m, 8 m, capped at 10 m; review after 24 h. */
export const SEED_POLICY: PollPolicy = {
  firstDelayMs: 60_000,
  delaysMs: [30_000, 60_000, 120_000],
  growth: 2,
  maxDelayMs: 600_000,
  jitter: 0.1,
  deadlineMs: 24 * 60 * 60 * 1000,
  maxUnclearInRow: 10,
};

/**
 * The default schedule: every 30 s for the first 2 minutes (30, 60, 90,
 * 120 s), then each gap ×1.4 (42 s, 59 s, 82 s, 115 s, 161 s, 226 s),
 * capped at 5 min; ±10 % jitter; review after 24 h.
 *
 * Why (numbers: `node bench/dist/policy-bench.js`, BENCHMARKS.md): against
 * the seed, on both benchmark distributions (fast: median 20 s, p95 3 min;
 * slow: median 5 min, p95 30 min), it halves the p95 detection delay and
 * more than halves the median, for about 1.35× the seed's checks per
 * completed order on the fast provider and 1.65× on the slow one, and 19
 * checks in the first hour of an order that never finishes (seed: 10).
 * Chosen by the benchmark's sweep of fixed presets (`--sweep 1`: first delay
 * 10–30 s × 1–5 such steps × growth 1.3–2 × cap 3/5/10 min): of those costing
 * ≤ 1.75× the seed's checks on both providers and ≤ 20 first-hour checks,
 * ranked by the worse of the two p95 ratios to the seed, the top three are
 * within 0.49–0.52 of each other; this one (0.52) is the cheapest of them on
 * the slow provider (1.64× vs 1.70–1.74×). The seed loses most of its delay
 * to its first check at 60 s (a fast provider has finished half its orders by
 * 20 s) and to its 10-minute cap (a slow provider's orders finish over half
 * an hour); the 30-second steps cover the first two minutes, the growth of
 * 1.4 keeps a check within ~40 % of the time already waited, and the 5-minute
 * cap bounds the rest. A fixed preset cannot do much better on both shapes at once: the
 * adaptive mode learns each provider's own.
 */
export const DEFAULT_POLICY: PollPolicy = {
  firstDelayMs: 30_000,
  delaysMs: [30_000, 30_000, 30_000],
  growth: 1.4,
  maxDelayMs: 300_000,
  jitter: 0.1,
  deadlineMs: 24 * 60 * 60 * 1000,
  maxUnclearInRow: 10,
};

export type PresetName = "seed" | "default";
export const PRESET_NAMES: readonly PresetName[] = ["seed", "default"];
export const PRESETS: Readonly<Record<PresetName, PollPolicy>> = { seed: SEED_POLICY, default: DEFAULT_POLICY };

/** What a provider's checks follow: a preset's fixed back-off, or times learnt from its completions. */
export type PollMode = PresetName | "adaptive";
export const POLL_MODES: readonly PollMode[] = ["seed", "default", "adaptive"];

/** The delay before a policy's jitter, after `attempt` checks (0 = before the first). */
export function baseDelayMs(policy: PollPolicy, attempt: number): number {
  if (attempt <= 0) return Math.min(policy.firstDelayMs, policy.maxDelayMs);
  const listed = policy.delaysMs[attempt - 1];
  if (listed !== undefined) return Math.min(listed, policy.maxDelayMs);
  const last = policy.delaysMs.at(-1) ?? policy.firstDelayMs;
  const beyond = attempt - policy.delaysMs.length;
  // Grow step by step so a huge attempt number cannot overflow to Infinity/NaN.
  let delay = last;
  for (let i = 0; i < beyond && delay < policy.maxDelayMs; i++) delay *= Math.max(1, policy.growth);
  return Math.min(Math.round(delay), policy.maxDelayMs);
}

/**
 * Bounded jitter: `random` in [0, 1) maps linearly to [-jitter, +jitter) of
 * `baseMs` (jitter is clamped to [0, 1], random to [0, 1]).
 */
export function withJitter(baseMs: number, jitter: number, random: number): number {
  const r = Math.min(Math.max(random, 0), 1);
  const j = Math.min(Math.max(jitter, 0), 1);
  return Math.max(0, Math.round(baseMs * (1 + j * (2 * r - 1))));
}

/** The delay before the next check after `attempt` checks, with the policy's bounded jitter. */
export function nextDelayMs(policy: PollPolicy, attempt: number, random: number): number {
  return withJitter(baseDelayMs(policy, attempt), policy.jitter, random);
}

// ---------------------------------------------------------------------------
// Adaptive settings (the method is in adaptive.ts)

export interface AdaptiveSettings {
  /** Fewer samples than this for (provider, package) → use the provider's; fewer for the provider → the preset. */
  minSamples: number;
  /** Most recent completions kept and used per (provider, package) (and per provider for the fallback). */
  window: number;
  /**
   * Mean checks per completed order the learnt schedule may spend, as a multiple
   * of what the `reference` preset would have spent on the same recorded completions.
   */
  budget: number;
  /** The preset the budget is stated against (the seed: the load providers have seen from us). */
  reference: PollPolicy;
  /** The detection-delay quantile the schedule is chosen to minimise (0.95 = p95). */
  delayQuantile: number;
  /** At most this many checks in the first hour of an order that never finishes, even with every gap jittered short. */
  maxChecksFirstHour: number;
  /** No two checks closer than this (before jitter). */
  minGapMs: number;
  /** Beyond the observed distribution, each gap is (growth − 1) × the time already waited. */
  tailGrowth: number;
  /** Hard, per watch (check-budget.ts): never more checks than this in the first hour after sent. */
  firstHourLimit: number;
  /** Hard, per watch: never more checks than this in the first day after sent. */
  dayLimit: number;
  /** Past the largest completion time observed, gaps may grow beyond the preset's cap up to this. */
  lateCapMs: number;
}

/**
 * Defaults for the adaptive mode. Budget 1.9: the bound is 2× the
 * seed's checks per completed order; the 5 % margin absorbs the error of
 * estimating from intervals. First hour: the promise is at most 30 checks
 * for an order that never finishes, enforced per watch (`firstHourLimit`,
 * check-budget.ts) whatever schedules it follows; a learnt schedule keeps 27
 * even if every gap is jittered short so the hard bound rarely has to act.
 * Per day: at most 100 per watch (`dayLimit`; the seed spends ~150, the
 * default ~300 on an order that never finishes); past the largest completion
 * seen, gaps grow to `lateCapMs` (30 min). minSamples 100: the default
 * preset until then (cold start). delayQuantile 0.96: the goal is on the p95,
 * but a schedule chosen for the p95 of its sample puts the tail's first ~5 %
 * of orders exactly at that edge, so a window whose tail is a little heavier
 * than the sample's missed it (fast, orders 5,000–5,999: p95 44.8 s, not
 * 20 s); the p96 leaves a margin.
 */
export const DEFAULT_ADAPTIVE: AdaptiveSettings = {
  minSamples: 100,
  window: 2000,
  budget: 1.9,
  reference: SEED_POLICY,
  delayQuantile: 0.96,
  maxChecksFirstHour: 27,
  minGapMs: 5000,
  tailGrowth: 1.5,
  firstHourLimit: 30,
  dayLimit: 100,
  lateCapMs: 30 * 60_000,
};

/** The adaptive mode's per-watch bounds: first hour and first day. */
export function adaptiveCheckBudget(settings: Pick<AdaptiveSettings, "firstHourLimit" | "dayLimit">): CheckBudget {
  return [
    { withinMs: 3_600_000, maxChecks: settings.firstHourLimit },
    { withinMs: 24 * 3_600_000, maxChecks: settings.dayLimit },
  ];
}

// ---------------------------------------------------------------------------
// Per-provider selection

/** How one provider's orders are checked. */
export type ProviderPolling =
  /** `preset` names where the policy came from ("custom": given whole, e.g. by a test). */
  | { mode: "preset"; preset: PresetName | "custom"; policy: PollPolicy }
  /** `policy` is the fallback preset (with overrides): used until enough samples, and for jitter, cap, deadline, unclear replies. */
  | { mode: "adaptive"; policy: PollPolicy; adaptive: AdaptiveSettings };

export type PollingPlan = Readonly<Record<ProviderName, ProviderPolling>>;

export interface PollingChoice {
  /** The mode of every provider without its own. */
  mode: PollMode;
  /** Per-provider modes (POLL_PRESET_<PROVIDER>). */
  byProvider: Partial<Record<ProviderName, PollMode>>;
  /** POLL_* overrides, applied on top of whichever preset a provider uses. */
  overrides: Partial<PollPolicy>;
  adaptive: AdaptiveSettings;
  /** The preset an adaptive provider falls back to (before overrides). */
  adaptiveFallback: PresetName;
}

/** The preset with the overrides that are set. */
export function withOverrides(policy: PollPolicy, overrides: Partial<PollPolicy>): PollPolicy {
  const out: PollPolicy = { ...policy };
  for (const key of Object.keys(overrides) as Array<keyof PollPolicy>) {
    const value = overrides[key];
    if (value !== undefined) (out as unknown as Record<string, unknown>)[key] = value;
  }
  return out;
}

export function providerPolling(mode: PollMode, choice: Pick<PollingChoice, "overrides" | "adaptive" | "adaptiveFallback">): ProviderPolling {
  switch (mode) {
    case "seed":
    case "default":
      return { mode: "preset", preset: mode, policy: withOverrides(PRESETS[mode], choice.overrides) };
    case "adaptive":
      return {
        mode: "adaptive",
        // The budget holds per watch whichever schedule is current: learnt, or the fallback preset.
        policy: { ...withOverrides(PRESETS[choice.adaptiveFallback], choice.overrides), checkBudget: adaptiveCheckBudget(choice.adaptive) },
        adaptive: choice.adaptive,
      };
    default:
      return assertNeverMode(mode);
  }
}

export function pollingPlan(choice: PollingChoice, providers: readonly ProviderName[]): PollingPlan {
  const plan = {} as Record<ProviderName, ProviderPolling>;
  for (const provider of providers) plan[provider] = providerPolling(choice.byProvider[provider] ?? choice.mode, choice);
  return plan;
}

/** Every provider on one fixed policy (the shape used before presets: tests and tools). */
export function fixedPlan(policy: PollPolicy, providers: readonly ProviderName[]): PollingPlan {
  const plan = {} as Record<ProviderName, ProviderPolling>;
  for (const provider of providers) plan[provider] = { mode: "preset", preset: "custom", policy };
  return plan;
}

function assertNeverMode(value: never): never {
  throw new Error(`unexpected poll mode: ${JSON.stringify(value)}`);
}
