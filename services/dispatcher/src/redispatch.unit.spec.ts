import assert from "node:assert/strict";
import { test } from "node:test";
import { makeEvent } from "@pinflow/bus";
import type { EventData, EventType, OrderEvent } from "@pinflow/contracts";
import { redispatchVerdict } from "./redispatch.js";

const origin = { orderId: "o-re-1", correlationId: "o-re-1", causationId: null };
const route = [{ provider: "znet" as const, productCode: { oyun: "1", kupur: "60" }, maxCost: "12.00", price: "10.00", priceImportedAt: null }];
const ev = <T extends EventType>(type: T, data: EventData<T>): OrderEvent => makeEvent(type, origin, data) as OrderEvent;

const created = ev("OrderCreated", { packageId: "pubg-60", playerId: "5123456789", extra: null });
const started = (reference: string, placeCall = 1, provider: "znet" | "xstor" = "znet") =>
  ev("PlacementStarted", { provider, offerIndex: provider === "znet" ? 0 : 1, reference, placeCall, route, openedAt: "2026-01-01T10:00:00.000Z" });
const answered = (reference: string, outcome: "accepted" | "refused" | "ambiguous", provider: "znet" | "xstor" = "znet") =>
  ev("PlacementAnswered", {
    provider,
    reference,
    placeCall: 1,
    outcome,
    ...(outcome === "refused" ? { reasonCode: "insufficient_balance" as const } : {}),
    ...(outcome === "ambiguous" ? { cause: "timeout after the request was written" } : {}),
  });
const reconciled = (reference: string, outcome: "pending" | "done" | "cancelled" | "not_found" | "unknown", step: number) =>
  ev("ReconcileAnswered", { provider: "znet", reference, step, outcome, ...(outcome === "unknown" ? { cause: "HTTP 500" } : {}) });
const review = (reason: "placement_unknown" | "deadline_exceeded") =>
  ev("ReviewRequired", { stage: "dispatch", reason, provider: "znet", reference: null, message: "a person must decide" });

const verdict = (events: OrderEvent[]) => redispatchVerdict(events);

test("refusals only, on every provider: no placement can exist, dispatch again is allowed", () => {
  assert.deepEqual(verdict([created, started("r1"), answered("r1", "refused"), started("r2", 1, "xstor"), answered("r2", "refused", "xstor"), review("deadline_exceeded")]), { kind: "allowed" });
});

test("the provider said plainly it does not know the reference (last word not_found): allowed", () => {
  assert.deepEqual(verdict([created, started("r1"), answered("r1", "ambiguous"), reconciled("r1", "unknown", 2), reconciled("r1", "not_found", 3), review("placement_unknown")]), { kind: "allowed" });
});

test("an order whose placement is unknown (ambiguous, never cleared) is refused, naming the reference", () => {
  const v = verdict([created, started("r1"), answered("r1", "ambiguous"), reconciled("r1", "unknown", 2), review("placement_unknown")]);
  assert.equal(v.kind, "refused");
  assert.match(v.kind === "refused" ? v.reason : "", /znet with reference r1 may exist: unclear reconcile answer/);
});

test("a place request without an answer, a refusal after an ambiguity, or a provider that knows the reference: refused", () => {
  for (const events of [
    [created, started("r1"), review("placement_unknown")],
    [created, started("r1"), answered("r1", "ambiguous"), reconciled("r1", "not_found", 2), started("r1", 2), answered("r1", "ambiguous"), review("placement_unknown")],
    [created, started("r1"), answered("r1", "ambiguous"), started("r1", 2), answered("r1", "refused"), review("placement_unknown")],
    [created, started("r1"), answered("r1", "ambiguous"), reconciled("r1", "pending", 2), review("deadline_exceeded")],
    [created, started("r1"), answered("r1", "refused"), started("r2", 1, "xstor"), review("placement_unknown")],
  ]) {
    assert.equal(verdict(events).kind, "refused", events.map((e) => e.type).join(","));
  }
});

test("not for settled orders, orders not in dispatch review, or old records without attempt facts", () => {
  const sent = ev("OrderSent", { packageId: "pubg-60", provider: "znet", reference: "r1", cost: "10.00", balance: null, providerOrderId: null });
  const failed = ev("DispatchFailed", { reasonCode: "insufficient_balance", provider: "znet", providerCode: "8", message: "bakiye" });
  const monitoring = ev("ReviewRequired", { stage: "monitoring", reason: "deadline_exceeded", provider: "znet", reference: "r1", message: "late" });
  assert.match(JSON.stringify(verdict([created, started("r1"), answered("r1", "accepted"), sent, monitoring])), /accepted the order/);
  assert.match(JSON.stringify(verdict([created, started("r1"), answered("r1", "refused"), failed])), /settled \(DispatchFailed\)/);
  assert.match(JSON.stringify(verdict([created, started("r1"), answered("r1", "refused")])), /not in review/);
  assert.match(JSON.stringify(verdict([created, review("placement_unknown")])), /no attempt facts/);
  assert.deepEqual(verdict([created, review("deadline_exceeded")]), { kind: "allowed" }, "held until the deadline before any request: nothing was sent");
  assert.match(JSON.stringify(verdict([])), /no such order/);
});

test("once dispatched again, not again until that dispatch ends in review; then decided on every generation's references", () => {
  const again = (generation: number, reference: string | null) =>
    ev("RedispatchRequested", { operator: "k-op", reason: "znet fixed it", generation, offerIndex: reference === null ? null : 0, reference, route, openedAt: "2026-01-01T11:00:00.000Z" });
  const first = [created, started("r1"), answered("r1", "ambiguous"), reconciled("r1", "not_found", 2), review("placement_unknown")];
  assert.deepEqual(verdict(first), { kind: "allowed" });
  assert.deepEqual(verdict([...first, again(2, "r2")]), { kind: "refused", reason: "the order is being dispatched again already" });
  assert.deepEqual(verdict([...first, again(2, "r2"), started("r2"), answered("r2", "refused"), review("deadline_exceeded")]), { kind: "allowed" });
  const unclear = verdict([...first, again(2, "r2"), started("r2"), answered("r2", "ambiguous"), review("placement_unknown")]);
  assert.match(unclear.kind === "refused" ? unclear.reason : "", /reference r2 may exist/);
});
