import { seededRandom } from "@pinflow/testkit";
import { test } from "node:test";
import assert from "node:assert/strict";
import type { EncryptedPin, EventOf } from "@pinflow/contracts";
import {
  HOUR_MS,
  learnSchedule,
  learnSchedules,
  learntCheckTimes,
  learntDelayMs,
  learntGapMs,
  presetCheckTimes,
  quantileAt,
  quantileTable,
  replay,
  sampleValueMs,
  samplesSinceChange,
  scheduleFor,
  survivalAt,
  type CompletionRecord,
  type CompletionSample,
  type LearntSchedule,
} from "./adaptive.js";
import { cadenceFor, decideCheck, newWatch, type Cadence, type CheckResult } from "./poll.js";
import { DEFAULT_ADAPTIVE, DEFAULT_POLICY, SEED_POLICY, type AdaptiveSettings, type ProviderPolling } from "./policy.js";

const T0 = new Date("2026-01-01T10:00:00.000Z");
const at = (ms: number): Date => new Date(T0.getTime() + ms);
const SEALED: EncryptedPin = { alg: "A256GCM", keyId: "k1", iv: "aXY=", tag: "dGFn", ciphertext: "Y2lwaGVy" };
const pending: CheckResult = { kind: "pending", note: null };
const done: CheckResult = { kind: "done", pin: SEALED, note: null };

const rng = seededRandom;

/** `n` draws from a lognormal with this median and p95 (ms). */
function lognormal(n: number, medianMs: number, p95Ms: number, seed = 1): number[] {
  const random = rng(seed);
  const sigma = Math.log(p95Ms / medianMs) / 1.6448536;
  return Array.from({ length: n }, () => {
    const u = 1 - random();
    return medianMs * Math.exp(sigma * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random()));
  });
}

const FAST = lognormal(2000, 20_000, 180_000, 1);
const SLOW = lognormal(2000, 300_000, 1_800_000, 2);
const TINY = Array.from({ length: 300 }, (_, i) => 400 + (i % 7) * 10);
const BIMODAL = [...lognormal(700, 8_000, 15_000, 3), ...lognormal(300, 600_000, 1_200_000, 4)];
const SAMPLES: Record<string, number[]> = { fast: FAST, slow: SLOW, tiny: TINY, bimodal: BIMODAL };

function learnt(values: number[], settings: AdaptiveSettings = DEFAULT_ADAPTIVE): LearntSchedule {
  const s = learnSchedule(values, settings, DEFAULT_POLICY);
  assert.ok(s, "a schedule is learnt");
  return s;
}

test("the quantile table and the survival function are inverses, and bounded in size", () => {
  const sorted = Float64Array.from(FAST).sort();
  const table = quantileTable(sorted);
  assert.equal(table.length, 201);
  assert.equal(table[0], sorted[0]);
  assert.equal(table[200], sorted[sorted.length - 1]);
  for (const p of [0.01, 0.1, 0.25, 0.5, 0.9, 0.95, 0.995]) {
    assert.ok(Math.abs(1 - survivalAt(table, quantileAt(table, p)) - p) < 1e-9, `F(Q(${p})) = ${p}`);
  }
  assert.equal(survivalAt(table, -1), 1);
  assert.equal(survivalAt(table, table[200]!), 0);
  // The empirical median is close to the distribution's.
  assert.ok(Math.abs(quantileAt(table, 0.5) - 20_000) < 2000);
  assert.equal(learnt(FAST).quantilesMs.length, 201, "a schedule keeps the table, not the sample");
});

test("a sample's value is a point of its interval fixed by the interval, spread across intervals (not their midpoints)", () => {
  const v = sampleValueMs({ lowerMs: 20_000, upperMs: 40_000 });
  assert.ok(v >= 20_000 && v <= 40_000);
  assert.equal(sampleValueMs({ lowerMs: 20_000, upperMs: 40_000 }), v, "deterministic");
  assert.equal(sampleValueMs({ lowerMs: 15_000, upperMs: 15_000 }), 15_000);
  assert.equal(sampleValueMs({ lowerMs: 9000, upperMs: 5000 }), 5000, "a malformed interval collapses to its upper end");
  // Orders checked on the same grid (pending at 10 s, done at 20 s, a few ms apart): spread over the gap, not piled at 15 s.
  const values = Array.from({ length: 1000 }, (_, i) => sampleValueMs({ lowerMs: 10_000 + i, upperMs: 20_000 + i }) - i);
  const tenths = new Array<number>(10).fill(0);
  for (const x of values) tenths[Math.min(9, Math.floor((x - 10_000) / 1000))]!++;
  for (const count of tenths) assert.ok(count > 60 && count < 140, `${tenths.join(",")}: about uniform`);
});

test("fewer than minSamples → no schedule (the preset applies)", () => {
  assert.equal(learnSchedule(FAST.slice(0, 99), DEFAULT_ADAPTIVE, DEFAULT_POLICY), null);
  assert.ok(learnSchedule(FAST.slice(0, 100), DEFAULT_ADAPTIVE, DEFAULT_POLICY));
  assert.equal(learnSchedule([], { ...DEFAULT_ADAPTIVE, minSamples: 0 }, DEFAULT_POLICY), null);
});

test("fallback: package → provider → preset", () => {
  const records = (packageId: string, values: number[]): CompletionRecord[] =>
    values.map((v) => ({ provider: "znet", packageId, lowerMs: v, upperMs: v }));
  const polling: ProviderPolling = { mode: "adaptive", policy: DEFAULT_POLICY, adaptive: DEFAULT_ADAPTIVE };
  const settingsFor = () => ({ settings: DEFAULT_ADAPTIVE, policy: DEFAULT_POLICY });

  // 150 of "big" (enough alone), 30 of "small" (not enough): small uses the provider's 180.
  const l = learnSchedules([...records("big", SLOW.slice(0, 150)), ...records("small", FAST.slice(0, 30))], settingsFor);
  assert.equal(scheduleFor(l, "znet", "big")?.basis.scope, "package");
  assert.equal(scheduleFor(l, "znet", "big")?.basis.samples, 150);
  assert.equal(scheduleFor(l, "znet", "small")?.basis.scope, "provider");
  assert.equal(scheduleFor(l, "znet", "small")?.basis.samples, 180);
  assert.equal(scheduleFor(l, "xstor", "big"), null);
  assert.deepEqual(cadenceFor(polling, l, "xstor", "big"), { kind: "preset" });
  assert.equal(cadenceFor(polling, l, "znet", "small").kind, "learnt");

  // Too few for the provider as a whole: no schedule anywhere.
  const few = learnSchedules(records("small", FAST.slice(0, 30)), settingsFor);
  assert.equal(scheduleFor(few, "znet", "small"), null);
  assert.deepEqual(cadenceFor(polling, few, "znet", "small"), { kind: "preset" });

  // A provider on a preset learns nothing.
  const none = learnSchedules(records("big", SLOW.slice(0, 150)), () => null);
  assert.equal(none.byPackage.size + none.byProvider.size, 0);
  assert.deepEqual(cadenceFor({ mode: "preset", preset: "seed", policy: SEED_POLICY }, l, "znet", "big"), { kind: "preset" });
});

test("the window: only the newest samples count; an unchanged sample keeps its schedule", () => {
  const settings = { ...DEFAULT_ADAPTIVE, window: 100 };
  const settingsFor = () => ({ settings, policy: DEFAULT_POLICY });
  // Newest first: 100 fast ones, then 500 slow ones that fall out of the window.
  const records: CompletionRecord[] = [...FAST.slice(0, 100), ...SLOW.slice(0, 500)].map((v) => ({ provider: "znet", packageId: "p", lowerMs: v, upperMs: v }));
  const first = learnSchedules(records, settingsFor);
  const s = scheduleFor(first, "znet", "p")!;
  assert.equal(s.basis.samples, 100);
  assert.ok(s.quantilesMs[200]! <= Math.max(...FAST.slice(0, 100)));
  const again = learnSchedules(records, settingsFor, first);
  assert.equal(scheduleFor(again, "znet", "p"), s, "not learnt again");
});

test("schedules are monotone: check times strictly increase, no gap below minGap, none above the cap (the late cap past the largest completion seen)", () => {
  for (const [name, values] of Object.entries(SAMPLES)) {
    const s = learnt(values);
    const times = learntCheckTimes(s, 24 * HOUR_MS);
    let prevGap = 0;
    for (let i = 0; i < times.length; i++) {
      const t = times[i]!;
      const gap = t - (times[i - 1] ?? 0);
      assert.ok(gap >= s.minGapMs, `${name}: gap ${gap} below minGap`);
      const cap = (times[i - 1] ?? 0) >= s.lateFromMs ? s.lateCapMs : Math.max(s.capMs, s.minGapMs);
      assert.ok(gap <= cap, `${name}: gap ${gap} above the cap`);
      if ((times[i - 1] ?? 0) >= s.tailFromMs) assert.ok(gap >= prevGap, `${name}: tail gaps never shrink`);
      prevGap = gap;
    }
    // The gap is a function of the time waited, not of how the order got there.
    for (const t of [0, 1234, 30_000, 400_000]) assert.equal(learntGapMs(s, t), learntGapMs({ ...s }, t));
  }
});

test("in the body each check has about the same conditional chance h of finding the order done", () => {
  // With a wide D the quantile step is what places the checks: S(t_k+1) = (1 − h)·S(t_k).
  const base = learnt(SLOW);
  const s: LearntSchedule = { ...base, hazard: 0.3, maxGapMs: 20 * 60_000, capMs: 20 * 60_000, tailFromMs: quantileAt(base.quantilesMs, 0.97), presetTimesMs: [] };
  const times = [0, ...learntCheckTimes(s, s.tailFromMs)];
  let counted = 0;
  for (let i = 1; i < times.length; i++) {
    const gap = times[i]! - times[i - 1]!;
    if (times[i - 1]! >= s.tailFromMs || gap <= s.minGapMs || gap >= s.maxGapMs) continue;
    const before = survivalAt(s.quantilesMs, times[i - 1]!);
    const after = survivalAt(s.quantilesMs, times[i]!);
    assert.ok(Math.abs((before - after) / before - 0.3) < 0.01, `check ${i}: chance ${(before - after) / before}`);
    counted++;
  }
  assert.ok(counted >= 5, `${counted} checks placed by quantile`);
});

test("the learnt schedule keeps within its budget and first-hour limit on its own sample", () => {
  for (const [name, values] of Object.entries(SAMPLES)) {
    const s = learnt(values);
    const sorted = Float64Array.from(values).sort();
    const horizon = Math.max(sorted[sorted.length - 1]!, HOUR_MS);
    const r = replay(learntCheckTimes(s, horizon), sorted, 0.95);
    assert.ok(Math.abs(r.meanChecks - s.basis.expectedChecks) < 1e-9, name);
    assert.ok(r.meanChecks <= s.basis.budgetChecks + 1e-9, `${name}: ${r.meanChecks} checks > budget ${s.basis.budgetChecks}`);
    const seedChecks = replay(presetCheckTimes(SEED_POLICY, horizon), sorted).meanChecks;
    assert.ok(Math.abs(s.basis.budgetChecks - DEFAULT_ADAPTIVE.budget * seedChecks) < 1e-9, "the budget is stated against the seed");
    assert.ok(s.basis.firstHourChecks <= DEFAULT_ADAPTIVE.maxChecksFirstHour);
  }
  // A tighter budget: fewer checks, longer delay (still at least what the default preset costs: no group served worse).
  const tight = learnt(FAST, { ...DEFAULT_ADAPTIVE, budget: 1.5 });
  const loose = learnt(FAST);
  assert.ok(tight.basis.expectedChecks < loose.basis.expectedChecks);
  assert.ok(tight.basis.expectedDelayMs > loose.basis.expectedDelayMs);
  // A budget nothing fits: no schedule.
  assert.equal(learnSchedule(FAST, { ...DEFAULT_ADAPTIVE, budget: 0.5 }, DEFAULT_POLICY), null);
});

test("tail back-off: past the observed distribution gaps grow geometrically up to the cap, past the largest completion seen up to the late cap; ≤ 30 checks in a never-finishing order's first hour, whatever the jitter", () => {
  for (const [name, values] of Object.entries(SAMPLES)) {
    const s = learnt(values);
    for (const t of [s.tailFromMs, (s.tailFromMs + s.lateFromMs) / 2]) {
      if (t >= s.lateFromMs) continue;
      const gap = learntGapMs(s, t);
      // Never longer than the back-off, nor than the preset's gap where orders still finish.
      assert.ok(gap <= Math.round(Math.min(Math.max((s.tailGrowth - 1) * t, s.maxGapMs, s.minGapMs), s.capMs)), `${name}: tail gap at ${t}`);
    }
    for (const t of [s.lateFromMs, s.lateFromMs * 2, 20 * HOUR_MS]) {
      assert.equal(learntGapMs(s, t), Math.round(Math.min(Math.max((s.tailGrowth - 1) * t, s.maxGapMs, s.minGapMs), s.lateCapMs)), `${name}: late gap at ${t}`);
    }
    assert.equal(learntGapMs(s, 20 * HOUR_MS), s.lateCapMs);
    // An order that never finishes, with every jitter draw low, high, or random.
    for (const draw of [() => 0, () => 0.999_999, rng(7)]) {
      let t = 0;
      let checks = 0;
      for (;;) {
        t += learntDelayMs(s, t, DEFAULT_POLICY.jitter, draw());
        if (t > HOUR_MS) break;
        checks++;
      }
      assert.ok(checks <= 30, `${name}: ${checks} checks in the first hour`);
    }
  }
});

test("jitter stays within ±jitter of the learnt gap and spans the range", () => {
  const s = learnt(FAST);
  for (const t of [0, 10_000, 60_000, 500_000]) {
    const gap = learntGapMs(s, t);
    for (let i = 0; i <= 100; i++) {
      const d = learntDelayMs(s, t, 0.2, i / 101);
      assert.ok(d >= Math.floor(gap * 0.8) && d <= Math.ceil(gap * 1.2), `${d} outside ±20 % of ${gap}`);
    }
    assert.equal(learntDelayMs(s, t, 0.2, 0), Math.round(gap * 0.8));
    assert.ok(learntDelayMs(s, t, 0.2, 0.999_999) >= Math.round(gap * 1.19));
    assert.equal(learntDelayMs(s, t, 0, 0.9), gap);
  }
});

test("no checks where nothing finishes: a provider that always takes 30–60 s is first checked at about 30 s", () => {
  const values = Array.from({ length: 500 }, (_, i) => 30_000 + ((i * 7919) % 500) * 60);
  // (The seed checks these once, at 60 s: a budget of 1.9× that is too tight to show anything.)
  const s = learnt(values, { ...DEFAULT_ADAPTIVE, budget: 5 });
  const first = learntGapMs(s, 0);
  assert.ok(first >= 29_000 && first <= 31_000, `first check at ${first} ms`);
  assert.ok(s.maxGapMs < first, "D gave way where nothing finishes");
  assert.ok(learntCheckTimes(s, 60_000).length <= 1 + Math.ceil(30_000 / s.maxGapMs) + 1, "then every D at most");
});

test("a faster provider gets earlier, denser checks than a slow one", () => {
  const fast = learnt(FAST);
  const slow = learnt(SLOW);
  assert.ok(learntGapMs(fast, 0) < learntGapMs(slow, 0));
  assert.ok(fast.maxGapMs < slow.maxGapMs);
  assert.ok(fast.tailFromMs < slow.tailFromMs);
});

// ---------------------------------------------------------------------------
// In the watch rules

const sent: EventOf<"OrderSent"> = {
  id: "3f1c2a7e-8d44-4f1b-9a55-0c7d1e2b3a4f",
  type: "OrderSent",
  schemaVersion: 1,
  orderId: "ord-1",
  occurredAt: T0.toISOString(),
  correlationId: "corr-1",
  causationId: "cause-1",
  data: { packageId: "pubg-60", provider: "znet", reference: "100200300", cost: "10.12", balance: null, providerOrderId: null },
};

test("a learnt cadence places the first check and each next one from the time waited; the preset cadence is unchanged", () => {
  const s = learnt(FAST);
  const cadence: Cadence = { kind: "learnt", schedule: s };
  const w = newWatch(sent, DEFAULT_POLICY, 0.5, cadence);
  assert.deepEqual(w.nextCheckAt, at(learntGapMs(s, 0)));
  const d = decideCheck({ ...w, attempt: 7 }, pending, at(45_000), DEFAULT_POLICY, 0.5, cadence);
  assert.deepEqual(d.watch.nextCheckAt, at(45_000 + learntGapMs(s, 45_000)), "from the 45 s waited, whatever the attempt");
  assert.deepEqual(d.watch.lastPendingAt, at(45_000));

  const seed = decideCheck({ ...newWatch(sent, SEED_POLICY, 0.5), attempt: 2 }, pending, at(200_000), SEED_POLICY, 0.5);
  assert.deepEqual(seed.watch.nextCheckAt, at(200_000 + 120_000), "the seed preset as before");
  assert.equal(seed.completion, undefined);
});

test("a done check records the interval: pending at the last pending check, done now", () => {
  const w = newWatch(sent, SEED_POLICY, 0.5);
  const first = decideCheck(w, done, at(60_000), SEED_POLICY, 0.5);
  assert.deepEqual(first.completion, { orderId: "ord-1", provider: "znet", packageId: "pubg-60", lowerMs: 0, upperMs: 60_000 });

  let x = decideCheck(w, pending, at(60_000), SEED_POLICY, 0.5).watch;
  x = decideCheck(x, pending, at(90_000), SEED_POLICY, 0.5).watch;
  x = decideCheck(x, { kind: "unknown", cause: "HTTP 500" }, at(150_000), SEED_POLICY, 0.5).watch;
  assert.deepEqual(x.lastPendingAt, at(90_000), "an unclear reply does not move the lower bound");
  const last = decideCheck(x, done, at(270_000), SEED_POLICY, 0.5);
  assert.equal(last.completion?.lowerMs, 90_000);
  assert.equal(last.completion?.upperMs, 270_000);
  const value = sampleValueMs(last.completion!);
  assert.ok(value >= 90_000 && value <= 270_000);
  assert.equal(decideCheck(x, { kind: "cancelled", note: null }, at(270_000), SEED_POLICY, 0.5).completion, undefined);
});

test("drift: the samples since a change in the provider's completion times, not a change of the schedule that recorded them", () => {
  /** Intervals as a schedule with checks every `gapMs` records them. */
  const recorded = (values: number[], gapMs: number, offsetMs = 0): CompletionSample[] =>
    values.map((v) => {
      const upper = Math.max(gapMs, Math.ceil((v - offsetMs) / gapMs) * gapMs + offsetMs);
      return { lowerMs: Math.max(0, upper - gapMs), upperMs: upper };
    });
  // Newest first: 200 of a provider that became fast, after 1,500 slow ones.
  const changed = [...recorded(FAST.slice(0, 200), 5000), ...recorded(SLOW.slice(0, 1500), 60_000)];
  const since = samplesSinceChange(changed, DEFAULT_ADAPTIVE.minSamples);
  assert.ok(since >= 141 && since <= 283, `learns from the newest ${since}`);
  // The other way round.
  const slower = [...recorded(SLOW.slice(0, 300), 60_000), ...recorded(FAST.slice(0, 1500), 5000)];
  const since2 = samplesSinceChange(slower, DEFAULT_ADAPTIVE.minSamples);
  assert.ok(since2 >= 200 && since2 <= 400, `learns from the newest ${since2}`);
  // The same provider, recorded under two schedules (5 s and 20 s grids): no change.
  const regridded = [...recorded(FAST.slice(0, 700), 5000, 2000), ...recorded(FAST.slice(700, 2000), 20_000)];
  assert.equal(samplesSinceChange(regridded, DEFAULT_ADAPTIVE.minSamples), 2000);
  // And through learnSchedules: the schedule comes from the newest samples only.
  const records: CompletionRecord[] = changed.map((c) => ({ ...c, provider: "znet", packageId: "p" }));
  const s = scheduleFor(learnSchedules(records, () => ({ settings: DEFAULT_ADAPTIVE, policy: DEFAULT_POLICY })), "znet", "p");
  assert.ok(s?.basis.drift);
  assert.equal(s.basis.samples, since);
});
