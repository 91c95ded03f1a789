/** How provider results feed the circuit breaker. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { classifyBalance, classifyCheck, classifyPlace, gated, NO_CALL, OPEN_GATE, type CallGate } from "./gate.js";

describe("breaker classification", () => {
  it("parsed replies are healthy; ambiguous/unknown/failed are failures", () => {
    assert.deepEqual(classifyPlace({ kind: "accepted", cost: "1", balance: null, providerOrderId: null, pin: null }, 10), { kind: "ok" });
    assert.deepEqual(classifyPlace({ kind: "refused", providerCode: "8", message: "Yetersiz bakiye", reasonCode: "insufficient_balance" }, 10), { kind: "ok" });
    assert.deepEqual(classifyPlace({ kind: "ambiguous", cause: "HTTP 500" }, 10), { kind: "failure" });
    assert.deepEqual(classifyPlace({ kind: "ambiguous", cause: "empty body" }, 10), { kind: "failure" });
    for (const kind of ["pending", "cancelled"] as const) assert.deepEqual(classifyCheck({ kind, note: null }, 10), { kind: "ok" });
    assert.deepEqual(classifyCheck({ kind: "not_found", message: "x" }, 10), { kind: "ok" });
    assert.deepEqual(classifyCheck({ kind: "unknown", cause: "timeout after 15000 ms" }, 10), { kind: "failure" });
    assert.deepEqual(classifyBalance({ kind: "ok", balance: "1.00" }, 10), { kind: "ok" });
    assert.deepEqual(classifyBalance({ kind: "failed", cause: "empty body" }, 10), { kind: "failure" });
  });

  it("a local refusal (nothing sent) teaches the breaker nothing", () => {
    assert.deepEqual(classifyPlace({ kind: "refused", providerCode: "local", message: "x", reasonCode: "product_unavailable" }, 10), NO_CALL);
  });

  it("429 is a pause, for the provider's Retry-After when it gave one, else the default", () => {
    assert.deepEqual(classifyPlace({ kind: "ambiguous", cause: "HTTP 429 (rate limited)" }, 7_000), { kind: "retry_after", ms: 7_000 });
    assert.deepEqual(classifyPlace({ kind: "ambiguous", cause: "HTTP 429 (rate limited)", retryAfterMs: 30_000 }, 7_000), { kind: "retry_after", ms: 30_000 });
    assert.deepEqual(classifyCheck({ kind: "unknown", cause: "HTTP 503", retryAfterMs: 2_000 }, 7_000), { kind: "retry_after", ms: 2_000 });
    assert.deepEqual(classifyBalance({ kind: "failed", cause: "HTTP 429" }, 7_000), { kind: "retry_after", ms: 7_000 });
  });
});

describe("gated", () => {
  it("runs the call under a permit and releases it with the call's verdict, even when the call throws", async () => {
    const released: string[] = [];
    const gate: CallGate = { acquire: OPEN_GATE.acquire, release: async (_p, outcome) => void released.push(outcome.kind) };
    assert.deepEqual(await gated(gate, "znet", 0, async () => 1, () => ({ kind: "ok" })), { kind: "done", result: 1 });
    await assert.rejects(gated(gate, "znet", 0, async () => Promise.reject(new Error("boom")), () => ({ kind: "ok" })), /boom/);
    assert.deepEqual(released, ["ok", "failure"]);
  });

  it("a blocked gate answers at once, without calling", async () => {
    let called = false;
    const gate: CallGate = { acquire: async () => ({ kind: "blocked", reason: "circuit_open", retryAfterMs: 900 }), release: async () => undefined };
    const r = await gated(gate, "znet", 0, async () => (called = true), () => ({ kind: "ok" }));
    assert.deepEqual(r, { kind: "blocked", reason: "circuit_open", retryAfterMs: 900 });
    assert.equal(called, false);
  });
});
