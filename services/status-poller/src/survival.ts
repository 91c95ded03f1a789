/**
 * Time to done from completed AND pending orders, pure (issue 13: cold start and drift).
 *
 * The learner used to see completed orders only. Early in a regime (a cold start, right after a
 * drift) those are the quick ones: the slow orders of the same cohort are still pending, so a
 * sample of completions is right-censored and looks faster than the provider is. A schedule
 * learnt from it backs off too soon, and the still-pending orders pay (cold start on a mixture:
 * p95 179 s against the default preset's 147 s).
 *
 * Here each order is an observation of its age: a completed one done at its time to done, a
 * pending one known not done up to its last pending check (right-censored), and, because the
 * recorded completions are only the newest ones (since `fromMs`), an order sent before `fromMs`
 * is seen only from the age it had then (left-truncated: it would not be in the records had it
 * finished before). The product-limit (Kaplan–Meier) estimator with delayed entry gives S(t), the
 * share not done t after sending, up to the horizon where fewer than `minAtRisk` orders are still
 * seen: beyond it nothing is known, and the schedule keeps the preset there (adaptive.ts).
 */

/** One order seen from age `entryMs` to age `exitMs`: done then (`done`), or still pending then. */
export interface SurvivalObservation {
  entryMs: number;
  exitMs: number;
  done: boolean;
}

export interface SurvivalCurve {
  /** Ascending event ages (ms after sent) up to the horizon. */
  timesMs: number[];
  /** S just after each event age. */
  survival: number[];
  /**
   * The last age the estimate covers: the largest age up to which at least `minAtRisk` orders were
   * seen all along (events or not; 0: none). Between the last event and it, S is flat: orders were
   * seen there and none finished.
   */
  horizonMs: number;
  /** Completed orders counted (events up to the horizon). */
  events: number;
}

/**
 * Product-limit estimate with delayed entry. At each event age t, the orders at risk are those
 * seen at t (entry < t ≤ exit); S drops by the factor (1 − done at t / at risk). Stops before the
 * first age (event or censoring) with fewer than `minAtRisk` at risk.
 */
export function productLimit(observations: readonly SurvivalObservation[], minAtRisk: number): SurvivalCurve {
  const entries = Float64Array.from(observations, (o) => o.entryMs).sort();
  const exits = [...observations].sort((a, b) => a.exitMs - b.exitMs || Number(b.done) - Number(a.done));
  const timesMs: number[] = [];
  const survival: number[] = [];
  let s = 1;
  let entered = 0;
  let left = 0;
  let events = 0;
  let horizonMs = 0;
  let i = 0;
  while (i < exits.length) {
    const t = exits[i]!.exitMs;
    while (entered < entries.length && entries[entered]! < t) entered++;
    const atRisk = entered - left;
    let done = 0;
    let j = i;
    while (j < exits.length && exits[j]!.exitMs === t) {
      if (exits[j]!.done) done++;
      j++;
    }
    if (atRisk < minAtRisk) break;
    horizonMs = t;
    if (done > 0) {
      s *= 1 - done / atRisk;
      timesMs.push(t);
      survival.push(s);
      events += done;
    }
    left += j - i;
    i = j;
  }
  return { timesMs, survival, horizonMs, events };
}

/**
 * `count` times to done spread over the estimate up to its horizon, as an equal-weight sample
 * (what the learner's quantile table and replays take): the values at the levels (i + ½)/count of
 * F(t)/F(horizon), linear in F between event ages (so they spread over the gaps between events
 * instead of piling up on them). The share not done by the horizon is not in it: the schedule
 * keeps the preset beyond the horizon.
 */
export function sampleFromCurve(curve: SurvivalCurve, count: number): number[] {
  const { timesMs, survival } = curve;
  const n = timesMs.length;
  if (n === 0 || count <= 0) return [];
  const top = 1 - survival[n - 1]!;
  if (!(top > 0)) return [];
  const out: number[] = [];
  let k = 0;
  for (let i = 0; i < count; i++) {
    const p = ((i + 0.5) / count) * top;
    while (k < n - 1 && 1 - survival[k]! < p) k++;
    const fHi = 1 - survival[k]!;
    const fLo = k > 0 ? 1 - survival[k - 1]! : 0;
    const tLo = k > 0 ? timesMs[k - 1]! : timesMs[0]!;
    const tHi = timesMs[k]!;
    out.push(fHi > fLo ? tLo + ((p - fLo) / (fHi - fLo)) * (tHi - tLo) : tHi);
  }
  return out;
}
