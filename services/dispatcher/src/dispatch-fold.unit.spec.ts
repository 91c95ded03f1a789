/**
 * The dispatch row as a fold of the order's stream: the rules are driven the way the handler drives
 * them (each attempt fact written where the handler writes it), and the fold of the resulting
 * stream gives the same row, apart from what is not a fact (lease, next-check time, version).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { makeEvent } from "@pinflow/bus";
import type { OrderEvent } from "@pinflow/contracts";
import type { CheckResult, PlaceResult } from "@pinflow/providers";
import {
  afterPlace,
  afterReconcile,
  beginPlace,
  claimForReconcile,
  DEFAULT_POLICY,
  holdBack,
  holdMessage,
  nextStep,
  openOrder,
  reopen,
  type Decision,
  type DispatchPolicy,
  type DispatchRow,
  type EventDraft,
  type Offer,
  type OpenRow,
  type OrderInput,
  type PlacingRow,
  type ReadyRow,
  type ReviewRow,
} from "./dispatch.js";
import { outboxEntries } from "./dispatch-events.js";
import { rowFacts } from "./row-facts.test-harness.js";
import { foldDispatch, placementAnswered, placementStarted, reconcileAnswered } from "./dispatch-fold.js";

const policy: DispatchPolicy = {
  ...DEFAULT_POLICY,
  maxReconcileTries: 4,
  notFoundBeforeReplace: 2,
  retryBaseMs: 1000,
  retryMaxMs: 8000,
  maxPlaceCalls: 2,
  priceGuard: { maxAgeMs: 7 * 86_400_000, unknownPriceAllowed: ["znet", "xstor"] },
};
const t0 = new Date("2025-01-01T10:00:00.000Z");
const order: OrderInput = { orderId: "o-fold-1", packageId: "pubg-60", playerId: "5123456789", extra: null };
const znetOffer: Offer = { provider: "znet", productCode: { oyun: "101", kupur: "60" }, maxCost: "12.00", price: null, priceImportedAt: null };
const xstorOffer: Offer = { provider: "xstor", productCode: { productId: "501" }, maxCost: "12.00", price: "9.80", priceImportedAt: t0.toISOString() };
const origin = { orderId: order.orderId, correlationId: "c-1", causationId: null };

/** The handler's steps over the pure rules, recording the stream it would write. */
class Drive {
  readonly stream: OrderEvent[] = [];
  row: DispatchRow;
  private clock = t0.getTime();
  private refs = 0;

  constructor(offers: Offer[]) {
    this.stream.push(makeEvent("OrderCreated", origin, { packageId: order.packageId, playerId: order.playerId, extra: order.extra }, this.now(), `00000000-0000-4000-8000-${String(this.stream.length).padStart(12, "0")}`));
    const d = openOrder(order, offers, new Set(offers.map((o) => o.provider)), this.ref(), this.now(), policy);
    this.row = d.row;
    this.outputs(d.events);
  }

  now(): Date {
    this.clock += 1000;
    return new Date(this.clock);
  }

  private ref(): string {
    return `17357256000000${String(++this.refs).padStart(4, "0")}`;
  }

  private id(): string {
    return `00000000-0000-4000-8000-${String(this.stream.length).padStart(12, "0")}`;
  }

  private outputs(events: readonly EventDraft[]): void {
    for (const e of events) this.stream.push(makeEvent(e.type, origin, e.data as never, this.now(), this.id()));
  }

  place(result: PlaceResult): Decision {
    assert.equal(this.row.state, "ready");
    const placing = beginPlace(this.row as ReadyRow, this.now(), policy);
    this.stream.push(makeEvent("PlacementStarted", origin, placementStarted(placing), this.now(), this.id()));
    const d = afterPlace(placing, result, this.now(), policy, this.ref());
    this.stream.push(makeEvent("PlacementAnswered", origin, placementAnswered(placing, result, d), this.now(), this.id()));
    this.outputs(d.events);
    this.row = d.row;
    return d;
  }

  /** A place claim whose PlacementStarted the stream never acknowledged (NATS away): the claim stands, no request went out, nothing on the stream. */
  claimUnacknowledged(): void {
    assert.equal(this.row.state, "ready");
    this.row = beginPlace(this.row as ReadyRow, this.now(), policy);
  }

  /** The reconcile of a `placing` row puts its start on the stream first (the handler's `ensureStart`). */
  startAgain(): void {
    assert.equal(this.row.state, "placing");
    const placing = this.row as PlacingRow;
    this.stream.push(makeEvent("PlacementStarted", origin, placementStarted(placing), placing.updatedAt, this.id()));
  }

  reconcile(result: CheckResult): Decision {
    const claimed = claimForReconcile(this.row as OpenRow, this.now(), policy);
    const d = afterReconcile(claimed, result, this.now(), policy);
    this.stream.push(makeEvent("ReconcileAnswered", origin, reconcileAnswered(claimed, result), this.now(), this.id()));
    this.outputs(d.events);
    this.row = d.row;
    return d;
  }

  /** An operator's dispatch again of the order in review, on the route `offers` as it is now. */
  redispatch(offers: Offer[]): Decision {
    assert.equal(this.row.state, "review");
    const d = reopen(this.row as ReviewRow, { operator: "k-op-1", reason: "znet fixed their API" }, offers, new Set(offers.map((o) => o.provider)), this.ref(), this.now(), policy);
    this.outputs(d.events);
    this.row = d.row;
    return d;
  }

  hold(reason: "provider_paused" | "provider_shut_out" = "provider_paused"): void {
    const held = holdBack(this.row as ReadyRow, { reason, message: holdMessage("znet", reason) }, 1000, this.now(), policy);
    assert.equal(held.kind, "write");
    if (held.kind !== "write") return;
    this.outputs(held.decision.events);
    this.row = held.decision.row;
  }
}

function assertSameRow(drive: Drive): void {
  const fold = foldDispatch(drive.stream, policy);
  assert.deepEqual(rowFacts(fold.row, { ignoreHoldSince: true }), rowFacts(drive.row, { ignoreHoldSince: true }));
  assert.deepEqual(fold.pending, [], "every output of the replayed rules is on the stream");
}

describe("dispatch row as a fold of the stream", () => {
  it("a place claim whose PlacementStarted was not acknowledged (found by the chaos run): it stands; the reconcile appends the start first, then its answers — the same row as the stream's", () => {
    const drive = new Drive([znetOffer]);
    drive.claimUnacknowledged();
    drive.startAgain();
    drive.reconcile({ kind: "not_found", message: "kayit bulunamadi" });
    assertSameRow(drive);
    drive.reconcile({ kind: "not_found", message: "kayit bulunamadi" });
    assert.equal(drive.row.state, "ready", "twice not found: placed again with the same reference");
    drive.place({ kind: "accepted", cost: "10.12", balance: "90.00", providerOrderId: "z-1", pin: null });
    assert.equal(drive.row.state, "sent");
    assertSameRow(drive);
  });

  it("accepted on the first offer: sent, with cost and reference", () => {
    const drive = new Drive([znetOffer]);
    drive.place({ kind: "accepted", cost: "10.12", balance: "90.00", providerOrderId: "z-1", pin: null });
    assert.equal(drive.row.state, "sent");
    assertSameRow(drive);
  });

  it("refused on the first offer, accepted on the next: history and the next reference are folded", () => {
    const drive = new Drive([znetOffer, xstorOffer]);
    const d = drive.place({ kind: "refused", providerCode: "3", message: "stok yok", reasonCode: "product_unavailable" });
    assert.equal(d.row.state, "ready");
    drive.place({ kind: "accepted", cost: "9.80", balance: null, providerOrderId: "x-1", pin: null });
    assertSameRow(drive);
  });

  it("refused on every offer: refused with the DispatchFailed reason", () => {
    const drive = new Drive([znetOffer, xstorOffer]);
    drive.place({ kind: "refused", providerCode: "3", message: "stok yok", reasonCode: "product_unavailable" });
    drive.place({ kind: "refused", providerCode: "ERROR", message: "no balance", reasonCode: "insufficient_balance" });
    assert.equal(drive.row.state, "refused");
    assertSameRow(drive);
  });

  it("ambiguous place: unknown with its place error, and the fold says a placement was attempted", () => {
    const drive = new Drive([znetOffer]);
    drive.place({ kind: "ambiguous", cause: "timeout after 15000 ms" });
    assert.equal(drive.row.state, "unknown");
    assertSameRow(drive);
    const fold = foldDispatch(drive.stream, policy);
    assert.equal(fold.attempted, true);
    assert.equal(nextStep(fold.row, new Date(t0.getTime() + 3_600_000), policy).kind, "reconcile", "a rebuilt open row is reconciled, never placed");
  });

  it("ambiguous, then not found twice: ready again with the SAME reference; the re-place is folded with its count", () => {
    const drive = new Drive([znetOffer]);
    drive.place({ kind: "ambiguous", cause: "connection reset" });
    drive.reconcile({ kind: "not_found", message: "kayit yok" });
    drive.reconcile({ kind: "not_found", message: "kayit yok" });
    assert.equal(drive.row.state, "ready");
    assertSameRow(drive);
    drive.place({ kind: "accepted", cost: "10.12", balance: null, providerOrderId: null, pin: null });
    assert.equal(drive.row.state, "sent");
    assert.equal((drive.row as DispatchRow & { placeCalls: number }).placeCalls, 2);
    assertSameRow(drive);
  });

  it("unclear answers until the tries are used up: review", () => {
    const drive = new Drive([znetOffer]);
    drive.place({ kind: "ambiguous", cause: "HTTP 502" });
    for (let i = 0; i < policy.maxReconcileTries; i++) drive.reconcile({ kind: "unknown", cause: "HTTP 503" });
    assert.equal(drive.row.state, "review");
    assertSameRow(drive);
  });

  it("found by reconcile: sent without a cost", () => {
    const drive = new Drive([znetOffer]);
    drive.place({ kind: "ambiguous", cause: "timeout" });
    drive.reconcile({ kind: "pending", note: "işlemde" });
    assert.equal(drive.row.state, "sent");
    assertSameRow(drive);
  });

  it("a hold before any place request: no row (nothing was placed, the order opens afresh); its count is kept for the first attempt", () => {
    const drive = new Drive([znetOffer]);
    drive.hold();
    const fold = foldDispatch(drive.stream, policy);
    assert.deepEqual([fold.row, fold.attempted, fold.heldBeforeOpen], [null, false, 1]);
    drive.place({ kind: "accepted", cost: "10.12", balance: null, providerOrderId: null, pin: null });
    assertSameRow(drive);
  });

  it("held before any place request, then the place reply says the same (found by the chaos run): the hold is the row's, no second DispatchHeld, the same count", () => {
    // znet shut us out (circuit open after empty bodies), the order waited; let through, the place gets an empty body again.
    const drive = new Drive([znetOffer]);
    drive.hold("provider_shut_out");
    drive.place({ kind: "ambiguous", cause: "empty body", accessDenied: true });
    assert.equal(drive.stream.filter((e) => e.type === "DispatchHeld").length, 1, "the live rules hold once for one reason");
    assert.ok(drive.row.state === "unknown" && drive.row.holds === 1 && drive.row.hold?.reason === "provider_shut_out");
    assertSameRow(drive);
    drive.reconcile({ kind: "not_found", message: "kayit yok" });
    drive.reconcile({ kind: "not_found", message: "kayit yok" });
    drive.place({ kind: "ambiguous", cause: "empty body", accessDenied: true });
    assert.equal(drive.row.state === "unknown" && drive.row.holds, 2, "after the hold was lifted, a new one counts");
    assertSameRow(drive);
  });

  it("a PlacementStarted without its answer (the process stopped during the request): placing, no lease, reconciled at once", () => {
    const drive = new Drive([znetOffer]);
    const started = drive.stream.slice();
    drive.place({ kind: "accepted", cost: "10.12", balance: null, providerOrderId: null, pin: null });
    const cut = drive.stream.slice(0, started.length + 1);
    assert.equal(cut.at(-1)?.type, "PlacementStarted");
    const fold = foldDispatch(cut, policy);
    assert.ok(fold.row?.state === "placing" && fold.row.leaseUntil === null && fold.row.placeCalls === 1);
    assert.equal(nextStep(fold.row, t0, policy).kind, "reconcile");
  });

  it("an answer on the stream whose decision events were lost: the fold hands them back as pending", () => {
    const drive = new Drive([znetOffer]);
    drive.place({ kind: "accepted", cost: "10.12", balance: null, providerOrderId: null, pin: null });
    const withoutSent = drive.stream.filter((e) => e.type !== "OrderSent");
    const fold = foldDispatch(withoutSent, policy);
    assert.equal(fold.row?.state, "sent");
    assert.deepEqual(fold.pending.map((e) => e.type), ["OrderSent"]);
  });

  it("an older stream without attempt facts: OrderSent alone gives a sent row (never placed again)", () => {
    const created = makeEvent("OrderCreated", origin, { packageId: order.packageId, playerId: order.playerId, extra: null }, t0);
    const sent = makeEvent("OrderSent", origin, { packageId: order.packageId, provider: "znet", reference: "1", cost: "10.12", balance: null, providerOrderId: null }, t0);
    const fold = foldDispatch([created, sent], policy);
    assert.ok(fold.row?.state === "sent" && fold.row.reference === "1");
    assert.equal(foldDispatch([created], policy).row, null, "no dispatcher fact: no row (today's first placement)");
  });

  describe("an operator's dispatch again (the next generation)", () => {
    /** A znet placement that timed out and that znet then said it does not know, up to the place bound: review. */
    function reviewedWithNothingPlaced(): Drive {
      const drive = new Drive([znetOffer]);
      drive.place({ kind: "ambiguous", cause: "timeout after 15000 ms" });
      drive.reconcile({ kind: "not_found", message: "kayit yok" });
      drive.reconcile({ kind: "not_found", message: "kayit yok" });
      drive.place({ kind: "ambiguous", cause: "timeout after 15000 ms" });
      drive.reconcile({ kind: "not_found", message: "kayit yok" });
      drive.reconcile({ kind: "not_found", message: "kayit yok" });
      assert.equal(drive.row.state, "review");
      return drive;
    }

    it("opens generation 2 on the route as it is now, with a new reference; the fold gives the same row, and its acceptance too", () => {
      const drive = reviewedWithNothingPlaced();
      const before = drive.row as ReviewRow;
      const d = drive.redispatch([znetOffer, xstorOffer]);
      assert.ok(d.row.state === "ready" && d.then === "place");
      assert.equal(d.row.generation, 2);
      assert.notEqual(d.row.reference, before.reference, "a new reference");
      assert.equal(d.row.placeCalls, 0);
      assert.equal(d.row.holds, before.holds, "DispatchHeld numbers go on");
      assert.deepEqual(d.row.route.map((o) => o.provider), ["znet", "xstor"]);
      const [requested] = d.events;
      assert.ok(requested?.type === "RedispatchRequested");
      assert.deepEqual([requested.data.generation, requested.data.reference, requested.data.offerIndex, requested.data.operator], [2, d.row.reference, 0, "k-op-1"]);
      assertSameRow(drive);
      drive.place({ kind: "accepted", cost: "10.12", balance: null, providerOrderId: "z-9", pin: null });
      assert.equal(drive.row.state, "sent");
      assertSameRow(drive);
    });

    it("a review of generation 2 is its own fact (msgID with the generation); the first generation's keeps the order's", () => {
      const drive = reviewedWithNothingPlaced();
      drive.redispatch([znetOffer]);
      const d = drive.place({ kind: "ambiguous", cause: "HTTP 502" });
      assert.equal(d.row.generation, 2);
      let last: Decision = d;
      for (let i = 0; i < policy.maxReconcileTries; i++) last = drive.reconcile({ kind: "unknown", cause: "HTTP 503" });
      assert.equal(last.row.state, "review");
      assertSameRow(drive);
      const origin2 = { orderId: order.orderId, correlationId: "c-1", causationId: null };
      let n = 0;
      const id = () => `00000000-0000-4000-8000-${String(++n).padStart(12, "0")}`;
      const [second] = outboxEntries(origin2, last.events, last.row.generation, t0, id);
      assert.deepEqual([second?.msgId, second?.once], [`ReviewRequired:${order.orderId}:g2`, false]);
      const [first] = outboxEntries(origin2, last.events, 1, t0, id);
      assert.deepEqual([first?.msgId, first?.once], [`ReviewRequired:${order.orderId}`, true]);
      const [requested] = outboxEntries(origin2, [{ type: "RedispatchRequested", data: { operator: "k", reason: "r", generation: 3, offerIndex: null, reference: null, route: [], openedAt: t0.toISOString() } }], 3, t0, id);
      assert.deepEqual([requested?.msgId, requested?.once], [`RedispatchRequested:${order.orderId}:3`, false]);
    });

    it("no offer can be placed now: the generation fails at once (DispatchFailed), and the fold agrees", () => {
      const drive = reviewedWithNothingPlaced();
      const d = drive.redispatch([]);
      assert.ok(d.row.state === "unrouted" && d.row.reasonCode === "no_route" && d.row.generation === 2);
      assert.deepEqual(d.events.map((e) => e.type), ["RedispatchRequested", "DispatchFailed"]);
      assertSameRow(drive);
    });
  });
});
