import { test } from "node:test";
import assert from "node:assert/strict";
import { checksBefore, earliestNextCheckMs, withinBudgetDelayMs, type CheckBudget } from "./check-budget.js";

const HOUR = 3_600_000;
const budget: CheckBudget = [
  { withinMs: HOUR, maxChecks: 30 },
  { withinMs: 24 * HOUR, maxChecks: 100 },
];

/** A watch whose schedule asks for a check every `gapMs`, pushed back by the budget; its check times up to `untilMs`. */
function checks(gapOf: (elapsedMs: number, done: number) => number, untilMs: number): number[] {
  const times: number[] = [];
  let t = 0;
  while (times.length < 10_000) {
    t += withinBudgetDelayMs(budget, times.length, t, gapOf(t, times.length));
    if (t >= untilMs) break;
    times.push(t);
  }
  return times;
}

test("no budget, or budget to spare: the schedule's own time", () => {
  assert.equal(earliestNextCheckMs(undefined, 500, 1000), 1000);
  assert.equal(withinBudgetDelayMs(undefined, 500, 1000, 7), 7);
  // 30 checks in hand: the floor is an hour / 2^30 away.
  assert.equal(withinBudgetDelayMs(budget, 0, 0, 5000), 5000);
  assert.equal(withinBudgetDelayMs(budget, 10, 60_000, 5000), 5000);
});

test("the last check of a window's budget goes at its end at the earliest; the last few are spread over what is left", () => {
  assert.equal(earliestNextCheckMs(budget, 30, 10 * 60_000), HOUR);
  assert.equal(earliestNextCheckMs(budget, 31, 10 * 60_000), HOUR, "over budget (e.g. checks made by an operator): still the window's end");
  assert.equal(earliestNextCheckMs(budget, 29, 20 * 60_000), 20 * 60_000 + 20 * 60_000, "one left: half of what is left");
  assert.equal(earliestNextCheckMs(budget, 28, 20 * 60_000), 20 * 60_000 + 10 * 60_000);
  // Past the first hour only the day's budget counts.
  assert.ok(earliestNextCheckMs(budget, 40, HOUR) <= HOUR + 1, "60 of the day's left: at most a millisecond later");
  assert.equal(earliestNextCheckMs(budget, 100, 2 * HOUR), 24 * HOUR);
  assert.equal(earliestNextCheckMs(budget, 100, 25 * HOUR), 25 * HOUR, "past every window: no floor");
});

test("whatever the schedule asks (every second, bursts, changing at every check), at most 30 checks in the first hour and 100 in the first day", () => {
  const schedules: Array<(t: number, done: number) => number> = [
    () => 1000,
    () => 1,
    (t) => (t < 10 * 60_000 ? 1000 : t < 40 * 60_000 ? 600_000 : 1000),
    (_t, done) => (done % 2 === 0 ? 5000 : 300_000),
    (t) => 1 + ((t * 7919) % 120_000),
  ];
  for (const [i, gapOf] of schedules.entries()) {
    const times = checks(gapOf, 24 * HOUR);
    assert.ok(checksBefore(times, HOUR) <= 30, `schedule ${i}: ${checksBefore(times, HOUR)} in the first hour`);
    assert.ok(times.length <= 100, `schedule ${i}: ${times.length} in the first day`);
    if (i <= 1) assert.equal(checksBefore(times, HOUR), 30, `schedule ${i} asks for more than the budget: it gets all of it`);
    for (let k = 1; k < times.length; k++) assert.ok(times[k]! > times[k - 1]!, "check times increase");
  }
});

test("a schedule within the budget is never moved", () => {
  // Every 2 minutes: 29 in the first hour (times < 1 h), 720 in a day — the day's budget moves only the late ones.
  const times = checks(() => 120_000, HOUR);
  assert.deepEqual(times, Array.from({ length: 29 }, (_, k) => (k + 1) * 120_000));
});
