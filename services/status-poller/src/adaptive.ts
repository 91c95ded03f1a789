/**
 * Adaptive check times, pure (no pg, NATS or Nest; time and randomness passed
 * in): the next check of a watch is placed from how long this provider (and
 * package) actually took to finish its recent orders.
 *
 * ## Data
 * A completed order tells us an interval: it was still pending at the last
 * check that said so (L ms after it was sent; 0 if none did) and done at the
 * check that found it done (U ms). Its time to done is estimated by a point
 * of [L, U] fixed by the interval (sampleValueMs: a hash, so the estimates of
 * many orders spread over their intervals instead of piling up at midpoints
 * on the recording schedule's grid). The poller keeps the most recent `window` (2,000)
 * per (provider, package). The learnt distribution is kept as a table of 201
 * quantiles (levels 0, 0.5 %, …, 100 %), so a schedule's memory and its
 * per-check cost (two binary searches in 201 numbers) do not grow with the
 * number of orders. From it: Q(p), the empirical quantile function, and
 * S(t) = 1 − F(t), the share of orders not yet done t ms after they were sent.
 *
 * ## Schedule
 * After a check at `t` ms after sent found the order pending, the next one
 * goes at t + gap, clamped to [minGap, cap], where
 *
 *     body (t < t* = Q(q*)):  gap = min( Q(1 − (1 − h)·S(t)) − t,  max(min(D, P(t)), Q(F(t) + ε) − t) )
 *     tail (t* ≤ t < Q(1)):   gap = min( max(D, (g − 1)·t),  max(f·P(t), Q(F(t) + ε) − t) )
 *     late (t ≥ Q(1)):        gap = max(D, (g − 1)·t), up to the late cap (30 min) instead of the cap
 *
 * where P(t) is the fallback preset's gap around t (its next check time
 * minus the one before) and f ∈ {1, 2} a candidate.
 *
 * - The quantile step puts the next check where the survival has dropped by
 *   the factor (1 − h): S(t_next) = (1 − h)·S(t), i.e. each check has about
 *   the same conditional chance h of finding the order done (checks sit at
 *   the quantiles 1 − (1 − h)^k of the observed distribution). It is computed
 *   from the time actually waited, not from the attempt number, so jitter, a
 *   late scheduler or a model refreshed mid-watch never skew later checks.
 * - D caps the gap: an order that finishes in the body waits at most D for
 *   its check. This is what bounds the p95 detection delay. The cap gives way
 *   only where almost nothing finishes: a gap may run on until another
 *   ε = 0.5 % of the orders can have finished, so no checks are spent on a
 *   provider's minimum processing time or the valley between two modes.
 * - P(t): wherever orders finish, no gap in the body is longer than the
 *   preset's at the same time (in the tail, f times it), so no group of
 *   orders waits much longer than under the preset (the objective, below).
 * - Past the sample's tail quantile t*, the observed distribution has little
 *   left to say (and orders that never finish are not in it at all): gaps grow
 *   geometrically with the time already waited (g = 1.5, i.e. gap = t/2),
 *   from D up to the preset's cap; past the largest completion observed,
 *   up to the late cap, so an order that never finishes costs few checks
 *   per day (issue 13: ~65 a day on the fast benchmark provider, seed 150).
 * - Per watch, whatever places the checks (this schedule, the next one
 *   learnt, the fallback preset): never more than 30 checks in the first
 *   hour or 100 in the first day (check-budget.ts, applied in poll.ts).
 *
 * ## Choosing h, D and q*
 * At each refresh (not per check) candidate schedules are replayed against
 * the sample itself: for each recorded time to done, which check would have
 * found it and how long after. Among the candidates whose mean checks per
 * completed order stay within `budget` × what the reference preset (the seed)
 * would have spent on the same orders, whose first hour has at most
 * `maxChecksFirstHour` checks even if the jitter makes every gap as short as
 * it can, and which serve no group of orders worse than the fallback preset
 * does on the same sample (groups: times to done on a log scale, < 15 s,
 * 15 s–1 min, 1–4 min, … each 4× the last; a group counts from 5 % of the
 * sample; mean delay within 10 % + 1 s of the preset's), the one with the
 * smallest p95 detection delay wins (ties: smaller mean delay, then fewer
 * checks). None fits → the preset. The grid is h ∈ {0.3, 0.5, 0.7},
 * q* ∈ {0.90 … 0.99}, f ∈ {1, 2}, and for each a binary search over D from
 * minGap to the cap in 4 % steps (checks and first-hour checks only shrink
 * as D grows, group delays only grow, so the smallest feasible D is the best).
 * ~30–90 ms per (provider, package) on the benchmark machine, redone only
 * when its sample changed.
 *
 * ## Objective: why p95 under a per-group floor
 * The p95 detection delay is what the goals are stated in, but alone it lets
 * a schedule give up on a minority or, in a mixture, make the fast majority
 * wait for the sake of the slow mode (issue 13). The floor says: whatever the
 * schedule gains on p95, every completion-time group is served about as well
 * as by the default preset, and a provider where that costs more than the
 * budget stays on the preset. Cold start: the preset until `minSamples`.
 *
 * ## Completed and pending orders (learnSchedules with a LearningContext)
 * Completions alone are right-censored early in a regime: the slow orders
 * are still pending, so the sample looks faster than the provider is. With
 * the pending watches (and each completion's done time), the distribution is
 * the product-limit estimate of both (survival.ts, censoredSample): a pending
 * order is not done up to its last pending check; an order sent before the
 * oldest recorded completion counts from the age it had then. The schedule is
 * learnt from that estimate up to its horizon (≥ 20 orders still seen) and
 * keeps the preset's gaps beyond it (knownUntilMs); the late back-off starts
 * only once the horizon reaches twice the largest completion.
 *
 * ## Drift
 * Each refresh compares the newest orders with the older ones
 * (samplesSinceChange: shares done by 5 s, 10 s, 20 s, … from what the
 * intervals say for sure, a two-proportion z-test); with a LearningContext
 * the orders are taken by sent time, completed and pending, each compared
 * only at the ages it has reached (cohortOf), and on a change only the
 * orders sent since it are learnt from. Without one (completions only), by
 * finish time, learning from the samples after the change.
 *
 * ## Why not equal-hazard alone
 * With h alone (no D), the gaps grow with the spread of the distribution,
 * and they are longest exactly among the slowest orders, which is where the
 * p95 delay is decided. The benchmark's method check (BENCHMARKS.md: the true
 * distribution, no jitter, the same checks budget and first-hour limit)
 * gives, for equal-hazard alone vs this method: fast provider (lognormal,
 * median 20 s, p95 3 min) p95 delay 33.9 s vs 18.8 s at ~2.7 checks per
 * completed order; slow provider (median 5 min, p95 30 min) 108.3 s vs
 * 87.5 s at ~6.1 checks. Bounding the gap where 95 % of the orders finish and
 * letting the rest back off meets the p95 goal; the quantile step still
 * places the checks where a distribution is dense (it only ever shortens a
 * gap).
 */
import type { ProviderName } from "@pinflow/contracts";
import { checksBefore, earliestNextCheckMs, type CheckBudget } from "./check-budget.js";
import { productLimit, sampleFromCurve, type SurvivalObservation } from "./survival.js";
import { adaptiveCheckBudget, baseDelayMs, withJitter, type AdaptiveSettings, type PollPolicy } from "./policy.js";

export const HOUR_MS = 3_600_000;

/** Levels of the quantile table: 0, 1/200, …, 1. */
const LEVELS = 200;
/** Candidate conditional chances per check. */
const HAZARDS: readonly number[] = [0.3, 0.5, 0.7];
/** Candidate bounds of a tail gap, as a multiple of the preset's gap at the same time. */
const TAIL_PRESET_FACTORS: readonly number[] = [1];
/** Candidate tail quantiles: the body ends at Q(q*). */
const TAIL_QUANTILES: readonly number[] = [0.9, 0.93, 0.95, 0.97, 0.99];
/** D grows in steps of 4 % from minGap to the cap. */
const GAP_STEP = 1.04;
/**
 * ε: a gap may run past D until another 0.5 % of the orders (one step of the
 * quantile table) can have finished, so no checks are spent where nothing
 * finishes (a provider's minimum processing time, the valley between two modes).
 */
const SPARSE_SHARE = 0.005;
/**
 * When no candidate with that serves every group as well as the preset (a group in the thin part
 * of a distribution, e.g. the tail of a mixture's fast mode, whose few orders the preset's fixed
 * checks happen to catch early), the candidates are tried again with ε = 0: no gap longer than
 * the preset's wherever orders still finish, so every group is served about as well as by the
 * preset, for more checks. Before, the learner fell back to the preset itself for such a sample,
 * and flipped between the two from one refresh to the next.
 */
const SPARSE_SHARES: readonly number[] = [SPARSE_SHARE, 0];
/**
 * The objective's groups: orders by time to done on a log scale, each band 4× the one before
 * (< 15 s, 15 s–1 min, 1–4 min, 4–16 min, 16 min–1 h 4 min, –4 h 16 min, longer), so the modes of
 * a mixture (seconds, minutes, an hour) fall into different groups. A candidate whose mean delay in
 * any group holding ≥ 5 % of the sample is longer than the fallback preset's in that group (on the
 * same sample) is not chosen: no completion-time group is served worse than by the preset.
 */
const GROUP_EDGES_MS: readonly number[] = [15_000, 60_000, 240_000, 960_000, 3_840_000, 15_360_000];
const GROUP_MIN_SHARE = 0.05;
/**
 * Slack of that comparison: 10 % + 1 s. The preset's fixed check times sit at the same place for
 * every order, so a group that happens to end just before one of them has a lucky mean delay that
 * a schedule placed by the sample's quantiles cannot match to the second.
 */
const GROUP_SLACK = 0.1;
const GROUP_SLACK_MS = 5000;
/**
 * Drift: the newest part of a sample is compared with the rest at these sizes (from minSamples,
 * ×√2 each); see samplesSinceChange.
 */
const DRIFT_SPLIT_GROWTH = Math.SQRT2;
/** The times the two parts are compared at: the share of orders done by 5 s, 10 s, 20 s, … 47 h. */
const DRIFT_EDGES_MS: readonly number[] = Array.from({ length: 16 }, (_, k) => 5000 * 2 ** k);
/**
 * A split counts as a change when, at some edge, the two parts' shares done differ by more than
 * this many standard errors (two-proportion z; 4.5 is a false alarm chance of about 7·10⁻⁶ per
 * comparison, so the ~150 comparisons of a refresh stay below 0.1 %).
 */
const DRIFT_Z = 4.5;
/**
 * …and by at least this much: where the checks were placed changes which intervals straddle an
 * edge (and so are left out), which can shift a share done by a few points without any change at
 * the provider; a change worth learning again for moves it by more.
 */
const DRIFT_MIN_SHIFT = 0.1;
/**
 * An edge is compared only where, in each part, at least this share of the orders is known to be
 * done or not by then: where many intervals straddle it (e.g. an edge before a schedule's first
 * check), which ones are known depends on the schedule, not the provider.
 */
const DRIFT_MIN_KNOWN_SHARE = 0.8;
/** An edge is compared only where each part has at least this many orders known to be done or not by then. */
const DRIFT_MIN_KNOWN = 30;
/** The estimate from completed and pending orders covers the ages where at least this many orders were seen (survival.ts). */
const MIN_AT_RISK = 20;
/** The late back-off needs the estimate to reach this many times the largest completion (learnSchedule). */
const LATE_EVIDENCE = 2;
/** A bug guard: no schedule is replayed past this many checks. */
const MAX_REPLAY_CHECKS = 20_000;

// ---------------------------------------------------------------------------
// Samples

/** One completed order's time to done: pending `lowerMs` after it was sent, done at `upperMs`. */
export interface CompletionSample {
  lowerMs: number;
  upperMs: number;
}

export interface CompletionRecord extends CompletionSample {
  provider: ProviderName;
  packageId: string;
  /**
   * When the check that found it done ran (epoch ms), so that the order was sent `upperMs` before.
   * With it (and the pending watches: LearningContext) the learner estimates from completed and
   * pending orders alike (survival.ts); without it, from the completions alone.
   */
  doneAtMs?: number;
}

/** A watch still pending: sent at `sentAtMs` (epoch ms), not done at its last pending check `lowerMs` after (0: none yet). */
export interface PendingRecord {
  provider: ProviderName;
  packageId: string;
  sentAtMs: number;
  lowerMs: number;
}

/** What the learner needs beyond the completions to see the orders not done yet. */
export interface LearningContext {
  /** The pending watches (of adaptive providers), any order. */
  pending: readonly PendingRecord[];
  /**
   * At most this many were read per (provider, package), the most recently sent: a package that
   * has that many may have older ones unread, so orders sent before its oldest read one are not counted.
   */
  pendingPerKey?: number;
  /** The time of the refresh (epoch ms; default: the newest completion's done check): how old each order is. */
  nowMs?: number;
}

/**
 * The estimate of a sample's time to done: a point of its interval [L, U], at a fraction of its
 * width fixed by the interval itself (a hash of L and U, uniform in [0, 1)): across many orders
 * the estimates spread over their intervals as the completions did (for a density about flat
 * within one check gap), instead of piling up at the midpoints. Midpoints sit halfway between
 * the checks of the schedule that recorded them, so a sample of midpoints is a set of spikes on
 * that schedule's grid: a schedule learnt from it keeps its checks near the old ones (after a
 * provider got faster, the first check never moves below the old first midpoint), and replaying a
 * candidate on the spikes misjudges its delays. Deterministic: the same interval, the same value.
 */
export function sampleValueMs(sample: CompletionSample): number {
  const lower = Math.max(0, Math.min(sample.lowerMs, sample.upperMs));
  const upper = Math.max(lower, sample.upperMs);
  return lower + unitHash(Math.round(lower), Math.round(upper)) * (upper - lower);
}

/** A fraction in [0, 1) fixed by two integers (a 32-bit integer mix). */
function unitHash(a: number, b: number): number {
  let h = Math.imul(a ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(b ^ 0xc2b2ae35, 0x27d4eb2f);
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b);
  h ^= h >>> 16;
  return (h >>> 0) / 4_294_967_296;
}

// ---------------------------------------------------------------------------
// The learnt distribution: a bounded quantile table

/** Q at levels 0, 1/levels, …, 1 of ascending `sorted` (linear interpolation between order statistics). */
export function quantileTable(sorted: ArrayLike<number>, levels = LEVELS): number[] {
  const n = sorted.length;
  if (n === 0) throw new RangeError("quantileTable needs at least one value");
  const table: number[] = [];
  for (let i = 0; i <= levels; i++) table.push(orderStatistic(sorted, (i / levels) * (n - 1)));
  return table;
}

function orderStatistic(sorted: ArrayLike<number>, pos: number): number {
  const lo = Math.floor(pos);
  const a = sorted[lo]!;
  const b = sorted[Math.min(lo + 1, sorted.length - 1)]!;
  return a + (b - a) * (pos - lo);
}

/** Q(p): the time by which a share p of the orders was done. */
export function quantileAt(table: readonly number[], p: number): number {
  const levels = table.length - 1;
  const pos = Math.min(Math.max(p, 0), 1) * levels;
  const i = Math.min(Math.floor(pos), levels - 1);
  const a = table[i]!;
  const b = table[i + 1]!;
  return a + (b - a) * (pos - i);
}

/** S(t): the share of orders not yet done `t` ms after they were sent (the inverse of quantileAt). */
export function survivalAt(table: readonly number[], t: number): number {
  const levels = table.length - 1;
  if (t < table[0]!) return 1;
  if (t >= table[levels]!) return 0;
  // The last index with table[i] ≤ t (then table[i + 1] > t).
  let lo = 0;
  let hi = levels;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (table[mid]! <= t) lo = mid;
    else hi = mid;
  }
  const a = table[lo]!;
  const b = table[lo + 1]!;
  const f = (lo + (b > a ? (t - a) / (b - a) : 0)) / levels;
  return 1 - f;
}

// ---------------------------------------------------------------------------
// A learnt schedule

export interface ScheduleBasis {
  /** Learnt from this package's completions, or from the provider's (the package had too few). */
  scope: "package" | "provider";
  samples: number;
  /** q*: the body ends at this quantile of the sample. */
  tailQuantile: number;
  /** Mean checks per completed order, replayed on the sample (before jitter). */
  expectedChecks: number;
  /** The most it was allowed: budget × the reference preset's mean on the same sample. */
  budgetChecks: number;
  /** The delay quantile (p95) on the sample. */
  expectedDelayMs: number;
  /** Checks in the first hour of an order that never finishes, with every gap as short as the jitter allows. */
  firstHourChecks: number;
  /** Learnt from only the newest samples: the provider's completion times changed (samplesSinceChange). */
  drift: boolean;
}

export interface LearntSchedule {
  /** Completion-time quantiles (ms after sent) at levels 0, 0.5 %, …, 100 %. */
  quantilesMs: readonly number[];
  /** h: each check in the body has about this conditional chance of finding the order done. */
  hazard: number;
  /** D: the longest gap in the body. */
  maxGapMs: number;
  minGapMs: number;
  /** t* = Q(q*): from here on, geometric back-off. */
  tailFromMs: number;
  tailGrowth: number;
  /** The policy's cap: no gap is longer before `lateFromMs`. */
  capMs: number;
  /** The largest completion time observed: past it, the tail's gaps may grow up to `lateCapMs`. */
  lateFromMs: number;
  lateCapMs: number;
  /**
   * The last age the estimate covers (survival.ts: at least MIN_AT_RISK orders seen up to it):
   * beyond it the schedule keeps the fallback preset's gaps, since nothing is known there yet (a
   * cold start, a drift: the slow orders of the cohort are still pending). Infinity: learnt from
   * completions alone.
   */
  knownUntilMs: number;
  /**
   * The fallback preset's check times (ms after sent): up to `lateFromMs`, wherever orders finish,
   * no gap is longer than the preset's gap at the same time, so no group of orders waits longer
   * than under the preset (the objective, see learnSchedule).
   */
  presetTimesMs: readonly number[];
  /** In the tail, no gap is longer than this × the preset's gap at the same time (where orders still finish). */
  tailPresetFactor: number;
  /** ε: the bounds bind only where another ε of the orders can finish within the gap (SPARSE_SHARES). */
  sparseShare?: number;
  basis: ScheduleBasis;
  /** Identifies the sample it was learnt from (unchanged sample → the same schedule, not learnt again). */
  fingerprint: string;
}

/** What places the checks (a LearntSchedule without its bookkeeping). */
export type ScheduleShape = Pick<LearntSchedule, "quantilesMs" | "hazard" | "maxGapMs" | "minGapMs" | "tailFromMs" | "tailGrowth" | "capMs" | "lateFromMs" | "lateCapMs" | "presetTimesMs" | "tailPresetFactor"> &
  Partial<Pick<LearntSchedule, "knownUntilMs" | "sparseShare">>;

function clamp(x: number, lo: number, hi: number): number {
  return Math.min(Math.max(x, lo), hi);
}

/** The gap (before jitter) from a pending check `elapsedMs` after sent to the next check. */
export function learntGapMs(s: ScheduleShape, elapsedMs: number): number {
  const t = Math.max(0, elapsedMs);
  const cap = Math.max(s.minGapMs, s.capMs);
  if (t >= (s.knownUntilMs ?? Infinity)) {
    // Beyond what the estimate covers: the preset, as before anything was learnt.
    return Math.round(clamp(presetGapAt(s.presetTimesMs, t), s.minGapMs, cap));
  }
  if (t >= s.lateFromMs) {
    // Past everything observed, an order is most likely never to finish: the gap keeps growing past the cap.
    return Math.round(clamp((s.tailGrowth - 1) * t, Math.max(s.minGapMs, s.maxGapMs), Math.max(cap, s.lateCapMs)));
  }
  const done = 1 - survivalAt(s.quantilesMs, t);
  // Where another SPARSE_SHARE of the orders will have finished: the bounds below only bind where orders finish.
  const byMass = quantileAt(s.quantilesMs, Math.min(1, done + (s.sparseShare ?? SPARSE_SHARE))) - t;
  const presetGap = presetGapAt(s.presetTimesMs, t);
  if (t < s.tailFromMs) {
    // Where the survival has dropped by the factor (1 − h): the same chance h for every check.
    const byHazard = quantileAt(s.quantilesMs, 1 - (1 - h(s)) * (1 - done)) - t;
    return Math.round(clamp(Math.min(byHazard, Math.max(Math.min(s.maxGapMs, presetGap), byMass)), s.minGapMs, cap));
  }
  const backOff = clamp((s.tailGrowth - 1) * t, Math.max(s.minGapMs, s.maxGapMs), cap);
  return Math.round(clamp(Math.min(backOff, Math.max(presetGap * s.tailPresetFactor, byMass)), s.minGapMs, cap));
}

/** The length of the preset's gap around `t` (ms after sent): its next check time minus the one before. */
export function presetGapAt(presetTimesMs: readonly number[], t: number): number {
  const n = presetTimesMs.length;
  if (n === 0) return Infinity;
  // The first check time after t.
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (presetTimesMs[mid]! <= t) lo = mid + 1;
    else hi = mid;
  }
  if (lo >= n) return n >= 2 ? presetTimesMs[n - 1]! - presetTimesMs[n - 2]! : presetTimesMs[0]!;
  return presetTimesMs[lo]! - (lo > 0 ? presetTimesMs[lo - 1]! : 0);
}

function h(s: ScheduleShape): number {
  return clamp(s.hazard, 0.01, 0.99);
}

/** The delay to the next check with bounded jitter (`random` in [0, 1) → ±jitter). */
export function learntDelayMs(s: LearntSchedule, elapsedMs: number, jitter: number, random: number): number {
  return withJitter(learntGapMs(s, elapsedMs), jitter, random);
}

/**
 * Check times (ms after sent) of an order that never finishes, up to the
 * first at or past `untilMs`; every gap times `gapScale` (1: before jitter;
 * 1 − jitter: every check as early as the jitter allows); never earlier than
 * the per-watch `budget` allows (as the poller places them: check-budget.ts).
 */
export function learntCheckTimes(s: ScheduleShape, untilMs: number, gapScale = 1, budget?: CheckBudget): number[] {
  const times: number[] = [];
  let t = 0;
  while (t < untilMs && times.length < MAX_REPLAY_CHECKS) {
    const next = t + Math.max(1, Math.round(learntGapMs(s, t) * gapScale));
    t = Math.max(next, earliestNextCheckMs(budget, times.length, t));
    times.push(t);
  }
  return times;
}

/** A preset's check times (ms after sent, before jitter; within the policy's check budget, if any), up to the first at or past `untilMs`. */
export function presetCheckTimes(policy: PollPolicy, untilMs: number): number[] {
  const times: number[] = [];
  let t = 0;
  for (let attempt = 0; t < untilMs && times.length < MAX_REPLAY_CHECKS; attempt++) {
    t = Math.max(t + Math.max(1, baseDelayMs(policy, attempt)), earliestNextCheckMs(policy.checkBudget, attempt, t));
    times.push(t);
  }
  return times;
}

export interface Replay {
  /** Mean checks until the check that found the order done. */
  meanChecks: number;
  meanDelayMs: number;
  /** The detection delay at the asked quantile (NaN when not asked). */
  delayQuantileMs: number;
  /** Mean delay per group of orders by time to done, cut at the asked edges (empty when not asked). */
  groupMeanDelayMs: number[];
  /** Orders per group. */
  groupCounts: number[];
}

/**
 * Replay check `times` (ascending, the last at or past the largest sample)
 * against ascending times to done: which check finds each order, how late.
 * Without `quantile` only the means are computed (no sort).
 */
export function replay(times: readonly number[], sorted: ArrayLike<number>, quantile?: number, groupEdgesMs?: readonly number[]): Replay {
  const n = sorted.length;
  const delays = quantile === undefined ? undefined : new Float64Array(n);
  const groups = groupEdgesMs ? groupEdgesMs.length + 1 : 0;
  const groupSums = new Array<number>(groups).fill(0);
  const groupCounts = new Array<number>(groups).fill(0);
  let g = 0;
  let k = 0;
  let checks = 0;
  let delaySum = 0;
  for (let i = 0; i < n; i++) {
    const done = sorted[i]!;
    while (k < times.length - 1 && times[k]! < done) k++;
    const delay = Math.max(0, times[k]! - done);
    checks += k + 1;
    delaySum += delay;
    if (delays) delays[i] = delay;
    if (groupEdgesMs) {
      while (g < groupEdgesMs.length && done >= groupEdgesMs[g]!) g++;
      groupSums[g]! += delay;
      groupCounts[g]!++;
    }
  }
  let delayQuantileMs = NaN;
  if (delays && quantile !== undefined) {
    delays.sort();
    delayQuantileMs = orderStatistic(delays, clamp(quantile, 0, 1) * (n - 1));
  }
  const groupMeanDelayMs = groupSums.map((sum, g) => (groupCounts[g]! > 0 ? sum / groupCounts[g]! : 0));
  return { meanChecks: checks / n, meanDelayMs: delaySum / n, delayQuantileMs, groupMeanDelayMs, groupCounts };
}


/**
 * Learn a schedule from times to done (ms; midpoints). Null when there are
 * fewer than `minSamples`, or when no candidate fits the budget (then the
 * preset applies).
 */
export function learnSchedule(
  valuesMs: readonly number[],
  settings: AdaptiveSettings,
  policy: PollPolicy,
  scope: ScheduleBasis["scope"] = "package",
  drift = false,
  knownUntilMs = Infinity,
): LearntSchedule | null {
  const n = valuesMs.length;
  if (n === 0 || n < settings.minSamples) return null;
  const sorted = Float64Array.from(valuesMs, (v) => Math.max(0, v)).sort();
  const quantilesMs = quantileTable(sorted);
  const minGapMs = Math.max(1, settings.minGapMs);
  const capMs = Math.max(minGapMs, policy.maxDelayMs);
  const horizon = Math.max(sorted[n - 1]!, HOUR_MS);
  const budgetChecks = settings.budget * replay(presetCheckTimes(settings.reference, horizon), sorted).meanChecks;
  const checkBudget = adaptiveCheckBudget(settings);
  // What the fallback preset does for each group of this sample: no candidate may do worse for any.
  const presetTimesMs = presetCheckTimes({ ...policy, checkBudget }, horizon);
  const presetReplay = replay(presetTimesMs, sorted, undefined, GROUP_EDGES_MS);
  const floor = presetReplay.groupMeanDelayMs;
  const counted = presetReplay.groupCounts.map((c) => c >= GROUP_MIN_SHARE * n);
  // Past the largest completion the gaps grow to the late cap only once orders were seen there for as long
  // again without finishing (the estimate reaches twice as far): a slow provider's estimate early on ends
  // just past its largest completion, where its orders are still finishing, not never.
  const lateFromMs = knownUntilMs >= LATE_EVIDENCE * sorted[n - 1]! ? sorted[n - 1]! : knownUntilMs;
  const lateCapMs = Math.max(capMs, settings.lateCapMs);

  const gaps: number[] = [];
  for (let d = minGapMs; d < capMs; d *= GAP_STEP) gaps.push(Math.round(d));
  gaps.push(capMs);

  interface Candidate {
    shape: ScheduleShape;
    tailQuantile: number;
    result: Replay;
    firstHourChecks: number;
  }
  const shortest = 1 - clamp(policy.jitter, 0, 1);
  /** The replay when it fits the budget and the first-hour limit, else null. Delays only when `full`. */
  let sparseShare = SPARSE_SHARE;
  const evaluate = (hazard: number, tailQuantile: number, tailPresetFactor: number, maxGapMs: number, full: boolean): Candidate | null => {
    const shape: ScheduleShape = {
      quantilesMs,
      hazard,
      maxGapMs,
      minGapMs,
      tailFromMs: quantileAt(quantilesMs, tailQuantile),
      tailGrowth: Math.max(1.05, settings.tailGrowth),
      capMs,
      lateFromMs,
      lateCapMs,
      presetTimesMs,
      tailPresetFactor,
      knownUntilMs,
      sparseShare,
    };
    // The schedule's own first hour stays under the limit even when the jitter makes every gap as short as it can
    // (the per-watch budget enforces the hard bound; this keeps it from having to).
    const firstHourChecks = checksBefore(learntCheckTimes(shape, HOUR_MS, shortest), HOUR_MS);
    if (firstHourChecks > settings.maxChecksFirstHour) return null;
    const result = replay(learntCheckTimes(shape, horizon, 1, checkBudget), sorted, full ? settings.delayQuantile : undefined, full ? GROUP_EDGES_MS : undefined);
    if (result.meanChecks > budgetChecks) return null;
    return { shape, tailQuantile, result, firstHourChecks };
  };
  const noGroupWorse = (c: Candidate): boolean => c.result.groupMeanDelayMs.every((d, g) => !counted[g] || d <= floor[g]! * (1 + GROUP_SLACK) + GROUP_SLACK_MS);
  const better = (a: Candidate, b: Candidate): boolean =>
    a.result.delayQuantileMs !== b.result.delayQuantileMs
      ? a.result.delayQuantileMs < b.result.delayQuantileMs
      : a.result.meanDelayMs !== b.result.meanDelayMs
        ? a.result.meanDelayMs < b.result.meanDelayMs
        : a.result.meanChecks < b.result.meanChecks;

  let best: Candidate | undefined;
  for (const share of SPARSE_SHARES) {
  if (best) break;
  sparseShare = share;
  for (const hazard of HAZARDS) {
    for (const tailQuantile of TAIL_QUANTILES) {
      for (const factor of TAIL_PRESET_FACTORS) {
        // Checks and first-hour checks only shrink as D grows: find the smallest D that fits.
        if (!evaluate(hazard, tailQuantile, factor, gaps[gaps.length - 1]!, false)) continue;
        let lo = 0;
        let hi = gaps.length - 1;
        while (lo < hi) {
          const mid = (lo + hi) >> 1;
          if (evaluate(hazard, tailQuantile, factor, gaps[mid]!, false)) hi = mid;
          else lo = mid + 1;
        }
        // Group delays only grow with D: if the smallest D serves a group worse than the preset, a larger one does too.
        const found = evaluate(hazard, tailQuantile, factor, gaps[lo]!, true);
        if (found && noGroupWorse(found) && (!best || better(found, best))) best = found;
      }
    }
  }
  }
  if (!best) return null;
  return {
    ...best.shape,
    knownUntilMs,
    basis: {
      scope,
      samples: n,
      tailQuantile: best.tailQuantile,
      expectedChecks: best.result.meanChecks,
      budgetChecks,
      expectedDelayMs: best.result.delayQuantileMs,
      firstHourChecks: best.firstHourChecks,
      drift,
    },
    fingerprint: fingerprintOf(valuesMs),
  };
}

/**
 * Drift: how many of the newest samples (NEWEST FIRST) to learn from: all of them, unless the
 * provider's completion times changed, then only those after the change.
 *
 * The newest s samples are compared with the older rest for s = minSamples, ×√2, … while the rest
 * has minSamples too. The comparison uses what each sample's interval says for sure, not its
 * midpoint: at each edge x (5 s, 10 s, 20 s, …), an order is done by x if its done check was at
 * or before x, not done if its last pending check was at or after x, and unknown (left out) if
 * its interval straddles x. Midpoints depend on where the schedule of the moment placed the checks,
 * so comparing them would see a change at every new schedule; the intervals do not. A split is a
 * change where the shares done differ by more than DRIFT_Z standard errors at some edge; the split
 * that differs most (the likeliest change point) wins. So a schedule is learnt from the new regime
 * once about minSamples of its orders have finished, not after the window has turned over, and
 * the recorded midpoints of the old regime no longer hold the first check where it was.
 */
export function samplesSinceChange(newestFirst: readonly (CompletionSample & { ageMs?: number })[], minSamples: number): number {
  const n = newestFirst.length;
  const smallest = Math.max(DRIFT_MIN_KNOWN, minSamples);
  if (n < 2 * smallest) return n;
  const edges = DRIFT_EDGES_MS.length;
  // Prefix counts, newest first: done[e][i] / notDone[e][i] among the first i samples.
  const done = DRIFT_EDGES_MS.map(() => new Int32Array(n + 1));
  const notDone = DRIFT_EDGES_MS.map(() => new Int32Array(n + 1));
  // Orders old enough to tell (age ≥ the edge; all, for completions without an age).
  const mature = DRIFT_EDGES_MS.map(() => new Int32Array(n + 1));
  for (let i = 0; i < n; i++) {
    const { lowerMs, upperMs, ageMs } = newestFirst[i]!;
    for (let e = 0; e < edges; e++) {
      const x = DRIFT_EDGES_MS[e]!;
      const old = ageMs === undefined || ageMs >= x;
      mature[e]![i + 1] = mature[e]![i]! + (old ? 1 : 0);
      done[e]![i + 1] = done[e]![i]! + (old && upperMs <= x ? 1 : 0);
      notDone[e]![i + 1] = notDone[e]![i]! + (old && lowerMs >= x && upperMs > x ? 1 : 0);
    }
  }
  /** The largest z over the edges for a split (0 where none can be compared). */
  const zAt = (split: number): number => {
    let top = 0;
    for (let e = 0; e < edges; e++) {
      const d1 = done[e]![split]!;
      const m1 = d1 + notDone[e]![split]!;
      const d2 = done[e]![n]! - d1;
      const m2 = d2 + notDone[e]![n]! - notDone[e]![split]!;
      if (m1 < DRIFT_MIN_KNOWN || m2 < DRIFT_MIN_KNOWN) continue;
      const old1 = mature[e]![split]!;
      const old2 = mature[e]![n]! - old1;
      if (m1 < DRIFT_MIN_KNOWN_SHARE * old1 || m2 < DRIFT_MIN_KNOWN_SHARE * old2) continue;
      const pooled = (d1 + d2) / (m1 + m2);
      const se = Math.sqrt(pooled * (1 - pooled) * (1 / m1 + 1 / m2));
      const shift = Math.abs(d1 / m1 - d2 / m2);
      if (se === 0 || shift < DRIFT_MIN_SHIFT) continue;
      top = Math.max(top, shift / se);
    }
    return top;
  };
  // Detection on the √2 grid of splits (few comparisons: few false alarms)…
  let best = n;
  let bestZ = DRIFT_Z;
  for (let split = smallest; split <= n - smallest; split = Math.ceil(split * DRIFT_SPLIT_GROWTH)) {
    const z = zAt(split);
    if (z > bestZ) {
      bestZ = z;
      best = split;
    }
  }
  if (best === n) return n;
  // …then the change located between the grid's neighbours: the grid point alone slid with every new
  // order (the same newest count is a later sent time each refresh) and reached over the change into the
  // old regime when it moved one step out.
  const from = Math.max(smallest, Math.ceil(best / DRIFT_SPLIT_GROWTH));
  const to = Math.min(n - smallest, Math.floor(best * DRIFT_SPLIT_GROWTH));
  for (let split = from; split <= to; split++) {
    const z = zAt(split);
    if (z > bestZ) {
      bestZ = z;
      best = split;
    }
  }
  return best;
}

/** A cheap identity of a sample: its size and a rolling hash of its values in order. */
export function fingerprintOf(valuesMs: readonly number[]): string {
  let h = 2166136261;
  for (const v of valuesMs) h = Math.imul(h ^ Math.round(v), 16777619) >>> 0;
  return `${valuesMs.length}:${h.toString(16)}`;
}

// ---------------------------------------------------------------------------
// Per provider and package, with fallback

export interface LearntSchedules {
  /** Keyed by packageKey(provider, packageId). */
  byPackage: ReadonlyMap<string, LearntSchedule>;
  byProvider: ReadonlyMap<ProviderName, LearntSchedule>;
}

export const NO_SCHEDULES: LearntSchedules = { byPackage: new Map(), byProvider: new Map() };

export function packageKey(provider: ProviderName, packageId: string): string {
  return `${provider}\u0000${packageId}`;
}

/** The package's schedule if it has one, else the provider's, else none (→ the preset). */
export function scheduleFor(learnt: LearntSchedules, provider: ProviderName, packageId: string): LearntSchedule | null {
  return learnt.byPackage.get(packageKey(provider, packageId)) ?? learnt.byProvider.get(provider) ?? null;
}

/**
 * Learn every (provider, package) and provider schedule from `records`,
 * NEWEST FIRST: each package uses its newest `window` samples, each provider
 * its newest `window` across its packages. `settingsFor` says which providers
 * are adaptive (null: not learnt). A key whose sample is unchanged since
 * `previous` keeps its schedule without being learnt again.
 */
export function learnSchedules(
  records: readonly CompletionRecord[],
  settingsFor: (provider: ProviderName) => { settings: AdaptiveSettings; policy: PollPolicy } | null,
  previous: LearntSchedules = NO_SCHEDULES,
  context?: LearningContext,
): LearntSchedules {
  interface Sample {
    values: number[];
    records: CompletionRecord[];
  }
  const add = (sample: Sample, r: CompletionRecord, window: number): void => {
    if (sample.values.length >= window) return;
    sample.values.push(sampleValueMs(r));
    sample.records.push(r);
  };
  const packages = new Map<string, Sample & { provider: ProviderName }>();
  const providers = new Map<ProviderName, Sample>();
  for (const r of records) {
    const config = settingsFor(r.provider);
    if (!config) continue;
    const window = Math.max(1, config.settings.window);
    const key = packageKey(r.provider, r.packageId);
    const pkg = packages.get(key) ?? { provider: r.provider, values: [], records: [] };
    add(pkg, r, window);
    packages.set(key, pkg);
    const all = providers.get(r.provider) ?? { values: [], records: [] };
    add(all, r, window);
    providers.set(r.provider, all);
  }
  const pendingOf = (provider: ProviderName, packageId?: string): PendingRecord[] =>
    (context?.pending ?? []).filter((p) => p.provider === provider && (packageId === undefined || p.packageId === packageId));
  const learn = (sample: Sample, provider: ProviderName, scope: ScheduleBasis["scope"], before: LearntSchedule | undefined, pending: () => PendingRecord[]): LearntSchedule | null => {
    const config = settingsFor(provider);
    const { values } = sample;
    if (!config || values.length < config.settings.minSamples) return null;
    if (context && sample.records.every((r) => r.doneAtMs !== undefined)) {
      // Completed and pending orders alike (survival.ts): no right-censoring bias early in a regime.
      const waiting = pending();
      const cohort = cohortOf(sample.records, waiting, context, config.settings.minSamples);
      const drift = cohort.drift;
      const estimate = censoredSample(sample.records, waiting, cohort.truncateAtMs, cohort.sentFromMs);
      if (estimate.values.length < config.settings.minSamples) return null;
      const fingerprint = `${fingerprintOf(estimate.values)}:${Math.round(estimate.knownUntilMs)}`;
      if (before && before.fingerprint === fingerprint) return before;
      const learnt = learnSchedule(estimate.values, config.settings, config.policy, scope, drift, estimate.knownUntilMs);
      return learnt && { ...learnt, fingerprint };
    }
    const since = samplesSinceChange(sample.records, config.settings.minSamples);
    const drift = since < values.length;
    const fingerprint = fingerprintOf(values);
    if (before && before.fingerprint === fingerprint) return before;
    const learnt = learnSchedule(drift ? values.slice(0, since) : values, config.settings, config.policy, scope, drift);
    // The fingerprint is the whole sample's: an unchanged sample is not looked at again.
    return learnt && { ...learnt, fingerprint };
  };
  const byPackage = new Map<string, LearntSchedule>();
  for (const [key, pkg] of packages) {
    const packageId = pkg.records[0]!.packageId;
    const s = learn(pkg, pkg.provider, "package", previous.byPackage.get(key), () => pendingOf(pkg.provider, packageId));
    if (s) byPackage.set(key, s);
  }
  const byProvider = new Map<ProviderName, LearntSchedule>();
  for (const [provider, sample] of providers) {
    const s = learn(sample, provider, "provider", previous.byProvider.get(provider), () => pendingOf(provider));
    if (s) byProvider.set(provider, s);
  }
  return { byPackage, byProvider };
}

/**
 * Which orders to learn from: drift is looked for among the orders sent since the oldest
 * completion (`truncateAtMs`; every one of them is in the records or pending), newest sent first,
 * each compared only at the ages it has reached (samplesSinceChange with ages). Comparing
 * completions by when they finished mistook a cold start for a change (the first completions are
 * the quick ones: a mixture's slow mode arrives later). On a change, only the orders sent since it
 * count; otherwise all, each from the age it had at `truncateAtMs`.
 */
function cohortOf(
  newestFirst: readonly CompletionRecord[],
  pending: readonly PendingRecord[],
  context: LearningContext,
  minSamples: number,
): { truncateAtMs: number; sentFromMs: number; drift: boolean } {
  const truncateAtMs = newestFirst[newestFirst.length - 1]!.doneAtMs!;
  const sentFromMs = Math.max(truncateAtMs, unreadBefore(pending, context.pendingPerKey));
  const nowMs = context.nowMs ?? Math.max(...newestFirst.map((r) => r.doneAtMs!));
  const orders: Array<CompletionSample & { ageMs: number; sentAtMs: number }> = [];
  for (const r of newestFirst) {
    const sentAtMs = r.doneAtMs! - r.upperMs;
    if (sentAtMs >= sentFromMs) orders.push({ lowerMs: r.lowerMs, upperMs: r.upperMs, sentAtMs, ageMs: nowMs - sentAtMs });
  }
  for (const p of pending) {
    if (p.sentAtMs >= sentFromMs) orders.push({ lowerMs: p.lowerMs, upperMs: Infinity, sentAtMs: p.sentAtMs, ageMs: nowMs - p.sentAtMs });
  }
  orders.sort((a, b) => b.sentAtMs - a.sentAtMs);
  const since = samplesSinceChange(orders, minSamples);
  if (since >= orders.length) return { truncateAtMs, sentFromMs: unreadBefore(pending, context.pendingPerKey), drift: false };
  return { truncateAtMs, sentFromMs: orders[since - 1]!.sentAtMs, drift: true };
}

/** With at most `perKey` pending watches read per package: the oldest sent time from which none is missing (-Infinity: all read). */
function unreadBefore(pending: readonly PendingRecord[], perKey: number | undefined): number {
  if (perKey === undefined) return -Infinity;
  const byPackage = new Map<string, { count: number; oldest: number }>();
  for (const p of pending) {
    const entry = byPackage.get(p.packageId) ?? { count: 0, oldest: Infinity };
    entry.count++;
    entry.oldest = Math.min(entry.oldest, p.sentAtMs);
    byPackage.set(p.packageId, entry);
  }
  let from = -Infinity;
  for (const { count, oldest } of byPackage.values()) if (count >= perKey) from = Math.max(from, oldest);
  return from;
}

/**
 * The orders seen by a sample of completions (NEWEST FIRST, each with doneAtMs) and the pending
 * watches, as an estimate of the time to done (survival.ts) and an equal-weight sample of it.
 *
 * The completions are the newest since `fromMs` (the oldest one's done check). Without a drift,
 * every order is counted from the age it had at `fromMs` (left-truncated: one sent earlier that
 * finished before `fromMs` is not in the records, so it must not count as seen before then).
 * After a drift (the completions since the change only), the cohort is the orders sent since
 * the change became visible (`fromMs`): the older ones still finishing are the old regime's
 * stragglers. Pending watches count as not done up to their last pending check.
 */
export function censoredSample(
  newestFirst: readonly CompletionRecord[],
  pending: readonly PendingRecord[],
  truncateAtMs: number,
  sentFromMs = -Infinity,
): { values: number[]; knownUntilMs: number } {
  if (newestFirst.length === 0) return { values: [], knownUntilMs: 0 };
  const observations: SurvivalObservation[] = [];
  const seen = (sentAtMs: number, exitMs: number, done: boolean): void => {
    if (sentAtMs < sentFromMs) return;
    const entryMs = Math.max(0, truncateAtMs - sentAtMs);
    if (done) observations.push({ entryMs: Math.min(entryMs, Math.max(0, exitMs - 1)), exitMs: Math.max(exitMs, 1), done });
    else if (exitMs > entryMs) observations.push({ entryMs, exitMs, done });
  };
  for (const r of newestFirst) seen(r.doneAtMs! - r.upperMs, sampleValueMs(r), true);
  for (const p of pending) seen(p.sentAtMs, p.lowerMs, false);
  const curve = productLimit(observations, MIN_AT_RISK);
  return { values: sampleFromCurve(curve, curve.events), knownUntilMs: curve.horizonMs };
}
