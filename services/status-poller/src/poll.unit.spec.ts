import { test } from "node:test";
import assert from "node:assert/strict";
import type { EncryptedPin, EventOf } from "@pinflow/contracts";
import {
  SEED_POLICY,
  baseDelayMs,
  decideCheck,
  decideHeld,
  HOLD_REASONS,
  isOutage,
  newWatch,
  nextDelayMs,
  type CheckResult,
  type Decision,
  type PollPolicy,
  type Watch,
} from "./poll.js";
import { maskProviderText } from "@pinflow/providers";
import { callsFor, sealResult, XstorStatusChecker, type CheckTarget } from "./status-checker.js";

const T0 = new Date("2026-01-01T10:00:00.000Z");
const at = (ms: number): Date => new Date(T0.getTime() + ms);
const MID = 0.5; // a random draw that means "no jitter"
const SEALED: EncryptedPin = { alg: "A256GCM", keyId: "k1", iv: "aXY=", tag: "dGFn", ciphertext: "Y2lwaGVy" };

const sent: EventOf<"OrderSent"> = {
  id: "3f1c2a7e-8d44-4f1b-9a55-0c7d1e2b3a4f",
  type: "OrderSent",
  schemaVersion: 1,
  orderId: "ord-1",
  occurredAt: T0.toISOString(),
  correlationId: "corr-1",
  causationId: "cause-1",
  data: { packageId: "pubg-60", provider: "znet", reference: "100200300", cost: "10.12", balance: "989.88", providerOrderId: null },
};

/** Given an OrderSent, a watch that has had `attempt` checks. */
function given(overrides: Partial<Watch> = {}, policy: PollPolicy = SEED_POLICY): Watch {
  return { ...newWatch(sent, policy, MID), ...overrides };
}

const pending: CheckResult = { kind: "pending", note: "İşlem bekleniyor" };
const done: CheckResult = { kind: "done", pin: SEALED, note: "İşlem tamamlandı" };
const cancelled: CheckResult = { kind: "cancelled", note: "İşlem iptal edildi" };
const unknown: CheckResult = { kind: "unknown", cause: "HTTP 500" };
const notFound: CheckResult = { kind: "not_found", message: "Sipariş bulunamadı" };

function types(d: Decision): string[] {
  return d.events.map((e) => e.type);
}

test("seed schedule: 60 s, then 30 s, 1 m, 2 m, 4 m, 8 m, capped at 10 m", () => {
  const seq = Array.from({ length: 10 }, (_, attempt) => nextDelayMs(SEED_POLICY, attempt, MID));
  assert.deepEqual(seq, [60_000, 30_000, 60_000, 120_000, 240_000, 480_000, 600_000, 600_000, 600_000, 600_000]);
});

test("growth keeps going from the last listed delay, and a huge attempt number stays at the cap", () => {
  const policy: PollPolicy = { ...SEED_POLICY, firstDelayMs: 1000, delaysMs: [], growth: 3, maxDelayMs: 50_000 };
  assert.deepEqual([0, 1, 2, 3, 4, 5].map((a) => baseDelayMs(policy, a)), [1000, 3000, 9000, 27_000, 50_000, 50_000]);
  assert.equal(baseDelayMs(SEED_POLICY, 1_000_000), 600_000);
  assert.equal(baseDelayMs({ ...SEED_POLICY, maxDelayMs: 45_000 }, 0), 45_000, "the cap applies to the first delay too");
});

test("jitter stays within ±jitter of the base delay and spans the range", () => {
  const policy: PollPolicy = { ...SEED_POLICY, jitter: 0.2 };
  for (const attempt of [0, 1, 4, 9]) {
    const base = baseDelayMs(policy, attempt);
    for (let i = 0; i <= 100; i++) {
      const d = nextDelayMs(policy, attempt, i / 101);
      assert.ok(d >= base * 0.8 && d <= base * 1.2, `attempt ${attempt}: ${d} outside ±20 % of ${base}`);
    }
    assert.equal(nextDelayMs(policy, attempt, 0), Math.round(base * 0.8));
    assert.ok(nextDelayMs(policy, attempt, 0.999_999) > base * 1.19);
  }
  assert.equal(nextDelayMs({ ...policy, jitter: 0 }, 3, 0.9), baseDelayMs(policy, 3));
});

test("a new watch: first check after the first delay from when the order was sent; deadline from then too", () => {
  const w = newWatch(sent, SEED_POLICY, MID);
  assert.equal(w.state, "watching");
  assert.equal(w.attempt, 0);
  assert.deepEqual(w.nextCheckAt, at(60_000));
  assert.deepEqual(w.deadlineAt, at(24 * 3_600_000));
  assert.equal(w.correlationId, "corr-1");
  assert.equal(w.sentEventId, sent.id);
  const tight = newWatch(sent, { ...SEED_POLICY, deadlineMs: 10_000 }, MID);
  assert.deepEqual(tight.nextCheckAt, at(10_000), "never scheduled past the deadline");
});

test("pending: a StatusChecked, and the next check after the policy's delay", () => {
  const d = decideCheck(given({ attempt: 2, unclearInRow: 3 }), pending, at(200_000), SEED_POLICY, MID);
  assert.deepEqual(types(d), ["StatusChecked"]);
  const checked = d.events[0]!;
  assert.equal(checked.type, "StatusChecked");
  assert.deepEqual(checked.data, { provider: "znet", reference: "100200300", attempt: 3, outcome: "pending", note: "İşlem bekleniyor" });
  assert.equal(checked.discriminator, 3);
  assert.equal(checked.once, false);
  assert.equal(d.watch.state, "watching");
  assert.equal(d.watch.attempt, 3);
  assert.equal(d.watch.unclearInRow, 0, "a clear answer resets the unclear run");
  assert.deepEqual(d.watch.nextCheckAt, at(200_000 + 120_000));
});

test("done: StatusChecked then one PinReceived with the sealed PIN; the watch is completed", () => {
  const d = decideCheck(given({ attempt: 4 }), done, at(400_000), SEED_POLICY, MID);
  assert.deepEqual(types(d), ["StatusChecked", "PinReceived"]);
  const pin = d.events[1]!;
  assert.equal(pin.type, "PinReceived");
  assert.deepEqual(pin.data, { provider: "znet", reference: "100200300", pin: SEALED, note: "İşlem tamamlandı", checks: 5 });
  assert.equal(pin.once, true);
  assert.equal(d.watch.state, "completed");
  assert.equal(d.watch.lastOutcome, "done");
});

test("cancelled: StatusChecked then one OrderFailed(provider_cancelled); the watch failed", () => {
  const d = decideCheck(given(), cancelled, at(60_000), SEED_POLICY, MID);
  assert.deepEqual(types(d), ["StatusChecked", "OrderFailed"]);
  const failed = d.events[1]!;
  assert.equal(failed.type, "OrderFailed");
  assert.equal(failed.data.reasonCode, "provider_cancelled");
  assert.match(failed.data.message, /İşlem iptal edildi/);
  assert.equal(failed.once, true);
  assert.equal(d.watch.state, "failed");
});

test("unknown and not_found: check again later with the policy's delay, outcome unknown, nothing fails", () => {
  for (const result of [unknown, notFound]) {
    const d = decideCheck(given({ attempt: 1 }), result, at(90_000), SEED_POLICY, MID);
    assert.deepEqual(types(d), ["StatusChecked"]);
    const checked = d.events[0]!;
    assert.equal(checked.type === "StatusChecked" && checked.data.outcome, "unknown");
    assert.equal(d.watch.state, "watching");
    assert.equal(d.watch.unclearInRow, 1);
    assert.deepEqual(d.watch.nextCheckAt, at(90_000 + 60_000));
  }
});

test("N unclear replies in a row → ReviewRequired(unknown_status), never OrderFailed", () => {
  const policy: PollPolicy = { ...SEED_POLICY, maxUnclearInRow: 3 };
  let w = given({}, policy);
  const now = at(100_000);
  const seen: string[][] = [];
  for (const result of [unknown, notFound, unknown]) {
    const d = decideCheck(w, result, now, policy, MID);
    seen.push(types(d));
    w = d.watch;
  }
  assert.deepEqual(seen, [["StatusChecked"], ["StatusChecked"], ["StatusChecked", "ReviewRequired"]]);
  assert.equal(w.state, "review");
  const again = decideCheck({ ...given({}, policy), unclearInRow: 2 }, pending, now, policy, MID);
  assert.equal(again.watch.state, "watching", "a pending in between breaks the run");
});

test("the review event says why, for monitoring, with a msgId per attempt", () => {
  const d = decideCheck(given({ unclearInRow: 9, attempt: 11 }), unknown, at(3_600_000), SEED_POLICY, MID);
  const review = d.events[1]!;
  assert.equal(review.type, "ReviewRequired");
  assert.deepEqual(
    { stage: review.data.stage, reason: review.data.reason, provider: review.data.provider, reference: review.data.reference },
    { stage: "monitoring", reason: "unknown_status", provider: "znet", reference: "100200300" },
  );
  assert.equal(review.discriminator, "monitoring:12");
  assert.ok(review.data.message.length <= 500);
});

test("past the deadline without a final answer → ReviewRequired(deadline_exceeded), never failed", () => {
  const w = given({ attempt: 150 });
  for (const result of [pending, unknown, notFound]) {
    const d = decideCheck(w, result, w.deadlineAt, SEED_POLICY, MID);
    assert.deepEqual(types(d), ["StatusChecked", "ReviewRequired"]);
    const review = d.events[1]!;
    assert.equal(review.type === "ReviewRequired" && review.data.reason, "deadline_exceeded");
    assert.equal(d.watch.state, "review");
  }
});

test("a final answer at the deadline still wins over review", () => {
  const w = given({ attempt: 150 });
  assert.equal(decideCheck(w, done, at(25 * 3_600_000), SEED_POLICY, MID).watch.state, "completed");
  assert.equal(decideCheck(w, cancelled, at(25 * 3_600_000), SEED_POLICY, MID).watch.state, "failed");
});

test("the last check before the deadline is scheduled at the deadline itself", () => {
  const w = given({ attempt: 20 });
  const now = new Date(w.deadlineAt.getTime() - 60_000);
  const d = decideCheck(w, pending, now, SEED_POLICY, MID);
  assert.equal(d.watch.state, "watching");
  assert.deepEqual(d.watch.nextCheckAt, w.deadlineAt);
});

test("a settled watch is left alone", () => {
  for (const state of ["completed", "failed", "review"] as const) {
    const w = given({ state, attempt: 3 });
    assert.deepEqual(decideCheck(w, done, at(1), SEED_POLICY, MID), { watch: w, events: [] });
  }
});

test("notes are clipped to the contract's 500 characters", () => {
  const d = decideCheck(given(), { kind: "unknown", cause: "x".repeat(2000) }, at(60_000), SEED_POLICY, MID);
  const checked = d.events[0]!;
  assert.ok(checked.type === "StatusChecked" && checked.data.note !== null && checked.data.note.length <= 500);
});

test("the adapter seals the PIN and keeps it out of every text", () => {
  const bindings: unknown[] = [];
  const sealer = {
    seal: (pin: string, binding: unknown): EncryptedPin => {
      bindings.push(binding);
      return { ...SEALED, ciphertext: Buffer.from(`enc:${pin}`).toString("base64") };
    },
  };
  const target = { orderId: "ord-1", reference: "1001" };
  const r = sealResult({ kind: "done", pin: "AB12-CD34", note: "Tamam AB12-CD34" }, sealer, target);
  assert.deepEqual(bindings, [target], "sealed for the order and reference it was asked for");
  assert.equal(r.kind, "done");
  assert.ok(!JSON.stringify(r).includes("AB12-CD34"));
  const u = sealResult({ kind: "unknown", cause: 'unknown state "9": "OK|9|ZZ99-YY88|Bilinmiyor"' }, sealer, target);
  assert.ok(!JSON.stringify(u).includes("ZZ99"));
  assert.equal(maskProviderText('"OK|2| - |x"'), '"OK|2|***|x"');
});

test("held back (provider down, paused, 429, rate): the check moves later; attempt, unclear count and timeline untouched", () => {
  const watch = given({ attempt: 3, unclearInRow: 2, lastOutcome: "unknown", nextCheckAt: at(120_000) });
  for (const reason of HOLD_REASONS) {
    const d = decideHeld(watch, at(120_000), 7_000, reason);
    assert.deepEqual(d.events, [], reason);
    assert.equal(d.watch.state, "watching");
    assert.equal(d.watch.attempt, 3);
    assert.equal(d.watch.unclearInRow, 2);
    assert.equal(d.watch.lastOutcome, "unknown");
    assert.equal(d.watch.nextCheckAt.getTime(), at(127_000).getTime());
  }
});

test("held back near the deadline: the check waits at most until the deadline", () => {
  const deadline = SEED_POLICY.deadlineMs;
  const d = decideHeld(given({ attempt: 9 }), at(deadline - 1_000), 60_000, "circuit_open");
  assert.equal(d.watch.nextCheckAt.getTime(), at(deadline).getTime());
  assert.deepEqual(d.events, []);
});

test("past the deadline while the provider is down or paused → ReviewRequired(deadline_exceeded) without a check; never failed", () => {
  const deadline = SEED_POLICY.deadlineMs;
  for (const reason of HOLD_REASONS.filter(isOutage)) {
    const d = decideHeld(given({ attempt: 9 }), at(deadline), 10_000, reason);
    assert.equal(d.watch.state, "review", reason);
    assert.equal(d.watch.attempt, 9, "no check was made");
    assert.deepEqual(types(d), ["ReviewRequired"]);
    const review = d.events[0]!;
    assert.ok(review.type === "ReviewRequired");
    assert.equal(review.data.reason, "deadline_exceeded");
    assert.equal(review.data.stage, "monitoring");
    assert.match(review.data.message, /no last check/);
    assert.equal(review.discriminator, `monitoring:9:held:${at(deadline).getTime()}`);
  }
});

test("past the deadline but only rate-limited or busy: no review yet, the last check comes a moment later", () => {
  const deadline = SEED_POLICY.deadlineMs;
  for (const reason of HOLD_REASONS.filter((r) => !isOutage(r))) {
    const d = decideHeld(given({ attempt: 9 }), at(deadline + 10), 300, reason);
    assert.equal(d.watch.state, "watching", reason);
    assert.deepEqual(d.events, []);
    assert.equal(d.watch.nextCheckAt.getTime(), at(deadline + 310).getTime());
  }
});

test("an x-stor reply quoted in a cause never carries a PIN (the one masking function of @pinflow/providers)", () => {
  assert.equal(maskProviderText('not JSON: "{\\"status\\":\\"OK\\",\\"pin\\":\\"AB12-CD34\\",\\"no'), 'not JSON: "{\\"status\\":\\"OK\\",\\"pin\\":\\"***\\",\\"no');
  assert.equal(maskProviderText('{"code": "ZZ99-YY88", "status": "x"}'), '{"code": "***", "status": "x"}');
  const sealed = sealResult({ kind: "unknown", cause: 'not JSON: {"pin":"AB12-CD34"', retryAfterMs: 3000 }, { seal: () => SEALED }, { orderId: "o", reference: "r" });
  assert.deepEqual(sealed, { kind: "unknown", cause: 'not JSON: {"pin":"***"', retryAfterMs: 3000 });
});

test("an OrderSent whose PIN came in the place reply makes a settled watch: completed, no check made", () => {
  const w = newWatch({ ...sent, data: { ...sent.data, provider: "xstor", providerOrderId: "70001", pinInPlaceReply: true } }, SEED_POLICY, MID);
  assert.equal(w.state, "completed");
  assert.equal(w.attempt, 0);
  assert.equal(w.providerOrderId, "70001");
  assert.equal(newWatch(sent, SEED_POLICY, MID).state, "watching");
  assert.equal(newWatch({ ...sent, data: { ...sent.data, pinInPlaceReply: false } }, SEED_POLICY, MID).state, "watching");
});

test("x-stor calls: orders with a provider order id and orders without one never share a call; each call holds at most 50", () => {
  const targets: CheckTarget[] = [
    ...Array.from({ length: 60 }, (_, i) => ({ orderId: `o${i}`, reference: `r${i}`, providerOrderId: String(70000 + i) })),
    { orderId: "o-u1", reference: "u1", providerOrderId: null },
    { orderId: "o-u2", reference: "u2", providerOrderId: null },
  ];
  const mixed = [targets[60]!, ...targets.slice(0, 60), targets[61]!];
  const calls = callsFor(mixed, (t) => t, new XstorStatusChecker({ check: async () => new Map() }, { seal: () => SEALED }));
  assert.deepEqual(calls.map((c) => c.length), [2, 50, 10]);
  assert.deepEqual(calls[0]!.map((t) => t.reference), ["u1", "u2"]);
  assert.ok(calls.slice(1).every((c) => c.every((t) => t.providerOrderId !== null)));
  assert.deepEqual(callsFor(targets.slice(0, 3), (t) => t, { maxBatch: 1 }).length, 3);
});

test("x-stor checker: asks by order_id (documented) or by uuid, maps answers back to references, never shares an answer between two orders", async () => {
  const asked: [string[], string][] = [];
  const client = {
    check: async (ids: readonly string[], by: "order_id" | "uuid") => {
      asked.push([[...ids], by]);
      return new Map(ids.map((id) => [id, { kind: "pending" as const, note: `for ${id}` }]));
    },
  };
  const checker = new XstorStatusChecker(client, { seal: () => SEALED });
  const r = await checker.check([
    { orderId: "o-a", reference: "a", providerOrderId: "7001" },
    { orderId: "o-b", reference: "b", providerOrderId: "7002" },
    { orderId: "o-c", reference: "c", providerOrderId: null },
    { orderId: "o-d", reference: "d", providerOrderId: "7009" },
    { orderId: "o-e", reference: "e", providerOrderId: "7009" },
  ]);
  assert.deepEqual(asked, [[["7001", "7002"], "order_id"], [["c"], "uuid"]]);
  assert.deepEqual(r.get("a"), { kind: "pending", note: "for 7001" });
  assert.deepEqual(r.get("c"), { kind: "pending", note: "for c" });
  assert.equal(r.get("d")?.kind, "unknown");
  assert.equal(r.get("e")?.kind, "unknown");
});
