import { test } from "node:test";
import assert from "node:assert/strict";
import { seededRandom } from "@pinflow/testkit";
import { productLimit, sampleFromCurve, type SurvivalObservation } from "./survival.js";

const done = (exitMs: number, entryMs = 0): SurvivalObservation => ({ entryMs, exitMs, done: true });
const pending = (exitMs: number, entryMs = 0): SurvivalObservation => ({ entryMs, exitMs, done: false });

test("without censoring the product-limit estimate is the empirical survival", () => {
  const curve = productLimit([done(10), done(20), done(20), done(40)], 1);
  assert.deepEqual(curve.timesMs, [10, 20, 40]);
  assert.deepEqual(curve.survival.map((s) => Math.round(s * 1000) / 1000), [0.75, 0.25, 0]);
  assert.equal(curve.events, 4);
  assert.equal(curve.horizonMs, 40);
});

test("a pending order counts as not done up to its last pending check (right-censored)", () => {
  // 4 orders: done at 10, pending at 15 (censored), done at 20 and 30.
  const curve = productLimit([done(10), pending(15), done(20), done(30)], 1);
  // S(10) = 3/4; at 20 two at risk: S = 3/4 · 1/2; at 30 one: 0.
  assert.deepEqual(curve.survival, [0.75, 0.375, 0]);
  // Completions alone would say half are done by 20; with the pending one the estimate is 62.5 %.
  assert.equal(1 - curve.survival[1]!, 0.625);
});

test("an order seen only from a later age (left-truncated) is not at risk before it", () => {
  // Two orders seen from 0, done at 10 and 100; two seen from age 50 (sent before the records start), done at 60 and 100.
  const curve = productLimit([done(10), done(100), done(60, 50), done(100, 50)], 1);
  // At 10: 2 at risk (the truncated ones are not yet seen) → S = 1/2; at 60: 3 at risk → 1/2 · 2/3; at 100: 2, both done → 0.
  assert.deepEqual(curve.timesMs, [10, 60, 100]);
  assert.equal(curve.survival[0], 0.5);
  assert.ok(Math.abs(curve.survival[1]! - 1 / 3) < 1e-12);
  assert.equal(curve.survival[2], 0);
});

test("the estimate stops where fewer than minAtRisk orders are seen; its horizon runs on over ages with no completions", () => {
  const obs: SurvivalObservation[] = [];
  for (let i = 0; i < 50; i++) obs.push(done(1000 + i));
  // 30 never finish, pending up to 10 s … 39 s.
  for (let i = 0; i < 30; i++) obs.push(pending(10_000 + i * 1000));
  const curve = productLimit(obs, 20);
  assert.equal(curve.events, 50);
  // At risk ≥ 20 up to the 11th pending one (30 − 10 = 20 still seen at its age).
  assert.equal(curve.horizonMs, 20_000);
  assert.ok(Math.abs(curve.survival.at(-1)! - 30 / 80) < 1e-12);
});

test("a sample drawn from the curve follows the estimate up to its horizon and spreads between event ages", () => {
  const random = seededRandom(7);
  const obs = Array.from({ length: 1000 }, () => done(Math.round(1000 + random() * 9000)));
  const values = sampleFromCurve(productLimit(obs, 20), 1000);
  assert.equal(values.length, 1000);
  const sorted = [...values].sort((a, b) => a - b);
  assert.ok(Math.abs(sorted[499]! - 5500) < 500, `median ${sorted[499]}`);
  assert.ok(sorted[0]! >= 1000 && sorted[999]! <= 10_000);
  assert.deepEqual(sampleFromCurve(productLimit([], 1), 10), []);
});
