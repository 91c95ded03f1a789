/**
 * Issue 13, cold start: the learner sees the pending orders too (survival.ts), so a schedule
 * learnt while a provider's slow orders are still pending does not back off before them.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { seededRandom } from "@pinflow/testkit";
import { learnSchedules, learntCheckTimes, presetCheckTimes, replay, scheduleFor, type CompletionRecord, type PendingRecord } from "./adaptive.js";
import { adaptiveCheckBudget, DEFAULT_ADAPTIVE, DEFAULT_POLICY } from "./policy.js";

const T0 = Date.parse("2026-01-01T10:00:00.000Z");
const MINUTE = 60_000;

function lognormal(random: () => number, medianMs: number, p95Ms: number): number {
  const sigma = Math.log(p95Ms / medianMs) / 1.6448536;
  const u = 1 - random();
  return medianMs * Math.exp(sigma * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random()));
}

/** A mixture provider: 80 % done in seconds (median 5 s), 20 % in minutes (median 10 min, p95 30 min). */
function mixture(random: () => number): number {
  return random() < 0.8 ? lognormal(random, 5_000, 15_000) : lognormal(random, 600_000, 1_800_000);
}

/**
 * The poller `minutes` after it started, one order sent every 3 s since, each checked every
 * 10 s: the orders done by now as completion records, the others as pending watches.
 */
function coldStart(minutes: number, seed: number): { records: CompletionRecord[]; pending: PendingRecord[]; nowMs: number } {
  const random = seededRandom(seed);
  const nowMs = T0 + minutes * MINUTE;
  const records: CompletionRecord[] = [];
  const pending: PendingRecord[] = [];
  for (let sentAtMs = T0; sentAtMs < nowMs; sentAtMs += 3000) {
    const doneMs = mixture(random);
    const upperMs = Math.ceil(doneMs / 10_000) * 10_000;
    if (sentAtMs + upperMs <= nowMs) records.push({ provider: "znet", packageId: "p", lowerMs: upperMs - 10_000, upperMs, doneAtMs: sentAtMs + upperMs });
    else pending.push({ provider: "znet", packageId: "p", sentAtMs, lowerMs: Math.floor((nowMs - sentAtMs) / 10_000) * 10_000 });
  }
  records.sort((a, b) => b.doneAtMs! - a.doneAtMs!);
  return { records, pending, nowMs };
}

const settingsFor = () => ({ settings: DEFAULT_ADAPTIVE, policy: { ...DEFAULT_POLICY, checkBudget: adaptiveCheckBudget(DEFAULT_ADAPTIVE) } });

/** Mean detection delay of the minutes-mode orders under these check times. */
function minutesModeMeanDelayMs(times: readonly number[]): number {
  const random = seededRandom(99);
  const values = Float64Array.from({ length: 4000 }, () => lognormal(random, 600_000, 1_800_000)).filter((v) => v < 20 * 3_600_000).sort();
  return replay(times, values).meanDelayMs;
}

test("cold start: a schedule learnt with the pending orders serves the slow mode still pending as well as the preset; from completions alone it does not", () => {
  const { records, pending, nowMs } = coldStart(12, 5);
  assert.ok(records.length >= DEFAULT_ADAPTIVE.minSamples, `${records.length} completions`);
  assert.ok(pending.length > 20, `${pending.length} pending`);
  const horizon = 20 * 3_600_000;
  const preset = minutesModeMeanDelayMs(presetCheckTimes({ ...DEFAULT_POLICY, checkBudget: adaptiveCheckBudget(DEFAULT_ADAPTIVE) }, horizon));

  const blind = scheduleFor(learnSchedules(records, settingsFor), "znet", "p");
  assert.ok(blind, "from completions alone a schedule is learnt");
  const blindDelay = minutesModeMeanDelayMs(learntCheckTimes(blind, horizon));

  const seeing = scheduleFor(learnSchedules(records, settingsFor, undefined, { pending, nowMs }), "znet", "p");
  assert.ok(seeing, "with the pending orders a schedule is learnt too");
  // It knows how far its estimate goes: not past the oldest order's age.
  assert.ok(seeing.knownUntilMs <= 12 * MINUTE, `known until ${seeing.knownUntilMs} ms`);
  const seeingDelay = minutesModeMeanDelayMs(learntCheckTimes(seeing, horizon));

  assert.ok(blindDelay > preset * 1.5, `completions alone: the slow mode waits ${Math.round(blindDelay / 1000)} s on average vs the preset's ${Math.round(preset / 1000)} s`);
  assert.ok(seeingDelay <= preset * 1.1 + 5000, `with the pending orders: ${Math.round(seeingDelay / 1000)} s vs the preset's ${Math.round(preset / 1000)} s`);
});

test("cold start is not taken for a drift: orders are compared by when they were sent, at the ages they reached", () => {
  const { records, pending, nowMs } = coldStart(30, 6);
  // By when they finished, the first completions are the quick ones and the newest include the slow mode.
  const seeing = scheduleFor(learnSchedules(records, settingsFor, undefined, { pending, nowMs }), "znet", "p");
  assert.ok(seeing, "a schedule is learnt");
  assert.equal(seeing.basis.drift, false);
  assert.ok(seeing.basis.samples >= records.length * 0.9, `learnt from ${seeing.basis.samples} of ${records.length} completions' worth`);
});

test("after a real change, only the orders sent since it are learnt from", () => {
  const random = seededRandom(8);
  const nowMs = T0 + 180 * MINUTE;
  const changeMs = T0 + 120 * MINUTE;
  const records: CompletionRecord[] = [];
  const pending: PendingRecord[] = [];
  for (let sentAtMs = T0; sentAtMs < nowMs; sentAtMs += 3000) {
    // Slow (median 5 min) before the change, fast (median 20 s) after it.
    const doneMs = sentAtMs < changeMs ? lognormal(random, 300_000, 1_800_000) : lognormal(random, 20_000, 180_000);
    const upperMs = Math.ceil(doneMs / 10_000) * 10_000;
    if (sentAtMs + upperMs <= nowMs) records.push({ provider: "znet", packageId: "p", lowerMs: upperMs - 10_000, upperMs, doneAtMs: sentAtMs + upperMs });
    else pending.push({ provider: "znet", packageId: "p", sentAtMs, lowerMs: Math.floor((nowMs - sentAtMs) / 10_000) * 10_000 });
  }
  records.sort((a, b) => b.doneAtMs! - a.doneAtMs!);
  const s = scheduleFor(learnSchedules(records.slice(0, 2000), settingsFor, undefined, { pending, nowMs }), "znet", "p");
  assert.ok(s, "a schedule is learnt");
  assert.equal(s.basis.drift, true);
  // Learnt from the fast regime: its p95 is minutes, not the slow regime's half hour.
  const p95 = s.quantilesMs[190]!;
  assert.ok(p95 < 6 * MINUTE, `p95 of the learnt distribution ${Math.round(p95 / 1000)} s`);
});
