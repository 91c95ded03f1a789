/**
 * The per-watch check bound (issue 13): whatever schedule is current and however often it is
 * learnt again, a watch never gets more than the stated number of checks in its first hour (or day).
 * The learner is driven through a drift and a re-learning storm: every refresh (each minute) learns
 * from a different provider regime, so every watch follows a different schedule at almost every check.
 */
import { seededRandom } from "@pinflow/testkit";
import { test } from "node:test";
import assert from "node:assert/strict";
import type { EventOf } from "@pinflow/contracts";
import { HOUR_MS, learnSchedules, NO_SCHEDULES, type CompletionRecord, type LearntSchedules } from "./adaptive.js";
import { cadenceFor, decideCheck, newWatch, type CheckResult, type Watch } from "./poll.js";
import { DEFAULT_ADAPTIVE, providerPolling } from "./policy.js";

const T0 = Date.parse("2026-01-01T10:00:00.000Z");
const MINUTE_MS = 60_000;
const pending: CheckResult = { kind: "pending", note: null };
const polling = providerPolling("adaptive", { overrides: {}, adaptive: DEFAULT_ADAPTIVE, adaptiveFallback: "default" });

/** `n` completion times (ms) of one provider regime. */
type Regime = (random: () => number) => number;
function lognormal(medianMs: number, p95Ms: number): Regime {
  const sigma = Math.log(p95Ms / medianMs) / 1.6448536;
  return (random) => medianMs * Math.exp(sigma * Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random()));
}
const fixedAt = (ms: number, spreadMs: number): Regime => (random) => ms + (random() - 0.5) * spreadMs;

/**
 * The regime of minute `m`: a six-phase cycle of ten minutes each, phase 0 a fast provider
 * (dense checks in the first minutes), phase k a provider that finishes at about 10·k + 5 minutes,
 * its spread drifting every minute. A watch sent at a cycle's start follows, in its k-th ten
 * minutes, the schedule that is densest exactly then.
 */
function regimeAt(m: number): Regime {
  const phase = Math.floor(m / 10) % 6;
  const spreadMs = (1 + (m % 10) * 0.2) * MINUTE_MS;
  return phase === 0 ? lognormal(15_000 + (m % 10) * 1000, 120_000) : fixedAt((10 * phase + 5) * MINUTE_MS, spreadMs);
}

/**
 * The schedules of each minute: none for the first 5 minutes (the fallback preset), then each
 * refresh learns from 300 new completions of that minute's regime (a re-learning storm with drift).
 */
function stormSchedules(minutes: number): LearntSchedules[] {
  const random = seededRandom(13);
  const out: LearntSchedules[] = [];
  let learnt = NO_SCHEDULES;
  for (let m = 0; m < minutes; m++) {
    if (m >= 5) {
      const regime = regimeAt(m);
      const records: CompletionRecord[] = Array.from({ length: 300 }, () => {
        const v = regime(random);
        return { provider: "znet", packageId: "pkg", lowerMs: Math.max(0, v - 2000), upperMs: v + 2000 };
      });
      learnt = learnSchedules(records, () => ({ settings: DEFAULT_ADAPTIVE, policy: polling.policy }), learnt);
    }
    out.push(learnt);
  }
  return out;
}

function sent(i: number, sentAtMs: number): EventOf<"OrderSent"> {
  return {
    id: `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`,
    type: "OrderSent",
    schemaVersion: 1,
    orderId: `o-${i}`,
    occurredAt: new Date(T0 + sentAtMs).toISOString(),
    correlationId: `o-${i}`,
    causationId: null,
    data: { packageId: "pkg", provider: "znet", reference: `r-${i}`, cost: "1.00", balance: null, providerOrderId: null },
  };
}

/** Check times (ms after sent) of a never-finishing order sent at `sentAtMs`, following the schedule of each minute, up to `untilMs`. */
function checksOf(schedules: readonly LearntSchedules[], i: number, sentAtMs: number, untilMs: number, random: () => number): number[] {
  const learntAt = (absMs: number): LearntSchedules => schedules[Math.min(schedules.length - 1, Math.floor(absMs / MINUTE_MS))]!;
  let watch: Watch = newWatch(sent(i, sentAtMs), polling.policy, random(), cadenceFor(polling, learntAt(sentAtMs), "znet", "pkg"));
  const times: number[] = [];
  while (watch.state === "watching") {
    const abs = watch.nextCheckAt.getTime() - T0;
    if (abs - sentAtMs >= untilMs) break;
    times.push(abs - sentAtMs);
    watch = decideCheck(watch, pending, new Date(T0 + abs), polling.policy, random(), cadenceFor(polling, learntAt(abs), "znet", "pkg")).watch;
  }
  return times;
}

test("drift and re-learning storm: no watch gets more than 30 checks in its first hour", () => {
  const schedules = stormSchedules(3 * 60);
  // The storm is real: the schedule changes at every refresh after the first samples (a learnt one at most,
  // the fallback preset where none beats it for every group).
  const learnt = schedules.slice(5).map((s) => s.byPackage.get("znet\u0000pkg")?.fingerprint).filter((f) => f !== undefined);
  assert.equal(new Set(learnt).size, learnt.length);
  assert.ok(learnt.length >= 100, `${learnt.length} of 175 refreshes learnt a schedule`);
  const random = seededRandom(7);
  let worst = 0;
  for (let i = 0; i < 480; i++) {
    const sentAtMs = i * 15_000; // one order every 15 s for 2 hours: every phase of the storm
    const firstHour = checksOf(schedules, i, sentAtMs, HOUR_MS, random).length;
    worst = Math.max(worst, firstHour);
    assert.ok(firstHour <= 30, `order ${i} sent at ${sentAtMs / 1000} s got ${firstHour} checks in its first hour`);
  }
  assert.ok(worst >= 20, `the storm pushes watches to the bound (worst ${worst})`);
});

test("drift and re-learning storm: no watch gets more than the day limit in its first day", () => {
  const schedules = stormSchedules(6 * 60);
  const random = seededRandom(8);
  for (let i = 0; i < 60; i++) {
    const sentAtMs = i * 60_000;
    const day = checksOf(schedules, i, sentAtMs, 24 * HOUR_MS, random).length;
    assert.ok(day <= DEFAULT_ADAPTIVE.dayLimit, `order ${i} got ${day} checks in its first day`);
  }
});
