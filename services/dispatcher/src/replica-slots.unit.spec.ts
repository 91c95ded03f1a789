import assert from "node:assert/strict";
import { test } from "node:test";
import type { GateDecision, Permit } from "@pinflow/limits";
import type { CallGate } from "./gate.js";
import { ReplicaSlots } from "./replica-slots.js";

/** A shared gate that always grants (or blocks when told), counting what it was asked. */
function innerGate(): CallGate & { granted: number; released: number; block: boolean } {
  let n = 0;
  const g = {
    granted: 0,
    released: 0,
    block: false,
    acquire: async (provider: string): Promise<GateDecision> => {
      if (g.block) return { kind: "blocked", reason: "rate_limited", retryAfterMs: 250 };
      g.granted++;
      return { kind: "granted", permit: { provider, slot: n++, holder: `h${n}` } };
    },
    release: async () => {
      g.released++;
    },
  };
  return g;
}

const OK = { kind: "ok" } as const;
const granted = (d: GateDecision): Permit => {
  assert.equal(d.kind, "granted");
  return (d as Extract<GateDecision, { kind: "granted" }>).permit;
};

test("a provider takes at most its slots; further handlers queue (FIFO) up to waitersPerSlot per slot, the rest are answered busy at once", async () => {
  const inner = innerGate();
  const slots = new ReplicaSlots(inner, (p) => (p === "znet" ? 2 : undefined), { waitersPerSlot: 1, random: () => 1 });
  const a = granted(await slots.acquire("znet", 10_000));
  const b = granted(await slots.acquire("znet", 10_000));
  const order: string[] = [];
  const c = slots.acquire("znet", 10_000).then((d) => (order.push("c"), d));
  const d = slots.acquire("znet", 10_000).then((x) => (order.push("d"), x));
  assert.deepEqual(slots.usage("znet"), { inUse: 2, waiting: 2 });
  const e = await slots.acquire("znet", 10_000);
  assert.equal(e.kind, "blocked");
  assert.equal(e.kind === "blocked" && e.reason, "busy");
  assert.ok(e.kind === "blocked" && e.retryAfterMs >= 100, "comes back later, not at once");
  assert.equal(inner.granted, 2, "queued and refused handlers never asked the shared gate");
  await slots.release(a, OK);
  granted(await c);
  await slots.release(b, OK);
  granted(await d);
  assert.deepEqual(order, ["c", "d"], "first queued, first served");
  assert.deepEqual(slots.usage("znet"), { inUse: 2, waiting: 0 });
});

test("other providers are never held by a full one; a provider without a number is not bounded here", async () => {
  const inner = innerGate();
  const slots = new ReplicaSlots(inner, (p) => ({ znet: 1, xstor: 1 })[p], { waitersPerSlot: 0 });
  granted(await slots.acquire("znet", 1_000));
  assert.equal((await slots.acquire("znet", 1_000)).kind, "blocked");
  granted(await slots.acquire("xstor", 1_000));
  for (let i = 0; i < 5; i++) granted(await slots.acquire("other", 1_000));
});

test("a queued handler gives up after its wait; a blocked or failing shared gate frees the local slot", async () => {
  const inner = innerGate();
  const slots = new ReplicaSlots(inner, () => 1, { waitersPerSlot: 1 });
  const held = granted(await slots.acquire("znet", 1_000));
  const waited = await slots.acquire("znet", 20);
  assert.equal(waited.kind, "blocked");
  assert.deepEqual(slots.usage("znet"), { inUse: 1, waiting: 0 });
  await slots.release(held, OK);
  inner.block = true;
  const blocked = await slots.acquire("znet", 1_000);
  assert.deepEqual(blocked, { kind: "blocked", reason: "rate_limited", retryAfterMs: 250 });
  assert.deepEqual(slots.usage("znet"), { inUse: 0, waiting: 0 });
  const failing = new ReplicaSlots({ acquire: async () => Promise.reject(new Error("db down")), release: async () => undefined }, () => 1);
  await assert.rejects(failing.acquire("znet", 1_000), /db down/);
  assert.deepEqual(failing.usage("znet"), { inUse: 0, waiting: 0 });
});

test("the busy answer grows with how long the provider's calls take", async () => {
  const inner = innerGate();
  let now = 0;
  const realNow = Date.now;
  Date.now = () => now;
  try {
    const slots = new ReplicaSlots(inner, () => 1, { waitersPerSlot: 0, initialHoldMs: 100, random: () => 1 });
    for (let i = 0; i < 10; i++) {
      const p = granted(await slots.acquire("znet", 0));
      now += 15_000; // each call takes the whole client timeout
      await slots.release(p, OK);
    }
    granted(await slots.acquire("znet", 0));
    const busy = await slots.acquire("znet", 0);
    assert.equal(busy.kind, "blocked");
    assert.ok(busy.kind === "blocked" && busy.retryAfterMs >= 5_000, `a stalled provider's orders come back rarely (${JSON.stringify(busy)})`);
  } finally {
    Date.now = realNow;
  }
});
