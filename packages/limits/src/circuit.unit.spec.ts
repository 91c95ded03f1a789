import { test } from "node:test";
import assert from "node:assert/strict";
import { afterCall, waitMs, type CircuitState } from "./circuit.js";
import { msUntilToken, refill } from "./token-bucket.js";

const settings = { threshold: 3, cooldownMs: 1000, maxCooldownMs: 8000 };
const closed: CircuitState = { failures: 0, openUntil: null, openings: 0 };
const t0 = new Date(Date.UTC(2026, 10, 25, 12));
const at = (ms: number) => new Date(t0.getTime() + ms);

test("the circuit opens after `threshold` failures in a row, and a success closes it", () => {
  let s = closed;
  s = afterCall(s, { kind: "failure" }, t0, settings);
  s = afterCall(s, { kind: "failure" }, t0, settings);
  assert.equal(waitMs(s, t0), 0, "two failures: still closed");
  s = afterCall(s, { kind: "failure" }, t0, settings);
  assert.equal(waitMs(s, t0), 1000);
  assert.equal(waitMs(s, at(1000)), 0, "cool-down over: a probe may go");
  const closedAgain = afterCall(s, { kind: "ok" }, at(1000), settings);
  assert.deepEqual(closedAgain, closed);
});

test("a failed probe reopens the circuit with a doubled, capped cool-down", () => {
  let s: CircuitState = { failures: 3, openUntil: at(1000), openings: 1 };
  s = afterCall(s, { kind: "failure" }, at(1000), settings);
  assert.equal(waitMs(s, at(1000)), 2000);
  for (let i = 0; i < 10; i++) s = afterCall(s, { kind: "failure" }, at(1000), settings);
  assert.equal(waitMs(s, at(1000)), 8000);
});

test("a provider's retry-after opens the circuit for that long, never shortening it", () => {
  const s = afterCall(closed, { kind: "retry_after", ms: 5000 }, t0, settings);
  assert.equal(waitMs(s, t0), 5000);
  const shorter = afterCall(s, { kind: "retry_after", ms: 100 }, t0, settings);
  assert.equal(waitMs(shorter, t0), 5000);
});

test("the bucket refills at its rate up to its burst", () => {
  const bucket = { tokens: 0, refilledAt: t0 };
  assert.equal(refill(bucket, at(500), 4, 10), 2);
  assert.equal(refill(bucket, at(60_000), 4, 10), 10);
  assert.equal(refill(bucket, at(-5), 4, 10), 0, "a clock step back adds nothing");
  assert.equal(msUntilToken(0.5, 2), 250);
  assert.equal(msUntilToken(1, 2), 0);
});

test("a permit given back unused changes nothing, except that it frees a half-open circuit for the next probe", () => {
  assert.deepEqual(afterCall(closed, { kind: "no_call" }, t0, settings), closed);
  const halfOpen: CircuitState = { failures: 3, openUntil: at(30_000), openings: 1 };
  assert.equal(waitMs(afterCall(halfOpen, { kind: "no_call" }, t0, settings), t0), 0);
});
