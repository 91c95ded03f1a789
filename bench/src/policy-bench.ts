/**
 * Poll policy benchmark: a virtual-clock simulation of the status poller's
 * check schedule, running the poller's REAL pure rules (newWatch,
 * decideCheck with the per-watch check budget, the presets, and the adaptive
 * learner exactly as the scheduler uses it), with no real time and a seeded
 * RNG (same numbers every run).
 *
 * Orders arrive one every 3 s on average (Poisson), `--orders` per case
 * (default 6,000). Each case is a provider: how long it takes to finish an
 * order (a distribution, or two in turn: drift) and how many orders it never
 * finishes. For each case the same orders (arrival and completion times) are
 * checked under three policies: the `seed` preset, the `default` preset, and
 * `adaptive` (fallback: the default preset, with the adaptive mode's check
 * budget). Adaptive starts with no samples and is not told the distribution:
 * like the scheduler, it records each completed order's interval (last
 * pending check, done check, and when that check ran), keeps the newest
 * 2,000, and learns its schedule again every 60 s of virtual time from them
 * and the watches still pending (when sent, last pending check), as the
 * scheduler reads them from its tables. Orders that never finish are
 * checked until their 24-hour deadline.
 *
 * Reported per case, in total and per window of 1,000 orders (by arrival):
 * detection delay (done check − provider completion) p50/p95/p99 over
 * completed orders, checks per completed order, and the checks an order that
 * never finishes gets in its first hour and its first day (max). Per group of
 * a mixture (its modes), mean and p95 delay. Goals, in every window but
 * the first few hundred orders after a drift: adaptive p95 ≤ 1/3 of the
 * seed's, ≤ 2× the seed's checks per completed order, ≤ 30 checks in a
 * never-finishing order's first hour; in the first window (cold start) and in
 * every group, adaptive no worse than `default`.
 *
 * Run: `node bench/dist/policy-bench.js` (or `pnpm --filter @pinflow/bench run policy`).
 * Options: --orders N (default 6000), --seed S (default 20260101), --case NAME (one case only).
 * `--sweep 1`: instead, the sweep of fixed presets the `default` preset was
 * chosen from (first delay × repeats × growth × cap, 5,000 orders each).
 */
import { seededRandom } from "@pinflow/testkit";
import type { EncryptedPin, EventOf, ProviderName } from "@pinflow/contracts";
import {
  learnSchedule,
  learnSchedules,
  learntCheckTimes,
  NO_SCHEDULES,
  presetCheckTimes,
  quantileAt,
  replay,
  type CompletionRecord,
  type LearntSchedules,
  type PendingRecord,
  type ScheduleShape,
} from "@pinflow/status-poller/dist/adaptive.js";
import { cadenceFor, decideCheck, newWatch, type CheckResult, type Watch } from "@pinflow/status-poller/dist/poll.js";
import { DEFAULT_ADAPTIVE, DEFAULT_POLICY, providerPolling, SEED_POLICY, type PollPolicy, type ProviderPolling } from "@pinflow/status-poller/dist/policy.js";

// ---------------------------------------------------------------------------
// Set-up

const args = new Map<string, string>();
for (let i = 2; i < process.argv.length; i += 2) args.set(process.argv[i]!.replace(/^--/, ""), process.argv[i + 1] ?? "");
const ORDERS = Number(args.get("orders") ?? 6_000);
const WINDOW_ORDERS = 1_000;
/** Orders after a drift left out of the goals of the window they fall in (the recovery the goals allow). */
const DRIFT_GRACE_ORDERS = 300;
/**
 * Orders keep arriving this long after the measured ones (checked, learnt from, not reported):
 * a provider's stream does not stop, and without them the newest completions at the end would be
 * only the slowest orders (the fast ones of the last minutes being done), which looks like a drift.
 */
const TRAILING_MS = 2 * 3_600_000;
const SEED = Number(args.get("seed") ?? 20_260_101);
const MEAN_INTERARRIVAL_MS = 3_000;
const NEVER_SHARE = 0.02;
const REFRESH_MS = 60_000;
const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
const Z95 = 1.6448536269514722;
const PROVIDER: ProviderName = "znet";
const PACKAGE = "bench-pkg";

/** One way a provider finishes orders: a draw of the time to done (ms) and the group (mode) it came from. */
type Draw = (random: () => number) => { ms: number; group: string };

function lognormal(medianMs: number, p95Ms: number, group = "all"): Draw {
  const sigma = Math.log(p95Ms / medianMs) / Z95;
  return (random) => ({ ms: medianMs * Math.exp(sigma * standardNormal(random)), group });
}
function mixture(parts: ReadonlyArray<readonly [number, Draw]>): Draw {
  return (random) => {
    let u = random();
    for (const [share, draw] of parts) {
      if (u < share) return draw(random);
      u -= share;
    }
    return parts[parts.length - 1]![1](random);
  };
}
const uniform = (fromMs: number, toMs: number, group = "all"): Draw => (random) => ({ ms: fromMs + random() * (toMs - fromMs), group });

interface Case {
  name: string;
  what: string;
  draw: Draw;
  /** From this share of the orders on (by arrival), `then` applies instead: a drift. */
  drift?: { at: number; then: Draw };
  neverShare: number;
  /** Also run the method check (the true distribution, no learning). */
  methodCheck?: boolean;
}
const FAST = lognormal(20_000, 180_000);
const SLOW = lognormal(300_000, 1_800_000);
const CASES: readonly Case[] = [
  { name: "fast", what: "lognormal, median 20 s, p95 3 min", draw: FAST, neverShare: NEVER_SHARE, methodCheck: true },
  { name: "slow", what: "lognormal, median 5 min, p95 30 min", draw: SLOW, neverShare: NEVER_SHARE, methodCheck: true },
  {
    name: "mixture",
    what: "80 % lognormal median 5 s, p95 15 s (seconds); 20 % median 10 min, p95 30 min (minutes)",
    draw: mixture([
      [0.8, lognormal(5_000, 15_000, "seconds")],
      [0.2, lognormal(600_000, 1_800_000, "minutes")],
    ]),
    neverShare: NEVER_SHARE,
  },
  { name: "very-slow", what: "lognormal, median 1 h, p95 4 h", draw: lognormal(3_600_000, 4 * 3_600_000), neverShare: NEVER_SHARE },
  { name: "fixed-time", what: "uniform 14 min 40 s – 15 min 20 s (a batch every 15 min)", draw: uniform(880_000, 920_000), neverShare: NEVER_SHARE },
  { name: "heavy-tail", what: "lognormal, median 20 s, p95 20 min", draw: lognormal(20_000, 1_200_000), neverShare: NEVER_SHARE },
  { name: "drift-fast-to-slow", what: "fast (median 20 s, p95 3 min), from the middle order on slow (median 5 min, p95 30 min)", draw: FAST, drift: { at: 0.5, then: SLOW }, neverShare: NEVER_SHARE },
  { name: "drift-slow-to-fast", what: "slow, from the middle order on fast", draw: SLOW, drift: { at: 0.5, then: FAST }, neverShare: NEVER_SHARE },
  { name: "never-finish-30", what: "fast, 30 % of the orders never finish", draw: FAST, neverShare: 0.3 },
];

interface PolicyUnderTest {
  name: string;
  polling: ProviderPolling;
}
const POLICIES: readonly PolicyUnderTest[] = [
  { name: "seed", polling: { mode: "preset", preset: "seed", policy: SEED_POLICY } },
  { name: "default", polling: { mode: "preset", preset: "default", policy: DEFAULT_POLICY } },
  { name: "adaptive", polling: providerPolling("adaptive", { overrides: {}, adaptive: DEFAULT_ADAPTIVE, adaptiveFallback: "default" }) },
];

const rng = seededRandom;

function standardNormal(random: () => number): number {
  let u = 0;
  while (u === 0) u = random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
}

interface Order {
  id: string;
  sentAtMs: number;
  /** Provider completion, ms after sent; null = never finishes. */
  completionMs: number | null;
  group: string;
}

function drawOrders(c: Case, seed: number, count = ORDERS, trailingMs = 0): Order[] {
  const random = rng(seed);
  const orders: Order[] = [];
  let t = 0;
  let end = Infinity;
  for (let i = 0; i < count || t < end; i++) {
    if (i === count) end = t + trailingMs;
    t += -Math.log(1 - random()) * MEAN_INTERARRIVAL_MS;
    const never = random() < c.neverShare;
    const draw = c.drift && i >= c.drift.at * count ? c.drift.then : c.draw;
    const { ms, group } = draw(random);
    orders.push({ id: `ord-${i}`, sentAtMs: Math.round(t), completionMs: never ? null : ms, group });
  }
  return orders;
}

// ---------------------------------------------------------------------------
// Simulation

const T0 = Date.parse("2026-01-01T00:00:00.000Z");
const SEALED: EncryptedPin = { alg: "A256GCM", keyId: "bench", iv: "aXY=", tag: "dGFn", ciphertext: "cGlu" };
const DONE: CheckResult = { kind: "done", pin: SEALED, note: null };
const PENDING: CheckResult = { kind: "pending", note: null };

/** A binary min-heap of (time, order index). */
class Heap {
  private readonly times: number[] = [];
  private readonly items: number[] = [];
  get size(): number {
    return this.times.length;
  }
  peekTime(): number {
    return this.times[0] ?? Infinity;
  }
  push(time: number, item: number): void {
    const { times, items } = this;
    let i = times.length;
    times.push(time);
    items.push(item);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (times[p]! <= time) break;
      times[i] = times[p]!;
      items[i] = items[p]!;
      i = p;
    }
    times[i] = time;
    items[i] = item;
  }
  pop(): { time: number; item: number } {
    const { times, items } = this;
    const top = { time: times[0]!, item: items[0]! };
    const lastT = times.pop()!;
    const lastI = items.pop()!;
    const n = times.length;
    if (n > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const c = l + 1 < n && times[l + 1]! < times[l]! ? l + 1 : l;
        if (times[c]! >= lastT) break;
        times[i] = times[c]!;
        items[i] = items[c]!;
        i = c;
      }
      times[i] = lastT;
      items[i] = lastI;
    }
    return top;
  }
}

interface RunResult {
  /** Per order (by index): detection delay (NaN: not completed), checks made, checks in its first hour and its first day. */
  delayMs: Float64Array;
  checks: Int32Array;
  firstHourChecks: Int32Array;
  dayChecks: Int32Array;
  reviews: number;
  learnt: LearntSchedules;
  refreshes: number;
  learnMs: number;
}

function simulate(orders: readonly Order[], polling: ProviderPolling, seed: number): RunResult {
  const random = rng(seed);
  const policy: PollPolicy = polling.policy;
  const heap = new Heap();
  const watches: Array<Watch | undefined> = new Array(orders.length);
  const n = orders.length;
  const result: RunResult = {
    delayMs: new Float64Array(n).fill(NaN),
    checks: new Int32Array(n),
    firstHourChecks: new Int32Array(n),
    dayChecks: new Int32Array(n),
    reviews: 0,
    learnt: NO_SCHEDULES,
    refreshes: 0,
    learnMs: 0,
  };
  // The newest `window` completions (the table the scheduler loads), as a ring.
  const window = polling.mode === "adaptive" ? polling.adaptive.window : 0;
  const ring: CompletionRecord[] = [];
  let ringNext = 0;
  let recordedSinceRefresh = 0;
  let nextRefresh = REFRESH_MS;
  let nextArrival = 0;

  const settingsFor = (): { settings: typeof DEFAULT_ADAPTIVE; policy: PollPolicy } | null =>
    polling.mode === "adaptive" ? { settings: polling.adaptive, policy: polling.policy } : null;
  const refresh = (): void => {
    result.refreshes++;
    if (polling.mode !== "adaptive" || recordedSinceRefresh === 0) return;
    recordedSinceRefresh = 0;
    // Newest first, as the store returns them.
    const newestFirst: CompletionRecord[] = [];
    for (let i = 1; i <= ring.length; i++) newestFirst.push(ring[(ringNext - i + ring.length) % ring.length]!);
    // The pending watches, as the scheduler reads them from its watch table.
    const pending: PendingRecord[] = [];
    for (const w of watches) {
      if (!w || w.state !== "watching") continue;
      const sentAtMs = w.sentAt.getTime();
      pending.push({ provider: w.provider, packageId: w.packageId, sentAtMs, lowerMs: w.lastPendingAt ? w.lastPendingAt.getTime() - sentAtMs : 0 });
    }
    const started = performance.now();
    result.learnt = learnSchedules(newestFirst, settingsFor, result.learnt, { pending, nowMs: T0 + nextRefresh });
    result.learnMs += performance.now() - started;
  };

  for (;;) {
    const arrivalAt = nextArrival < orders.length ? orders[nextArrival]!.sentAtMs : Infinity;
    const checkAt = heap.peekTime();
    const at = Math.min(arrivalAt, checkAt, nextRefresh);
    if (at === Infinity) break;
    if (arrivalAt === Infinity && heap.size === 0) break;
    if (nextRefresh <= at) {
      refresh();
      nextRefresh += REFRESH_MS;
      continue;
    }
    if (arrivalAt <= checkAt) {
      // OrderSent → a watch (what orderSentHandler does).
      const index = nextArrival++;
      const order = orders[index]!;
      const sent = sentEvent(order);
      const w = newWatch(sent, policy, random(), cadenceFor(polling, result.learnt, PROVIDER, PACKAGE));
      watches[index] = w;
      heap.push(w.nextCheckAt.getTime() - T0, index);
      continue;
    }
    // A due check (what the scheduler does after asking the provider).
    const { time, item: index } = heap.pop();
    const order = orders[index]!;
    const watch = watches[index]!;
    const elapsed = time - order.sentAtMs;
    const done = order.completionMs !== null && order.completionMs <= elapsed;
    result.checks[index]!++;
    if (elapsed < HOUR_MS) result.firstHourChecks[index]!++;
    if (elapsed < DAY_MS) result.dayChecks[index]!++;
    const decision = decideCheck(watch, done ? DONE : PENDING, new Date(T0 + time), policy, random(), cadenceFor(polling, result.learnt, PROVIDER, PACKAGE));
    const next = decision.watch;
    watches[index] = next;
    if (decision.completion) {
      const record: CompletionRecord = { ...decision.completion, doneAtMs: T0 + time };
      if (window > 0) {
        if (ring.length < window) ring.push(record);
        else ring[ringNext] = record;
        ringNext = (ringNext + 1) % window;
        recordedSinceRefresh++;
      }
    }
    switch (next.state) {
      case "watching":
        heap.push(next.nextCheckAt.getTime() - T0, index);
        break;
      case "completed":
        result.delayMs[index] = elapsed - order.completionMs!;
        watches[index] = undefined;
        break;
      case "review":
      case "failed":
        result.reviews++;
        watches[index] = undefined;
        break;
      default: {
        const never: never = next.state;
        throw new Error(`unexpected state ${String(never)}`);
      }
    }
  }
  return result;
}

function sentEvent(order: Order): EventOf<"OrderSent"> {
  return {
    id: `00000000-0000-4000-8000-${String(order.id.slice(4)).padStart(12, "0")}`,
    type: "OrderSent",
    schemaVersion: 1,
    orderId: order.id,
    occurredAt: new Date(T0 + order.sentAtMs).toISOString(),
    correlationId: order.id,
    causationId: null,
    data: { packageId: PACKAGE, provider: PROVIDER, reference: order.id, cost: "1.00", balance: null, providerOrderId: null },
  };
}

// ---------------------------------------------------------------------------
// Method check: why D, not equal-hazard alone

/**
 * On the true distribution (the orders that finish, no learning, no jitter),
 * the same limits (checks budget, first-hour checks) spent two ways:
 * equal-hazard checks only (h as small as the limits allow, gaps capped only
 * by the preset cap, tail from q* 0.99), and the learnt method (h, D, q*
 * chosen as in production).
 */
function methodCheck(orders: readonly Order[]): string[] {
  const values = orders.flatMap((o) => (o.completionMs === null ? [] : [o.completionMs]));
  const sorted = Float64Array.from(values).sort();
  const horizon = Math.max(sorted[sorted.length - 1]!, HOUR_MS);
  const budget = DEFAULT_ADAPTIVE.budget * replay(presetCheckTimes(SEED_POLICY, horizon), sorted).meanChecks;
  const learnt = learnSchedule(values, DEFAULT_ADAPTIVE, DEFAULT_POLICY);
  if (!learnt) return ["(no schedule fits the budget)"];
  const ours = replay(learntCheckTimes(learnt, horizon), sorted, 0.95);
  const equalHazard = (hazard: number): ScheduleShape => ({ ...learnt, hazard, maxGapMs: learnt.capMs, tailFromMs: quantileAt(learnt.quantilesMs, 0.99) });
  const firstHour = (shape: ScheduleShape): number => learntCheckTimes(shape, HOUR_MS + 1, 1 - DEFAULT_POLICY.jitter).filter((t) => t <= HOUR_MS).length;
  let lo = 0.01;
  let hi = 0.99;
  for (let i = 0; i < 40; i++) {
    const mid = (lo + hi) / 2;
    const shape = equalHazard(mid);
    if (replay(learntCheckTimes(shape, horizon), sorted).meanChecks <= budget && firstHour(shape) <= DEFAULT_ADAPTIVE.maxChecksFirstHour) hi = mid;
    else lo = mid;
  }
  const eh = replay(learntCheckTimes(equalHazard(hi), horizon), sorted, 0.95);
  return [
    `| schedule (true distribution, no jitter; ≤ ${s2(budget)} checks, ≤ ${DEFAULT_ADAPTIVE.maxChecksFirstHour} in the first hour) | h | D (s) | tail from (s) | delay p95 (s) | mean delay (s) | checks per completed order | first-hour checks |`,
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    `| equal-hazard only | ${s2(hi)} | - | ${s1(quantileAt(learnt.quantilesMs, 0.99) / 1000)} | ${s1(eh.delayQuantileMs / 1000)} | ${s1(eh.meanDelayMs / 1000)} | ${s2(eh.meanChecks)} | ${firstHour(equalHazard(hi))} |`,
    `| learnt method (h, D, q* chosen) | ${learnt.hazard} | ${s1(learnt.maxGapMs / 1000)} | ${s1(learnt.tailFromMs / 1000)} | ${s1(ours.delayQuantileMs / 1000)} | ${s1(ours.meanDelayMs / 1000)} | ${s2(ours.meanChecks)} | ${learnt.basis.firstHourChecks} |`,
  ];
}

// ---------------------------------------------------------------------------
// Report

/** Nearest-rank percentile. */
function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

function mean(values: readonly number[]): number {
  return values.length === 0 ? NaN : values.reduce((a, b) => a + b, 0) / values.length;
}

/** What a policy did for a set of orders (delays in s). */
interface Stats {
  p50: number;
  p95: number;
  p99: number;
  meanDelay: number;
  checks: number;
  neverFirstHourMax: number;
  neverDayMax: number;
  completed: number;
}

function statsOf(orders: readonly Order[], r: RunResult, pick: (i: number) => boolean): Stats {
  const delays: number[] = [];
  const checks: number[] = [];
  let neverFirstHourMax = 0;
  let neverDayMax = 0;
  for (let i = 0; i < orders.length; i++) {
    if (!pick(i)) continue;
    if (orders[i]!.completionMs === null) {
      neverFirstHourMax = Math.max(neverFirstHourMax, r.firstHourChecks[i]!);
      neverDayMax = Math.max(neverDayMax, r.dayChecks[i]!);
    } else if (!Number.isNaN(r.delayMs[i]!)) {
      delays.push(r.delayMs[i]! / 1000);
      checks.push(r.checks[i]!);
    }
  }
  return {
    p50: percentile(delays, 0.5),
    p95: percentile(delays, 0.95),
    p99: percentile(delays, 0.99),
    meanDelay: mean(delays),
    checks: mean(checks),
    neverFirstHourMax,
    neverDayMax,
    completed: delays.length,
  };
}

const s1 = (x: number): string => (Number.isNaN(x) ? "-" : x.toFixed(1));
const s2 = (x: number): string => (Number.isNaN(x) ? "-" : x.toFixed(2));

/** The goals against the seed: adaptive p95 ≤ 1/3 of the seed's, ≤ 2× its checks per completed order, ≤ 30 first-hour checks. */
function seedGoals(seed: Stats, adaptive: Stats): string[] {
  const failed: string[] = [];
  if (!(adaptive.p95 <= seed.p95 / 3)) failed.push("p95");
  if (!(adaptive.checks <= seed.checks * 2)) failed.push("checks");
  if (adaptive.neverFirstHourMax > 30) failed.push("first hour");
  return failed;
}

/** Adaptive no worse than default: mean and p95 delay within 10 % (+1 s) of the default's. */
function noWorseThanDefault(def: Stats, adaptive: Stats): boolean {
  return adaptive.meanDelay <= def.meanDelay * 1.1 + 1 && adaptive.p95 <= def.p95 * 1.1 + 1;
}

function runCase(c: Case, index: number): boolean {
  const all = drawOrders(c, SEED + index, ORDERS, TRAILING_MS);
  const orders = all.slice(0, ORDERS);
  const runs = POLICIES.map((p, i) => ({ name: p.name, result: simulate(all, p.polling, SEED * 31 + index * 7 + i) }));
  const [seedRun, defaultRun, adaptiveRun] = runs.map((r) => r.result) as [RunResult, RunResult, RunResult];
  let pass = true;
  console.log("");
  console.log(`## ${c.name}: ${c.what}; ${s1(c.neverShare * 100)} % never finish`);
  console.log("");
  console.log("| policy | delay p50 (s) | delay p95 (s) | delay p99 (s) | checks per completed order | never-finishing: first-hour checks (max) | never-finishing: first-day checks (max) | completed | review |");
  console.log("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
  const totals = runs.map((r) => statsOf(orders, r.result, () => true));
  runs.forEach((r, i) => {
    const t = totals[i]!;
    console.log(`| ${r.name} | ${s1(t.p50)} | ${s1(t.p95)} | ${s1(t.p99)} | ${s2(t.checks)} | ${t.neverFirstHourMax} | ${t.neverDayMax} | ${t.completed} | ${r.result.reviews} |`);
  });

  // Groups (the modes of a mixture; drift: before / after).
  const groupOf = (i: number): string => (c.drift ? (i >= c.drift.at * orders.length ? "after drift" : "before drift") : orders[i]!.group);
  const groups = [...new Set(orders.map((_, i) => groupOf(i)))];
  if (groups.length > 1) {
    console.log("");
    console.log("| group | orders | seed mean / p95 (s) | default mean / p95 (s) | adaptive mean / p95 (s) | adaptive no worse than default |");
    console.log("| --- | ---: | ---: | ---: | ---: | --- |");
    for (const g of groups) {
      const [se, de, ad] = [seedRun, defaultRun, adaptiveRun].map((r) => statsOf(orders, r, (i) => groupOf(i) === g)) as [Stats, Stats, Stats];
      const ok = noWorseThanDefault(de, ad);
      if (!c.drift) pass &&= ok;
      console.log(`| ${g} | ${ad.completed} | ${s1(se.meanDelay)} / ${s1(se.p95)} | ${s1(de.meanDelay)} / ${s1(de.p95)} | ${s1(ad.meanDelay)} / ${s1(ad.p95)} | ${ok ? "yes" : "NO"} |`);
    }
  }

  // Windows of 1,000 orders by arrival; the first few hundred after a drift are left out of that window's goals.
  const driftAt = c.drift ? Math.ceil(c.drift.at * orders.length) : Infinity;
  console.log("");
  console.log(
    `| orders | seed p95 (s) | default p95 (s) | adaptive p50 / p95 / p99 (s) | checks per completed: seed / default / adaptive | adaptive never-finishing: first hour / day (max) | goals |`,
  );
  console.log("| --- | ---: | ---: | ---: | ---: | ---: | --- |");
  for (let from = 0; from < orders.length; from += WINDOW_ORDERS) {
    const to = Math.min(orders.length, from + WINDOW_ORDERS);
    const inWindow = (i: number): boolean => i >= from && i < to && !(i >= driftAt && i < driftAt + DRIFT_GRACE_ORDERS);
    const [se, de, ad] = [seedRun, defaultRun, adaptiveRun].map((r) => statsOf(orders, r, inWindow)) as [Stats, Stats, Stats];
    // Cold start (the first 1,000 orders, learnt from nothing): the goal is to be as good as the default preset.
    const failed = from === 0 ? (noWorseThanDefault(de, ad) ? [] : ["worse than default"]) : seedGoals(se, ad);
    const notes: string[] = [];
    if (from === 0) notes.push(`cold start: goal is no worse than default; seed goals ${seedGoals(se, ad).length === 0 ? "met too" : `not met (${seedGoals(se, ad).join(", ")})`}`);
    if (driftAt >= from && driftAt < to) notes.push(`drift at ${driftAt}, orders ${driftAt}–${driftAt + DRIFT_GRACE_ORDERS - 1} left out`);
    pass &&= failed.length === 0;
    const goal = `${failed.length === 0 ? "pass" : `FAIL (${failed.join(", ")})`}${notes.length > 0 ? `; ${notes.join("; ")}` : ""}`;
    console.log(
      `| ${from}–${to - 1} | ${s1(se.p95)} | ${s1(de.p95)} | ${s1(ad.p50)} / ${s1(ad.p95)} / ${s1(ad.p99)} | ${s2(se.checks)} / ${s2(de.checks)} / ${s2(ad.checks)} | ${ad.neverFirstHourMax} / ${ad.neverDayMax} | ${goal} |`,
    );
  }
  // The drift's recovery: the first 250-order block after the drift from which adaptive meets the seed goals in every block.
  if (c.drift) {
    const block = 250;
    let recovered = -1;
    for (let from = driftAt; from < orders.length; from += block) {
      const rest = (i: number): boolean => i >= from && i < from + block;
      const [se, ad] = [seedRun, adaptiveRun].map((r) => statsOf(orders, r, rest)) as [Stats, Stats];
      if (seedGoals(se, ad).length === 0) {
        if (recovered < 0) recovered = from;
      } else recovered = -1;
    }
    console.log("");
    console.log(`drift recovery: adaptive meets the seed goals in every ${block}-order block from order ${recovered < 0 ? "(never)" : `${recovered} (${recovered - driftAt} orders after the drift)`}`);
  }

  const total = seedGoals(totals[0]!, totals[2]!);
  pass &&= total.length === 0;
  console.log("");
  console.log(`total: ${total.length === 0 ? "pass" : `FAIL (${total.join(", ")})`}`);
  if (c.methodCheck) {
    console.log("");
    for (const line of methodCheck(orders)) console.log(line);
  }
  const s = adaptiveRun.learnt.byPackage.values().next().value;
  console.log("");
  if (s) {
    console.log(
      `adaptive, last learnt schedule: h ${s.hazard}, D ${s1(s.maxGapMs / 1000)} s, tail from ${s1(s.tailFromMs / 1000)} s (q* ${s.basis.tailQuantile}), ` +
        `from ${s.basis.samples} samples${s.basis.drift ? " (after a change)" : ""}, expected ${s2(s.basis.expectedChecks)} checks (budget ${s2(s.basis.budgetChecks)}), expected p95 ${s1(s.basis.expectedDelayMs / 1000)} s, ` +
        `${s.basis.firstHourChecks} first-hour checks; ${adaptiveRun.refreshes} refreshes, learning took ${s1(adaptiveRun.learnMs)} ms in all`,
    );
  } else console.log(`adaptive: on the fallback preset at the end (no learnt schedule served every group at least as well); learning took ${s1(adaptiveRun.learnMs)} ms in all`);
  return pass;
}

function main(): void {
  const started = performance.now();
  const only = args.get("case");
  console.log(`# Poll policy benchmark`);
  console.log(`orders per case: ${ORDERS} (Poisson arrivals, mean ${MEAN_INTERARRIVAL_MS / 1000} s apart), windows of ${WINDOW_ORDERS}, seed: ${SEED}`);
  console.log(
    `adaptive: refresh every ${REFRESH_MS / 1000} s, window ${DEFAULT_ADAPTIVE.window}, min samples ${DEFAULT_ADAPTIVE.minSamples}, budget ${DEFAULT_ADAPTIVE.budget}× seed checks, ` +
      `≤ ${DEFAULT_ADAPTIVE.maxChecksFirstHour} first-hour checks per schedule (every gap jittered short), per watch ≤ ${DEFAULT_ADAPTIVE.firstHourLimit} in the first hour and ≤ ${DEFAULT_ADAPTIVE.dayLimit} in the first day, fallback: default`,
  );
  let allPass = true;
  const failedCases: string[] = [];
  CASES.forEach((c, i) => {
    if (only && c.name !== only) return;
    const pass = runCase(c, i);
    if (!pass) failedCases.push(c.name);
    allPass &&= pass;
  });
  console.log("");
  console.log(`all goals: ${allPass ? "pass" : `FAIL (${failedCases.join(", ")})`} (${s1((performance.now() - started) / 1000)} s)`);
  if (!allPass) process.exitCode = 1;
}

// ---------------------------------------------------------------------------
// Sweep of fixed presets (how DEFAULT_POLICY was chosen)

interface Row {
  p50: number;
  p95: number;
  checks: number;
  neverMax: number;
}

function rowOf(orders: readonly Order[], r: RunResult): Row {
  const t = statsOf(orders, r, () => true);
  return { p50: t.p50, p95: t.p95, checks: t.checks, neverMax: t.neverFirstHourMax };
}

function sweep(): void {
  const orders = Math.min(ORDERS, 5000);
  const draws = CASES.filter((c) => c.methodCheck).map((c, d) => drawOrders(c, SEED + d, orders));
  const measure = (policy: PollPolicy, i: number): Row[] =>
    draws.map((o, d) => rowOf(o, simulate(o, { mode: "preset", preset: "custom", policy }, SEED * 17 + d * 7 + i)));
  const seed = measure(SEED_POLICY, 0);
  const rows: Array<{ policy: PollPolicy; label: string; p95: number[]; p50: number[]; checks: number[]; firstHour: number }> = [];
  let i = 1;
  for (const first of [10, 15, 20, 30]) {
    for (const repeats of [0, 1, 2, 3, 4]) {
      for (const growth of [1.3, 1.4, 1.5, 1.6, 2]) {
        for (const capMin of [3, 5, 10]) {
          const policy: PollPolicy = {
            ...DEFAULT_POLICY,
            firstDelayMs: first * 1000,
            delaysMs: Array<number>(repeats).fill(first * 1000),
            growth,
            maxDelayMs: capMin * 60_000,
          };
          const r = measure(policy, i++);
          rows.push({
            policy,
            label: `${first} s ×${repeats + 1}, then ×${growth}, cap ${capMin} min`,
            p95: r.map((x, d) => x.p95 / seed[d]!.p95),
            p50: r.map((x, d) => x.p50 / seed[d]!.p50),
            checks: r.map((x, d) => x.checks / seed[d]!.checks),
            firstHour: Math.max(...r.map((x) => x.neverMax)),
          });
        }
      }
    }
  }
  const fits = rows.filter((r) => r.checks.every((c) => c <= 1.75) && r.firstHour <= 20);
  fits.sort((a, b) => Math.max(...a.p95) - Math.max(...b.p95));
  const isDefault = (p: PollPolicy): boolean => JSON.stringify(p) === JSON.stringify(DEFAULT_POLICY);
  console.log(`# Fixed-preset sweep: ${rows.length} presets, ${orders} orders per distribution; ratios to the seed preset (fast / slow)`);
  console.log(`${fits.length} cost ≤ 1.75× the seed's checks on both and ≤ 20 first-hour checks; best by the worse of the two p95 ratios:`);
  console.log("");
  console.log("| preset | p95 ratio | p50 ratio | checks ratio | first-hour checks (max) |");
  console.log("| --- | --- | --- | --- | ---: |");
  const pair = (x: number[]): string => x.map(s2).join(" / ");
  for (const r of fits.slice(0, 10)) console.log(`| ${r.label}${isDefault(r.policy) ? " (default)" : ""} | ${pair(r.p95)} | ${pair(r.p50)} | ${pair(r.checks)} | ${r.firstHour} |`);
  const chosen = fits.findIndex((r) => isDefault(r.policy));
  console.log("");
  console.log(chosen >= 0 ? `default preset: rank ${chosen + 1} of ${fits.length}` : "default preset: not among those that fit");
}

if (args.has("sweep")) sweep();
else main();
