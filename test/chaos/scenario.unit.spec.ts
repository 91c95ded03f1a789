import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { seededRandom } from "@pinflow/testkit";
import { faultSchedule, planOrders, PLAYER_KINDS, PROVIDER_WINDOWS, REPLICAS } from "./scenario.js";

describe("chaos scenario (pure, seeded)", () => {
  it("the same seed gives the same fault schedule and orders; another seed another", () => {
    const plan = (seed: number) => ({ faults: faultSchedule(seededRandom(seed), { durationMs: 60_000 }), orders: planOrders(seededRandom(seed), 200, seed) });
    assert.deepEqual(plan(7), plan(7));
    assert.notDeepEqual(plan(7).faults, plan(8).faults);
  });

  it("every replica is killed in each round, nats and PostgreSQL restart, every window opens; all within the first 85 % and sorted", () => {
    const faults = faultSchedule(seededRandom(1), { durationMs: 100_000, killRounds: 2, natsRestarts: 1, postgresRestarts: 3 });
    for (const replica of REPLICAS) assert.equal(faults.filter((f) => f.kind === "kill" && f.replica === replica).length, 2, replica);
    assert.equal(faults.filter((f) => f.kind === "restart-nats").length, 1);
    assert.equal(faults.filter((f) => f.kind === "restart-postgres").length, 3);
    assert.deepEqual(new Set(faults.flatMap((f) => (f.kind === "provider-window" ? [f.window] : []))), new Set(PROVIDER_WINDOWS));
    assert.ok(faults.every((f) => f.atMs >= 0 && f.atMs <= 85_000));
    assert.deepEqual(faults.map((f) => f.atMs), [...faults.map((f) => f.atMs)].sort((a, b) => a - b));
  });

  it("spare replicas (the soak's first ones) are never killed", () => {
    const faults = faultSchedule(seededRandom(2), { durationMs: 60_000, killRounds: 3, spare: ["orders#1", "dispatcher#1"] });
    assert.ok(!faults.some((f) => f.kind === "kill" && (f.replica === "orders#1" || f.replica === "dispatcher#1")));
    assert.equal(faults.filter((f) => f.kind === "kill" && f.replica === "orders#2").length, 3);
  });

  it("orders: unique player ids (also their Idempotency-Keys), every kind drawn in a large plan, roughly by weight", () => {
    const orders = planOrders(seededRandom(3), 5_000, 3);
    assert.equal(new Set(orders.map((o) => o.playerId)).size, orders.length);
    for (const kind of PLAYER_KINDS) assert.ok(orders.some((o) => o.kind === kind.prefix && o.playerId.startsWith(`${kind.prefix}-`)), kind.prefix);
    const share = orders.filter((o) => o.kind === "ok").length / orders.length;
    const total = PLAYER_KINDS.reduce((n, k) => n + k.weight, 0);
    assert.ok(Math.abs(share - 40 / total) < 0.03, `no-fault share ${share}`);
  });
});
