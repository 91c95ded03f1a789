import { test } from "node:test";
import assert from "node:assert/strict";
import type { EncryptedPin, EventOf, OrderEvent } from "@pinflow/contracts";
import { decideCheck, DEFAULT_POLICY, newWatch, SEED_POLICY, type CheckResult, type Completion, type EventDraft, type PollPolicy, type Watch } from "./poll.js";
import { EMPTY_WATCH_FOLD, evolveWatch, type WatchFold } from "./watch-fold.js";

const T0 = new Date("2026-01-01T10:00:00.000Z");
const MID = 0.5; // the draw that means "no jitter": then the live next-check time is the one the fold derives
const SEALED: EncryptedPin = { alg: "A256GCM", keyId: "k1", iv: "aXY=", tag: "dGFn", ciphertext: "Y2lwaGVy" };
const POLICY: PollPolicy = { ...SEED_POLICY, deadlineMs: 600_000, maxUnclearInRow: 3 };
const policyOf = (): PollPolicy => POLICY;

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

let ids = 0;
function eventOf(draft: EventDraft, at: Date): OrderEvent {
  return { id: `e-${++ids}`, type: draft.type, schemaVersion: 1, orderId: sent.orderId, occurredAt: at.toISOString(), correlationId: sent.correlationId, causationId: sent.id, data: draft.data } as OrderEvent;
}

/** Run the live rules over checks (ms after sent → result); the watch, completion and the events they wrote. */
function live(checks: readonly [number, CheckResult][], first: EventOf<"OrderSent"> = sent): { watch: Watch; completion: Completion | null; events: OrderEvent[] } {
  let watch = newWatch(first, POLICY, MID);
  let completion: Completion | null = null;
  const events: OrderEvent[] = [first];
  for (const [ms, result] of checks) {
    const now = new Date(T0.getTime() + ms);
    const d = decideCheck(watch, result, now, POLICY, MID);
    watch = d.watch;
    completion = d.completion ?? completion;
    events.push(...d.events.map((e) => eventOf(e, now)));
  }
  return { watch, completion, events };
}

function fold(events: readonly OrderEvent[]): WatchFold {
  return events.reduce((s, e) => evolveWatch(s, e, policyOf), EMPTY_WATCH_FOLD);
}

const pending: CheckResult = { kind: "pending", note: "Bekliyor" };
const unknown: CheckResult = { kind: "unknown", cause: "HTTP 500" };
const notFound: CheckResult = { kind: "not_found", message: "Sipariş bulunamadı" };

test("folding the events of a completed watch gives the live watch and its completion sample", () => {
  const l = live([[30_000, pending], [60_000, unknown], [120_000, pending], [200_000, { kind: "done", pin: SEALED, note: "ok" }]]);
  const f = fold(l.events);
  assert.deepEqual(f.watch, l.watch);
  assert.equal(f.watch?.state, "completed");
  assert.deepEqual(f.completion, l.completion);
  assert.deepEqual(f.completedAt, new Date(T0.getTime() + 200_000));
});

test("folding a cancelled watch gives the live failed watch, no completion", () => {
  const l = live([[30_000, pending], [60_000, { kind: "cancelled", note: "İptal" }]]);
  const f = fold(l.events);
  assert.deepEqual(f.watch, l.watch);
  assert.equal(f.watch?.state, "failed");
  assert.equal(f.completion, null);
});

test("folding too many unclear replies gives the live review watch, with the not-found kind recovered from the note", () => {
  const l = live([[30_000, notFound], [60_000, unknown], [90_000, notFound]]);
  const f = fold(l.events);
  assert.deepEqual(f.watch, l.watch);
  assert.equal(f.watch?.state, "review");
  assert.equal(f.watch?.lastOutcome, "not_found");
});

test("folding a still-watching watch gives the live one, next check at the un-jittered due time", () => {
  const l = live([[30_000, pending], [70_000, unknown]]);
  const f = fold(l.events);
  assert.deepEqual(f.watch, l.watch);
  assert.equal(f.watch?.state, "watching");
  assert.equal(f.watch?.unclearInRow, 1);
});

test("an OrderSent finished in its place reply folds to a settled watch; a redelivered OrderSent changes nothing", () => {
  const inReply: EventOf<"OrderSent"> = { ...sent, data: { ...sent.data, pinInPlaceReply: true } };
  const f = fold([inReply, { ...sent, id: "other" }]);
  assert.deepEqual(f.watch, newWatch(inReply, POLICY, MID));
  assert.equal(f.watch?.state, "completed");
});

test("a check after a monitoring review (an operator's check-now) re-opens the watch with the unclear count reset", () => {
  const l = live([[30_000, unknown], [60_000, unknown], [90_000, unknown]]);
  const reopened: Watch = { ...l.watch, state: "watching", unclearInRow: 0 };
  const now = new Date(T0.getTime() + 120_000);
  const d = decideCheck(reopened, pending, now, POLICY, MID);
  const f = fold([...l.events, ...d.events.map((e) => eventOf(e, now))]);
  assert.deepEqual(f.watch, d.watch);
  assert.equal(f.watch?.state, "watching");
});

test("folding a pending check past the deadline gives the live deadline review", () => {
  const l = live([[30_000, pending], [600_000, pending]]);
  const f = fold(l.events);
  assert.deepEqual(f.watch, l.watch);
  assert.equal(f.watch?.state, "review");
});

test("an operator's RecheckRequested folds to what check-now did: a review watch due at once, unclear count reset; the tenant is kept", () => {
  const withTenant: EventOf<"OrderSent"> = { ...sent, tenantId: "acme" };
  const l = live([[30_000, unknown], [60_000, unknown], [90_000, unknown]], withTenant);
  assert.equal(l.watch.state, "review");
  assert.equal(l.watch.tenantId, "acme");
  const at = new Date(T0.getTime() + 200_000);
  const recheck: OrderEvent = { ...eventOf({ type: "RecheckRequested", data: { operator: "0123456789ab", reason: "asked by support", attempt: 4 } } as never, at) };
  const f = fold([...l.events, recheck]);
  assert.deepEqual(f.watch, { ...l.watch, state: "watching", unclearInRow: 0, nextCheckAt: at });
});

test("an operator's decision settles the watch: completed by hand, or failed", () => {
  const l = live([[30_000, unknown], [60_000, unknown], [90_000, unknown]]);
  const at = new Date(T0.getTime() + 200_000);
  const completed = eventOf({ type: "CompletedByOperator", data: { operator: "0123456789ab", reason: "by phone", reference: "100200300", pin: SEALED } } as never, at);
  const failed = eventOf({ type: "FailedByOperator", data: { operator: "0123456789ab", reason: "cancelled", reasonCode: "provider_cancelled" } } as never, at);
  assert.equal(fold([...l.events, completed]).watch?.state, "completed");
  assert.equal(fold([...l.events, failed]).watch?.state, "failed");
  const recheckAfter = eventOf({ type: "RecheckRequested", data: { operator: "0123456789ab", reason: "again", attempt: 4 } } as never, at);
  assert.equal(fold([...l.events, completed, recheckAfter]).watch?.state, "completed", "a settled watch is not re-opened");
});

test("the rebuilt next-check time keeps the per-watch check budget (adaptive mode), as the live rules do", () => {
  const budgeted: PollPolicy = { ...DEFAULT_POLICY, checkBudget: [{ withinMs: 3_600_000, maxChecks: 30 }] };
  // 30 checks in the first 10 minutes (an operator's, or a mix of schedules): the next may only go at the hour.
  let watch = newWatch(sent, budgeted, MID);
  const events: OrderEvent[] = [sent];
  for (let k = 1; k <= 30; k++) {
    const now = new Date(T0.getTime() + k * 20_000);
    const d = decideCheck(watch, pending, now, budgeted, MID);
    watch = d.watch;
    events.push(...d.events.map((e) => eventOf(e, now)));
  }
  assert.deepEqual(watch.nextCheckAt, new Date(T0.getTime() + 3_600_000));
  const f = events.reduce((s, e) => evolveWatch(s, e, () => budgeted), EMPTY_WATCH_FOLD);
  assert.deepEqual(f.watch?.nextCheckAt, watch.nextCheckAt);
  assert.deepEqual(f.watch, watch);
});
