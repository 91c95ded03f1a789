import { test } from "node:test";
import assert from "node:assert/strict";
import { makeEvent } from "@pinflow/bus";
import type { OrderEvent } from "@pinflow/contracts";
import { admit, evolve, markForReview, timelineSummary, unstorableOrder, type OrderRecord, type PinCheck } from "./order.js";

const origin = { orderId: "o-1", correlationId: "o-1", causationId: null };
const at = (s: number) => new Date(Date.UTC(2026, 10, 25, 12, 0, s));
const sealed = { alg: "A256GCM" as const, keyId: "k1", iv: "aXY=", tag: "dGFn", ciphertext: "Y3Q=" };

const created = makeEvent("OrderCreated", origin, { packageId: "pubg-60", playerId: "5551234", extra: null }, at(0));
const sent = makeEvent("OrderSent", origin, { packageId: "pubg-60", provider: "znet", reference: "123", cost: "10.12", balance: "980.88", providerOrderId: null }, at(1));
const checked = (attempt: number, s: number) =>
  makeEvent("StatusChecked", origin, { provider: "znet", reference: "123", attempt, outcome: "pending", note: "İşlem bekleniyor" }, at(s));
const pin = makeEvent("PinReceived", origin, { provider: "znet", reference: "123", pin: sealed, note: "İşlem tamamlandı", checks: 2 }, at(9));

function fold(events: OrderEvent[]): OrderRecord | null {
  return events.reduce<OrderRecord | null>((state, e) => evolve(state, e), null);
}

test("given a created, sent and checked order, when the PIN arrives, then it is completed with the sealed PIN", () => {
  const view = fold([created, sent, checked(1, 2), checked(2, 5), pin]);
  assert.equal(view?.status, "completed");
  assert.deepEqual(view?.pinSealed, sealed);
  assert.equal(view?.checks, 2);
  assert.equal(view?.providerNote, "İşlem tamamlandı");
  assert.equal(view?.updatedAt, at(9).toISOString());
});

test("a new order is pending, a sent one processing", () => {
  assert.equal(fold([created])?.status, "pending");
  assert.equal(fold([created, sent])?.status, "processing");
  assert.equal(fold([created, sent])?.reference, "123");
});

test("a refusal fails the order with its reason code and the provider's text", () => {
  const refused = makeEvent("DispatchFailed", origin, { reasonCode: "invalid_player", provider: "znet", providerCode: "3", message: "Oyuncu bulunamadı" }, at(1));
  const view = fold([created, refused]);
  assert.equal(view?.status, "failed");
  assert.equal(view?.reasonCode, "invalid_player");
  assert.equal(view?.providerNote, "Oyuncu bulunamadı");
});

const held = (reasonCode: "provider_paused" | "provider_shut_out", message: string, s: number) =>
  makeEvent("DispatchHeld", origin, { provider: "znet", reasonCode, message, deadline: at(59).toISOString() }, at(s));

test("a waiting order shows why it waits (DispatchHeld): the provider shut us out, with its reason code and message", () => {
  const view = fold([created, held("provider_shut_out", "znet shuts us out: empty body (wrong password or IP); the order waits", 1)]);
  assert.equal(view?.status, "pending");
  assert.equal(view?.reasonCode, "provider_shut_out");
  assert.equal(view?.providerNote, "znet shuts us out: empty body (wrong password or IP); the order waits");
  assert.equal(view?.provider, null, "not sent to any provider");
  const changed = fold([created, held("provider_shut_out", "shut out", 1), held("provider_paused", "znet paused by an operator", 2)]);
  assert.deepEqual([changed?.reasonCode, changed?.providerNote], ["provider_paused", "znet paused by an operator"]);
});

test("once sent, the hold reason is gone; a late DispatchHeld never changes a sent or settled order", () => {
  const view = fold([created, held("provider_paused", "paused", 1), sent]);
  assert.equal(view?.status, "processing");
  assert.deepEqual([view?.reasonCode, view?.providerNote], [null, null]);
  const late = fold([created, sent, held("provider_paused", "paused", 3)]);
  assert.deepEqual([late?.status, late?.reasonCode, late?.providerNote], ["processing", null, null]);
});

test("a held order sent to review at the dispatch deadline keeps the hold's reason code", () => {
  const review = makeEvent("ReviewRequired", origin, { stage: "dispatch", reason: "deadline_exceeded", provider: "znet", reference: null, message: "not dispatched within 30m: paused" }, at(5));
  const view = fold([created, held("provider_paused", "paused", 1), review]);
  assert.deepEqual([view?.status, view?.reviewReason, view?.reasonCode], ["review", "deadline_exceeded", "provider_paused"]);
});

test("a provider cancel fails the order", () => {
  const cancelled = makeEvent("OrderFailed", origin, { provider: "znet", reference: "123", reasonCode: "provider_cancelled", message: "İşlem iptal edildi" }, at(3));
  assert.equal(fold([created, sent, cancelled])?.status, "failed");
});

test("review holds until a final answer; a late PIN still completes it", () => {
  const review = makeEvent("ReviewRequired", origin, { stage: "monitoring", reason: "deadline_exceeded", provider: "znet", reference: "123", message: "no answer in 24 h" }, at(4));
  const inReview = fold([created, sent, review, checked(3, 5)]);
  assert.equal(inReview?.status, "review");
  assert.equal(inReview?.reviewReason, "deadline_exceeded");
  const done = fold([created, sent, review, pin]);
  assert.equal(done?.status, "completed");
  assert.equal(done?.reviewReason, null);
});

test("a settled order is not moved back by late or duplicated events", () => {
  const view = fold([created, sent, pin, checked(1, 10), sent, created]);
  assert.equal(view?.status, "completed");
  assert.equal(view?.createdAt, at(0).toISOString());
});

test("events of an order never created are ignored", () => {
  assert.equal(fold([sent, pin]), null);
});

test("the timeline never shows the PIN ciphertext", () => {
  assert.ok(!("pin" in timelineSummary(pin)));
  assert.equal(timelineSummary(pin).reference, "123");
});

test("the dispatcher's attempt facts change no status and the timeline shows provider, reference and answer, never a PIN", () => {
  const route = [{ provider: "znet" as const, productCode: { oyun: "101", kupur: "60" }, maxCost: "12.00", price: "10.12", priceImportedAt: null }];
  const started = makeEvent("PlacementStarted", origin, { provider: "znet", offerIndex: 0, reference: "123", placeCall: 1, route, openedAt: at(1).toISOString() }, at(1));
  const answered = makeEvent("PlacementAnswered", origin, { provider: "znet", reference: "123", placeCall: 1, outcome: "ambiguous", cause: "timeout after 15000 ms" }, at(2));
  const reconciled = makeEvent("ReconcileAnswered", origin, { provider: "znet", reference: "123", step: 2, outcome: "pending", note: "İşlem bekleniyor" }, at(3));
  assert.deepEqual(fold([created, started, answered, reconciled]), fold([created]));
  assert.deepEqual(fold([created, started, answered, reconciled, sent, pin]), fold([created, sent, pin]));
  assert.deepEqual(
    [started, answered, reconciled].map((e) => {
      const s = timelineSummary(e);
      return [s["provider"], s["reference"], s["outcome"] ?? null];
    }),
    [
      ["znet", "123", null],
      ["znet", "123", "ambiguous"],
      ["znet", "123", "pending"],
    ],
  );
});

const opensForAnything: PinCheck = () => true;

test("pin_mismatch: a PinReceived for another reference than the order's OrderSent is refused, whatever its PIN", () => {
  const sentOrder = fold([created, sent]);
  const stray = makeEvent("PinReceived", origin, { provider: "znet", reference: "999", pin: sealed, note: null, checks: 1 }, at(9));
  const verdict = admit(sentOrder, stray, opensForAnything);
  assert.equal(verdict.kind, "refuse");
  assert.equal(verdict.kind === "refuse" && verdict.reason, "pin_mismatch");
  assert.equal(admit(fold([created]), pin, opensForAnything).kind, "refuse", "no OrderSent yet: no reference a PIN could belong to");
});

test("pin_mismatch: a PinReceived whose PIN does not open for the order and its reference is refused", () => {
  const bindings: unknown[] = [];
  const opensNever: PinCheck = (_pin, binding) => {
    bindings.push(binding);
    return false;
  };
  const verdict = admit(fold([created, sent]), pin, opensNever);
  assert.equal(verdict.kind === "refuse" && verdict.reason, "pin_mismatch");
  assert.deepEqual(bindings, [{ orderId: "o-1", reference: "123" }]);
  assert.deepEqual(admit(fold([created, sent]), pin, opensForAnything), { kind: "apply" });
});

test("other events, and events of orders we never saw, are admitted (evolve decides)", () => {
  assert.deepEqual(admit(null, pin, () => false), { kind: "apply" });
  assert.deepEqual(admit(fold([created]), sent, () => false), { kind: "apply" });
});

test("a dead-lettered event puts an open order in review at the event's time; a settled order stays settled", () => {
  const open = fold([created, sent])!;
  const review = markForReview(open, "pin_mismatch", at(7).toISOString());
  assert.deepEqual(
    { status: review.status, reviewReason: review.reviewReason, updatedAt: review.updatedAt, pinSealed: review.pinSealed },
    { status: "review", reviewReason: "pin_mismatch", updatedAt: at(7).toISOString(), pinSealed: null },
  );
  assert.equal(markForReview(open, "unprocessable_event", null).updatedAt, open.updatedAt, "a malformed message has no time of its own");
  const done = fold([created, sent, pin])!;
  assert.equal(markForReview(done, "pin_mismatch", at(10).toISOString()), done);
});

test("an OrderCreated that cannot be stored as it is becomes an order in review with storable text", () => {
  const nul = makeEvent("OrderCreated", origin, { packageId: "pubg-60", playerId: "a\u0000b", extra: "x\u0000" }, at(0));
  const order = unstorableOrder(nul);
  assert.deepEqual(
    { status: order.status, reviewReason: order.reviewReason, playerId: order.playerId, extra: order.extra, createdAt: order.createdAt },
    { status: "review", reviewReason: "unprocessable_event", playerId: "a\uFFFDb", extra: "x\uFFFD", createdAt: at(0).toISOString() },
  );
});

test("the tenant comes from OrderCreated; an OrderCreated without one (written before tenants) belongs to legacy", () => {
  assert.equal(fold([created])?.tenantId, "legacy");
  const owned = makeEvent("OrderCreated", { ...origin, tenantId: "acme" }, { packageId: "pubg-60", playerId: "5551234", extra: null }, at(0));
  assert.equal(owned.tenantId, "acme");
  assert.equal(fold([owned, sent])?.tenantId, "acme");
});

test("an operator completes an order in review with a sealed PIN, or fails it with a reason code; a settled order stays settled", () => {
  const review = makeEvent("ReviewRequired", origin, { stage: "monitoring", reason: "unknown_status", provider: "znet", reference: "123", message: "unreadable" }, at(5));
  const byHand = makeEvent("CompletedByOperator", origin, { operator: "0123456789ab", reason: "by phone", reference: "123", pin: sealed }, at(7));
  const failedByHand = makeEvent("FailedByOperator", origin, { operator: "0123456789ab", reason: "cancelled", reasonCode: "provider_cancelled" }, at(7));
  const completed = fold([created, sent, review, byHand]);
  assert.equal(completed?.status, "completed");
  assert.deepEqual(completed?.pinSealed, sealed);
  assert.equal(completed?.reviewReason, null);
  const failed = fold([created, sent, review, failedByHand]);
  assert.equal(failed?.status, "failed");
  assert.equal(failed?.reasonCode, "provider_cancelled");
  assert.equal(fold([created, sent, review, failedByHand, byHand])?.status, "failed", "one decision settles it");
  const recheck = makeEvent("RecheckRequested", origin, { operator: "0123456789ab", reason: "again", attempt: 3 }, at(8));
  assert.equal(fold([created, sent, review, recheck])?.status, "review", "a recheck request changes no status");
  assert.deepEqual(timelineSummary(byHand), { operator: "0123456789ab", reason: "by phone", reference: "123" }, "the timeline never carries the PIN");
});

test("a hand-entered PIN is admitted only when it opens for the order and its reference", () => {
  const review = makeEvent("ReviewRequired", origin, { stage: "dispatch", reason: "placement_unknown", provider: "znet", reference: null, message: "?" }, at(5));
  const state = fold([created, review])!;
  const byHand = makeEvent("CompletedByOperator", origin, { operator: "0123456789ab", reason: "by phone", reference: null, pin: sealed }, at(7));
  const seen: { orderId: string; reference: string }[] = [];
  const opens: PinCheck = (_pin, binding) => (seen.push(binding), true);
  assert.deepEqual(admit(state, byHand, opens), { kind: "apply" });
  assert.deepEqual(seen, [{ orderId: "o-1", reference: "" }]);
  assert.equal(admit(state, byHand, () => false).kind, "refuse");
});
