import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createPool, type Pool } from "@pinflow/pg";
import { TestDatabase } from "@pinflow/testkit";
import { ProviderGate, type ProviderLimits } from "./provider-gate.js";

const db = new TestDatabase("limits");
let pool: Pool;
let clock = new Date(Date.UTC(2026, 10, 25, 12));
const now = () => clock;
const advance = (ms: number) => (clock = new Date(clock.getTime() + ms));

const limits: Record<string, ProviderLimits> = {
  znet: { ratePerSec: 5, burst: 5, concurrency: 2, slotLeaseMs: 30_000, circuit: { threshold: 2, cooldownMs: 10_000, maxCooldownMs: 60_000 } },
};

before(async () => {
  await db.create();
  pool = createPool(db.url);
});
after(async () => {
  await pool.end();
  await db.drop();
});

test("two replicas share one concurrency cap and one rate", async () => {
  const a = new ProviderGate(pool, limits, now);
  const b = new ProviderGate(pool, limits, now);
  await a.ensure();
  await b.ensure();

  const first = await a.tryAcquire("znet");
  const second = await b.tryAcquire("znet");
  const third = await a.tryAcquire("znet");
  assert.equal(first.kind, "granted");
  assert.equal(second.kind, "granted");
  assert.deepEqual(third.kind === "blocked" && third.reason, "busy", "the cap of 2 holds across replicas");
  if (first.kind === "granted") await a.release(first.permit, { kind: "ok" });
  if (second.kind === "granted") await b.release(second.permit, { kind: "ok" });

  // 2 tokens were spent; 3 remain in the burst of 5, then the rate applies.
  let granted = 0;
  for (let i = 0; i < 10; i++) {
    const d = await (i % 2 ? a : b).tryAcquire("znet");
    if (d.kind === "granted") {
      granted++;
      await (i % 2 ? a : b).release(d.permit, { kind: "ok" });
    } else assert.equal(d.reason, "rate_limited");
  }
  assert.equal(granted, 3);
  advance(1000); // 5 tokens a second
  let later = 0;
  for (let i = 0; i < 10; i++) {
    const d = await a.tryAcquire("znet");
    if (d.kind === "granted") {
      later++;
      await a.release(d.permit, { kind: "ok" });
    }
  }
  assert.equal(later, 5);
});

test("a dead holder's slot is free again after its lease", async () => {
  advance(10_000);
  const gate = new ProviderGate(pool, limits, now);
  const held = [await gate.tryAcquire("znet"), await gate.tryAcquire("znet")];
  assert.ok(held.every((d) => d.kind === "granted"));
  const blocked = await gate.tryAcquire("znet");
  assert.equal(blocked.kind, "blocked");
  advance(31_000);
  const after = await gate.tryAcquire("znet");
  assert.equal(after.kind, "granted", "the crashed holders' slots were reclaimed");
  if (after.kind === "granted") await gate.release(after.permit, { kind: "ok" });
  // A late release by an old holder does not free someone else's slot.
  const [old] = held;
  if (old?.kind === "granted") await gate.release(old.permit, { kind: "ok" });
  const status = await gate.status("znet");
  assert.equal(status?.slotsInUse, 0);
});

test("failures open the circuit for every replica; a provider outage delays calls, it does not fail them", async () => {
  advance(60_000);
  const a = new ProviderGate(pool, limits, now);
  const b = new ProviderGate(pool, limits, now);
  for (let i = 0; i < 2; i++) {
    const d = await a.tryAcquire("znet");
    assert.equal(d.kind, "granted");
    if (d.kind === "granted") await a.release(d.permit, { kind: "failure" });
  }
  const blocked = await b.tryAcquire("znet");
  assert.equal(blocked.kind === "blocked" && blocked.reason, "circuit_open");
  assert.equal(blocked.kind === "blocked" && blocked.retryAfterMs, 10_000);
  const waited = await b.acquire("znet", 50);
  assert.equal(waited.kind === "blocked" && waited.reason, "circuit_open", "acquire does not sit out an open circuit");
  advance(10_000);
  const probe = await b.tryAcquire("znet");
  assert.equal(probe.kind, "granted");
  const whileProbing = await a.tryAcquire("znet");
  assert.equal(whileProbing.kind === "blocked" && whileProbing.reason, "circuit_open", "half-open: one probe, the others wait for its outcome");
  if (probe.kind === "granted") await b.release(probe.permit, { kind: "ok" });
  const afterProbe = await a.tryAcquire("znet");
  assert.equal(afterProbe.kind, "granted", "a good probe closes the circuit for everyone");
  if (afterProbe.kind === "granted") await a.release(afterProbe.permit, { kind: "ok" });
  assert.equal((await a.status("znet"))?.circuitOpenForMs, 0);
});

test("a paused provider gets no calls until resumed; 429 retry-after is honoured", async () => {
  advance(60_000);
  const gate = new ProviderGate(pool, limits, now);
  assert.equal(await gate.setPaused("znet", true), true);
  const paused = await gate.tryAcquire("znet");
  assert.equal(paused.kind === "blocked" && paused.reason, "paused");
  await gate.setPaused("znet", false);
  const run = await gate.run("znet", 100, async () => 429, (status) => (status === 429 ? { kind: "retry_after", ms: 3000 } : { kind: "ok" }));
  assert.equal(run.kind, "done");
  const after = await gate.tryAcquire("znet");
  assert.equal(after.kind === "blocked" && after.retryAfterMs, 3000);
  assert.equal(await gate.setPaused("nope", true), false);
});

test("a replica starting (ensure) while another acquires and releases with every outcome: no deadlock", async () => {
  const busy: Record<string, ProviderLimits> = {
    xstor: { ratePerSec: 100_000, burst: 100_000, concurrency: 12, slotLeaseMs: 30_000, circuit: { threshold: 1_000_000, cooldownMs: 1, maxCooldownMs: 1 } },
  };
  const running = new ProviderGate(pool, busy);
  await running.ensure();
  const outcomes = [{ kind: "no_call" }, { kind: "ok" }, { kind: "failure" }, { kind: "ok" }] as const;
  const workers = Array.from({ length: 12 }, async (_, w) => {
    for (let i = 0; i < 40; i++) {
      const d = await running.tryAcquire("xstor");
      if (d.kind === "granted") await running.release(d.permit, outcomes[(w + i) % outcomes.length]!);
    }
  });
  const starting = (async () => {
    for (let i = 0; i < 40; i++) await new ProviderGate(pool, busy).ensure();
  })();
  await Promise.all([...workers, starting]);
  assert.equal((await running.status("xstor"))?.slotsInUse, 0);
});
