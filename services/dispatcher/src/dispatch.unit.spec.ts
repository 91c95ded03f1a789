/** The dispatch rules: given a row / when a provider answers / then the next row, events and reply. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { CheckResult, PlaceResult } from "@pinflow/providers";
import {
  afterPlace,
  beginPlace,
  compareMoney,
  DEFAULT_POLICY,
  holdBack,
  openOrder,
  afterReconcile,
  claimForReconcile,
  clip,
  InvalidTransition,
  nextStep,
  retryDelay,
  startPlacement,
  unroutable,
  type Decision,
  type DispatchPolicy,
  type DispatchRow,
  type Offer,
  type OpenRow,
  type OrderInput,
  type PlacingRow,
  type ReadyRow,
} from "./dispatch.js";
import type { EncryptedPin } from "@pinflow/contracts";
import { sealPlaceReplyPin } from "./pin-sealer.js";
import { znetReference } from "./providers.js";

const DAY_MS = 24 * 60 * 60 * 1000;
/** The rules under test; unknown prices are allowed for both providers here (the price guard has its own tests). */
const policy: DispatchPolicy = {
  ...DEFAULT_POLICY,
  maxReconcileTries: 4,
  notFoundBeforeReplace: 2,
  retryBaseMs: 1000,
  retryMaxMs: 8000,
  leaseMs: 30_000,
  maxPlaceCalls: 5,
  priceGuard: { maxAgeMs: 7 * DAY_MS, unknownPriceAllowed: ["znet", "xstor"] },
};
const t0 = new Date("2025-01-01T10:00:00.000Z");
const at = (ms: number): Date => new Date(t0.getTime() + ms);
const order: OrderInput = { orderId: "o-1", packageId: "pubg-60", playerId: "5123456789", extra: null };
const offer: Offer = { provider: "znet", productCode: { oyun: "101", kupur: "60" }, maxCost: "12.00", price: null, priceImportedAt: null };
const REF = "173572560000012345";
/** The fresh reference handed to afterPlace (used only when the order moves to another offer). */
const NEXT = "173572560000099999";

/** Given: a fresh placement row (as committed before the first call). */
function placing(): PlacingRow {
  return startPlacement(order, offer, REF, t0, policy);
}

/** Given: a row after an ambiguous placement. */
function unknownRow(): OpenRow {
  const d = afterPlace(placing(), { kind: "ambiguous", cause: "timeout after 15000 ms" }, at(15_000), policy, NEXT);
  assert.equal(d.row.state, "unknown");
  return d.row as OpenRow;
}

/** When: a reconcile (claim, then the answer). */
function reconcile(row: OpenRow, answer: CheckResult, now: Date): Decision {
  const claimed = claimForReconcile(row, now, policy);
  const d = afterReconcile(claimed, answer, now, policy);
  assert.equal(d.row.version, claimed.version + 1, "every decision is one version after the row it was made on");
  return d;
}

function asOpen(row: DispatchRow): OpenRow {
  assert.ok(row.state === "placing" || row.state === "unknown", `expected an open row, got ${row.state}`);
  return row;
}

const accepted: PlaceResult = { kind: "accepted", cost: "10.12", balance: "980.88", providerOrderId: null, pin: null };

describe("nextStep", () => {
  it("places when there is no row", () => {
    assert.deepEqual(nextStep(null, t0, policy), { kind: "open" });
  });

  it("reconciles a placing or unknown row whose lease has expired", () => {
    assert.equal(nextStep(placing(), at(policy.leaseMs + 1), policy).kind, "reconcile");
    assert.equal(nextStep(unknownRow(), at(20_000), policy).kind, "reconcile");
  });

  it("waits while another handler holds the row (a call in flight)", () => {
    const step = nextStep(placing(), at(1_000), policy);
    assert.equal(step.kind, "wait");
    assert.ok(step.kind === "wait" && step.retryAfterMs > policy.leaseMs - 1_000 && step.retryAfterMs <= policy.leaseMs);
  });

  it("finishes on every final state (the outbox already holds the event)", () => {
    const sent = afterPlace(placing(), accepted, at(100), policy, NEXT).row;
    const refused = afterPlace(placing(), { kind: "refused", providerCode: "3", message: "x", reasonCode: "invalid_player" }, at(100), policy, NEXT).row;
    const unrouted = unroutable(order, new Set(["znet"]), t0).row;
    let row: DispatchRow = unknownRow();
    for (let i = 0; i < policy.maxReconcileTries; i++) row = reconcile(asOpen(row), { kind: "unknown", cause: "empty body" }, at(20_000 + i)).row;
    assert.equal(row.state, "review");
    for (const r of [sent, refused, unrouted, row]) assert.equal(nextStep(r, at(1e9), policy).kind, "finished", r.state);
  });
});

describe("placement", () => {
  it("stores the reference, a lease and one place call before the request", () => {
    const row = placing();
    assert.equal(row.state, "placing");
    assert.equal(row.reference, REF);
    assert.equal(row.placeCalls, 1);
    assert.equal(row.version, 2, "inserted ready (1), claimed for the request (2)");
    assert.deepEqual(row.leaseUntil, at(policy.leaseMs));
  });

  it("accepted → sent + OrderSent with cost and balance, ack", () => {
    const d = afterPlace(placing(), accepted, at(200), policy, NEXT);
    assert.equal(d.row.state, "sent");
    assert.equal(d.then, "ack");
    assert.deepEqual(d.events, [
      {
        type: "OrderSent",
        data: { packageId: "pubg-60", provider: "znet", reference: REF, cost: "10.12", balance: "980.88", providerOrderId: null, maxCost: "12.00", costAboveMaximum: false },
      },
    ]);
    assert.equal(d.row.state === "sent" && d.row.leaseUntil, null);
    assert.equal(d.row.version, 3);
  });

  it("accepted and finished in the place reply → sent + OrderSent(pinInPlaceReply) then PinReceived(checks 0) with the sealed PIN, ack", () => {
    const sealed: EncryptedPin = { alg: "A256GCM", keyId: "k1", iv: "aXY=", tag: "dGFn", ciphertext: "c2VhbGVk" };
    const d = afterPlace(placing(), { ...accepted, providerOrderId: "70001" }, at(200), policy, NEXT, sealed);
    assert.equal(d.row.state, "sent");
    assert.equal(d.then, "ack");
    assert.deepEqual(d.events, [
      {
        type: "OrderSent",
        data: { packageId: "pubg-60", provider: "znet", reference: REF, cost: "10.12", balance: "980.88", providerOrderId: "70001", maxCost: "12.00", costAboveMaximum: false, pinInPlaceReply: true },
      },
      { type: "PinReceived", data: { provider: "znet", reference: REF, pin: sealed, note: null, checks: 0 } },
    ]);
  });

  it("a plaintext PIN never reaches the rules: an accepted result with a PIN must be sealed first", () => {
    assert.throws(() => afterPlace(placing(), { ...accepted, pin: "AB12-CD34" }, at(200), policy, NEXT), (e: Error) => e instanceof InvalidTransition && !e.message.includes("AB12"));
    const sealed: EncryptedPin = { alg: "A256GCM", keyId: "k1", iv: "aXY=", tag: "dGFn", ciphertext: "c2VhbGVk" };
    assert.throws(() => afterPlace(placing(), { kind: "ambiguous", cause: "x" }, at(200), policy, NEXT, sealed), InvalidTransition);
  });

  it("sealPlaceReplyPin seals the place reply's PIN, bound to the order and reference, and drops the plaintext", () => {
    const bindings: unknown[] = [];
    const sealer = {
      seal: (pin: string, binding: { orderId: string; reference: string }): EncryptedPin => {
        bindings.push(binding);
        return { alg: "A256GCM", keyId: "k1", iv: "aXY=", tag: "dGFn", ciphertext: Buffer.from(pin.split("").reverse().join("")).toString("base64") };
      },
    };
    const out = sealPlaceReplyPin({ ...accepted, pin: "AB12-CD34" }, sealer, { orderId: "o-1", reference: REF });
    assert.deepEqual(out.result, accepted);
    assert.ok(out.sealedPin !== null && !JSON.stringify(out).includes("AB12-CD34"));
    assert.deepEqual(bindings, [{ orderId: "o-1", reference: REF }]);
    assert.deepEqual(sealPlaceReplyPin(accepted, sealer, { orderId: "o-1", reference: REF }), { result: accepted, sealedPin: null });
  });

  for (const [code, message, reasonCode] of [
    ["3", "Oyuncu bulunamadı", "invalid_player"],
    ["3", "Kupur Bilgisi Bulunamadı", "product_unavailable"],
    ["8", "Yetersiz bakiye", "insufficient_balance"],
    ["3", "Şifre hatalı", "auth_failed"],
    ["8", "Bağlantı hatası", "provider_error"],
    ["local", "znet productCode needs non-empty oyun and kupur", "product_unavailable"],
  ] as const) {
    it(`refused ${code}|${message} → refused + DispatchFailed(${reasonCode}), ack`, () => {
      const d = afterPlace(placing(), { kind: "refused", providerCode: code, message, reasonCode }, at(200), policy, NEXT);
      assert.equal(d.row.state, "refused");
      assert.equal(d.then, "ack");
      assert.deepEqual(d.events, [{ type: "DispatchFailed", data: { reasonCode, provider: "znet", providerCode: code, message } }]);
    });
  }

  it("a refusal with an empty text still carries a message", () => {
    const d = afterPlace(placing(), { kind: "refused", providerCode: "3", message: "", reasonCode: "provider_error" }, at(200), policy, NEXT);
    assert.equal(d.events[0]?.type === "DispatchFailed" && d.events[0].data.message, "znet refused with code 3");
  });

  it("ambiguous → unknown (no event) and come back to reconcile", () => {
    const d = afterPlace(placing(), { kind: "ambiguous", cause: "connection dropped while reading the reply" }, at(200), policy, NEXT);
    assert.equal(d.row.state, "unknown");
    assert.deepEqual(d.events, []);
    assert.deepEqual(d.then, { retryAfterMs: policy.retryBaseMs });
    assert.equal(d.row.state === "unknown" && d.row.placeError, "connection dropped while reading the reply");
    assert.equal(d.row.state === "unknown" && d.row.reference, REF);
  });

  it("a duplicate-reference refusal on the FIRST request goes to review (whose order is it?)", () => {
    const d = afterPlace(
      placing(),
      { kind: "refused", providerCode: "4", message: `Daha Önce Gönderilmiş (${REF})`, reasonCode: "duplicate_reference" },
      at(200),
      policy,
      NEXT,
    );
    assert.equal(d.row.state, "review");
    assert.equal(d.events[0]?.type, "ReviewRequired");
    assert.equal(d.events.length, 1);
  });

  it("rejects afterPlace on a row that is not placing", () => {
    assert.throws(() => afterPlace(unknownRow(), accepted, at(1), policy, NEXT), InvalidTransition);
  });
});

describe("reconcile", () => {
  for (const answer of [
    { kind: "pending", note: "İşlem bekleniyor" },
    { kind: "done", pin: "AB12-CD34", note: "İşlem tamamlandı" },
    { kind: "cancelled", note: "İşlem iptal edildi" },
  ] satisfies CheckResult[]) {
    it(`found (${answer.kind}) → sent + OrderSent without cost, ack`, () => {
      const d = reconcile(unknownRow(), answer, at(20_000));
      assert.equal(d.row.state, "sent");
      assert.equal(d.then, "ack");
      assert.deepEqual(d.events, [
        { type: "OrderSent", data: { packageId: "pubg-60", provider: "znet", reference: REF, cost: null, balance: null, providerOrderId: null, maxCost: "12.00" } },
      ]);
      assert.ok(!JSON.stringify(d).includes("AB12-CD34"), "a PIN seen while reconciling is never kept here");
    });
  }

  it("a crashed `placing` row is reconciled too, never placed blind", () => {
    const d = reconcile(placing(), { kind: "pending", note: null }, at(policy.leaseMs + 5));
    assert.equal(d.row.state, "sent");
  });

  it("not_found once → retry later; twice (separate deliveries) → place again with the SAME reference", () => {
    const first = reconcile(unknownRow(), { kind: "not_found", message: "Sipariş bulunamadı" }, at(20_000));
    assert.equal(first.row.state, "unknown");
    assert.deepEqual(first.events, []);
    assert.deepEqual(first.then, { retryAfterMs: retryDelay(1, policy) });
    const second = reconcile(asOpen(first.row), { kind: "not_found", message: "Sipariş bulunamadı" }, at(25_000));
    assert.equal(second.then, "place");
    assert.equal(second.row.state, "ready");
    const ready = second.row as ReadyRow;
    assert.equal(ready.reference, REF);
    assert.equal(ready.offerIndex, 0, "never another offer after an ambiguous outcome");
    assert.equal(ready.notFoundStreak, 0);
    assert.deepEqual(second.events, []);
    const again = beginPlace(ready, at(25_001), policy);
    assert.equal(again.state, "placing");
    assert.equal(again.reference, REF);
    assert.equal(again.placeCalls, 2, "counted before the request goes out");
    assert.ok(again.leaseUntil !== null, "the row is held during the new request");
  });

  it("an unclear answer between two not_found answers starts the count again", () => {
    let d = reconcile(unknownRow(), { kind: "not_found", message: "Sipariş bulunamadı" }, at(20_000));
    d = reconcile(asOpen(d.row), { kind: "unknown", cause: "HTTP 500" }, at(21_000));
    d = reconcile(asOpen(d.row), { kind: "not_found", message: "Sipariş bulunamadı" }, at(22_000));
    assert.equal(d.row.state, "unknown");
    assert.notEqual(d.then, "place");
  });

  it("a duplicate-reference refusal of a re-place (after an ambiguous outcome) → review, not sent and not another offer", () => {
    let d = reconcile(unknownRow(), { kind: "not_found", message: "x" }, at(20_000));
    d = reconcile(asOpen(d.row), { kind: "not_found", message: "x" }, at(21_000));
    assert.equal(d.then, "place");
    const replaced = afterPlace(
      beginPlace(d.row as ReadyRow, at(21_500), policy),
      { kind: "refused", providerCode: "4", message: `Daha Önce Gönderilmiş (${REF})`, reasonCode: "duplicate_reference" },
      at(22_000),
      policy,
      NEXT,
    );
    assert.equal(replaced.row.state, "review");
    assert.equal(replaced.then, "ack");
    assert.deepEqual(replaced.events.map((e) => e.type), ["ReviewRequired"]);
    const ev = replaced.events[0];
    assert.ok(ev?.type === "ReviewRequired" && ev.data.reason === "placement_unknown" && ev.data.provider === "znet" && ev.data.reference === REF);
    assert.match(ev.data.message, /Daha Önce Gönderilmiş/);
    assert.match(ev.data.message, /timeout after 15000 ms/, "the evidence of the ambiguous outcome");
  });

  it("a re-place that is accepted → sent with its cost", () => {
    let d = reconcile(unknownRow(), { kind: "not_found", message: "x" }, at(20_000));
    d = reconcile(asOpen(d.row), { kind: "not_found", message: "x" }, at(21_000));
    const placed = afterPlace(beginPlace(d.row as ReadyRow, at(21_500), policy), accepted, at(22_000), policy, NEXT);
    assert.equal(placed.row.state, "sent");
    assert.equal(placed.events[0]?.type === "OrderSent" && placed.events[0].data.cost, "10.12");
  });

  it("unknown answers grow the delay, then RECONCILE_MAX_TRIES unclear answers → review + ReviewRequired with evidence", () => {
    let row: DispatchRow = unknownRow();
    const delays: number[] = [];
    for (let i = 1; i < policy.maxReconcileTries; i++) {
      const d = reconcile(asOpen(row), { kind: "unknown", cause: "empty body (unknown reseller, API access off or wrong source IP)" }, at(20_000 * i));
      assert.equal(d.row.state, "unknown");
      assert.ok(typeof d.then === "object");
      delays.push(typeof d.then === "object" ? d.then.retryAfterMs : 0);
      row = d.row;
    }
    assert.deepEqual(delays, [2000, 4000, 8000]);
    const last = reconcile(asOpen(row), { kind: "unknown", cause: "HTTP 500" }, at(200_000));
    assert.equal(last.row.state, "review");
    assert.equal(last.then, "ack");
    assert.equal(last.events.length, 1);
    const ev = last.events[0];
    assert.equal(ev?.type, "ReviewRequired");
    if (ev?.type !== "ReviewRequired") return;
    assert.equal(ev.data.stage, "dispatch");
    assert.equal(ev.data.reason, "placement_unknown");
    assert.equal(ev.data.provider, "znet");
    assert.equal(ev.data.reference, REF);
    assert.match(ev.data.message, /1 place request/);
    assert.match(ev.data.message, /timeout after 15000 ms/);
    assert.match(ev.data.message, /HTTP 500/);
    assert.ok(ev.data.message.length <= 500);
  });

  it("not_found answers count toward review too, so placing again is bounded", () => {
    let row: DispatchRow = unknownRow();
    let places = 1;
    for (let i = 0; i < 20 && row.state !== "review"; i++) {
      const d = reconcile(asOpen(row), { kind: "not_found", message: "x" }, at(20_000 + i * 1000));
      row = d.row;
      if (d.then === "place") {
        places++;
        row = afterPlace(beginPlace(d.row as ReadyRow, at(20_400 + i * 1000), policy), { kind: "ambiguous", cause: "timeout" }, at(20_500 + i * 1000), policy, NEXT).row;
      }
    }
    assert.equal(row.state, "review");
    assert.ok(places <= 1 + policy.maxReconcileTries / policy.notFoundBeforeReplace, `placed ${places} times`);
  });

  it("a reference is placed at most DEFAULT_POLICY.maxPlaceCalls (2) times: the first request and one re-place after proof, then review", () => {
    // Every place request times out and every check says "not found": the worst case for the bound.
    const p = { ...DEFAULT_POLICY, priceGuard: policy.priceGuard };
    let row: DispatchRow = afterPlace(startPlacement(order, offer, REF, t0, p), { kind: "ambiguous", cause: "timeout" }, at(1), p, NEXT).row;
    let places = 1;
    let now = 10;
    for (let i = 0; i < 50 && row.state !== "review"; i++) {
      now += 100_000;
      const claimed = claimForReconcile(asOpen(row), at(now), p);
      const d = afterReconcile(claimed, { kind: "not_found", message: "Sipariş bulunamadı" }, at(now), p);
      row = d.row;
      if (d.then === "place") {
        const step = nextStep(d.row, at(now), p);
        if (step.kind !== "place") break;
        places++;
        row = afterPlace(beginPlace(step.row, at(now), p), { kind: "ambiguous", cause: "timeout" }, at(now + 1), p, NEXT).row;
      }
    }
    assert.equal(places, 2, `placed ${places} times`);
    assert.equal(row.state, "review");
    if (row.state !== "review") return;
    assert.equal(row.placeCalls, 2);
    assert.match(row.message, /2 place request\(s\)/);
    assert.match(row.message, /at most 2 place requests per reference/);
  });

  it("at the bound, a not-found proof sends the order to review with evidence instead of a third request", () => {
    const p = { ...policy, maxPlaceCalls: 2 };
    let d = reconcile(unknownRow(), { kind: "not_found", message: "Sipariş bulunamadı" }, at(20_000));
    d = reconcile(asOpen(d.row), { kind: "not_found", message: "Sipariş bulunamadı" }, at(30_000));
    assert.equal(d.then, "place");
    const second = afterPlace(beginPlace(d.row as ReadyRow, at(30_001), p), { kind: "ambiguous", cause: "connection reset" }, at(30_002), p, NEXT);
    let e = afterReconcile(claimForReconcile(asOpen(second.row), at(40_000), p), { kind: "not_found", message: "Sipariş bulunamadı" }, at(40_000), p);
    e = afterReconcile(claimForReconcile(asOpen(e.row), at(50_000), p), { kind: "not_found", message: "Sipariş bulunamadı" }, at(50_000), p);
    assert.equal(e.row.state, "review");
    assert.equal(e.then, "ack");
    const ev = e.events[0];
    assert.ok(ev?.type === "ReviewRequired" && ev.data.reason === "placement_unknown" && ev.data.reference === REF);
    assert.match(ev.data.message, /2 place request\(s\)/);
    assert.match(ev.data.message, /connection reset/);
  });

  it("a ready row already at the bound (stored by a crashed or older handler) is never placed: review", () => {
    const p = { ...policy, maxPlaceCalls: 2 };
    const ready: ReadyRow = { ...(openOrder(order, [offer], new Set(["znet"]), REF, t0, policy).row as ReadyRow), placeCalls: 2, placeError: "timeout" };
    const step = nextStep(ready, at(1), p);
    assert.equal(step.kind, "review");
    if (step.kind !== "review") return;
    assert.equal(step.decision.row.state, "review");
    assert.deepEqual(step.decision.events.map((e) => e.type), ["ReviewRequired"]);
    assert.throws(() => beginPlace(ready, at(1), p), InvalidTransition, "the pure rules refuse a request past the bound");
  });

  it("the spacing between reconciles is stored on the row: a duplicate delivery before it waits, without a call", () => {
    const row = unknownRow(); // ambiguous at 15 s; first reconcile due retryBaseMs later
    assert.deepEqual(row.state === "unknown" && row.nextTryAt, at(15_000 + policy.retryBaseMs));
    const early = nextStep(row, at(15_400), policy);
    assert.deepEqual(early, { kind: "wait", why: "spacing", retryAfterMs: policy.retryBaseMs - 400 });
    assert.equal(nextStep(row, at(15_000 + policy.retryBaseMs), policy).kind, "reconcile");
    // The same after an unclear answer: the next try is stored, and a redelivery meanwhile waits.
    const d = reconcile(row, { kind: "unknown", cause: "HTTP 500" }, at(20_000));
    const next = d.row.state === "unknown" ? d.row.nextTryAt : null;
    assert.deepEqual(next, at(20_000 + retryDelay(1, policy)));
    assert.equal(nextStep(d.row, at(20_001), policy).kind, "wait");
    assert.equal(nextStep(d.row, at(20_000 + retryDelay(1, policy)), policy).kind, "reconcile");
  });

  it("rejects a reconcile of a final row", () => {
    assert.throws(() => afterReconcile(afterPlace(placing(), accepted, t0, policy, NEXT).row, { kind: "pending", note: null }, t0, policy), InvalidTransition);
  });
});

describe("routing", () => {
  it("takes the first offer whose provider is configured", () => {
    const xstor: Offer = { provider: "xstor", productCode: { sku: "P60" }, maxCost: "11.00", price: null, priceImportedAt: null };
    const first = (offers: Offer[], configured: ("znet" | "xstor")[]) => {
      const d = openOrder(order, offers, new Set(configured), REF, t0, policy);
      return d.row.state === "ready" ? d.row.provider : d.row.state;
    };
    assert.equal(first([xstor, offer], ["znet"]), "znet");
    assert.equal(first([xstor, offer], ["xstor", "znet"]), "xstor");
    assert.equal(first([xstor], ["znet"]), "unrouted");
    assert.equal(first([], ["znet"]), "unrouted");
  });

  it("no route → unrouted + DispatchFailed(no_route), ack", () => {
    const d = unroutable({ ...order, packageId: "nope" }, new Set(["znet"]), t0);
    assert.equal(d.row.state, "unrouted");
    assert.equal(d.then, "ack");
    assert.deepEqual(d.events, [
      { type: "DispatchFailed", data: { reasonCode: "no_route", provider: null, providerCode: null, message: "no route for package nope (configured providers: znet)" } },
    ]);
  });
});

describe("routing across offers", () => {
  const imported = new Date(t0.getTime() - DAY_MS).toISOString();
  const znet: Offer = { provider: "znet", productCode: { oyun: "101", kupur: "60" }, maxCost: "12.00", price: "10.12", priceImportedAt: imported };
  const xstor: Offer = { provider: "xstor", productCode: { productId: "501" }, maxCost: "12.00", price: "9.80", priceImportedAt: imported };
  const both = new Set(["znet", "xstor"] as const);
  const XREF = "173572560000055555";

  /** Given: the first attempt of a two-offer route, its request in flight. */
  function placingFirst(offers: Offer[] = [znet, xstor]): PlacingRow {
    const d = openOrder(order, offers, both, REF, t0, policy);
    assert.equal(d.row.state, "ready");
    return beginPlace(d.row as ReadyRow, t0, policy);
  }

  it("a new order is stored `ready` at the first placeable offer, with the route snapshot, before any call", () => {
    const d = openOrder(order, [znet, xstor], both, REF, t0, policy);
    assert.equal(d.then, "place");
    assert.deepEqual(d.events, []);
    assert.equal(d.row.state, "ready");
    if (d.row.state !== "ready") return;
    assert.equal(d.row.provider, "znet");
    assert.equal(d.row.reference, REF);
    assert.equal(d.row.placeCalls, 0);
    assert.equal(d.row.leaseUntil, null);
    assert.deepEqual(d.row.route, [znet, xstor]);
    assert.deepEqual(nextStep(d.row, t0, policy), { kind: "place", row: d.row });
  });

  for (const [code, message, reasonCode] of [
    ["8", "Yetersiz bakiye", "insufficient_balance"],
    ["3", "Kupur Bilgisi Bulunamadı", "product_unavailable"],
    ["3", "Stokta yok", "product_unavailable"],
    ["3", "Şifre hatalı", "auth_failed"],
    ["8", "Bağlantı hatası", "provider_error"],
  ] as const) {
    it(`a definite refusal (${reasonCode}) moves to the next offer with a NEW reference stored before its call`, () => {
      const d = afterPlace(placingFirst(), { kind: "refused", providerCode: code, message, reasonCode }, at(100), policy, XREF);
      assert.equal(d.then, "place");
      assert.deepEqual(d.events, [], "no event until the order is placed or every offer refused");
      assert.equal(d.row.state, "ready");
      if (d.row.state !== "ready") return;
      assert.equal(d.row.provider, "xstor");
      assert.equal(d.row.offerIndex, 1);
      assert.equal(d.row.reference, XREF);
      assert.deepEqual(d.row.productCode, { productId: "501" });
      assert.equal(d.row.placeCalls, 0);
      assert.deepEqual(d.row.history, [{ provider: "znet", reference: REF, reasonCode, providerCode: code, message }]);
      const accepted2 = afterPlace(beginPlace(d.row, at(200), policy), { ...accepted, cost: "9.80", providerOrderId: "70001" }, at(300), policy, NEXT);
      assert.deepEqual(accepted2.events, [
        {
          type: "OrderSent",
          data: { packageId: "pubg-60", provider: "xstor", reference: XREF, cost: "9.80", balance: "980.88", providerOrderId: "70001", maxCost: "12.00", costAboveMaximum: false },
        },
      ]);
    });
  }

  for (const [code, message, reasonCode] of [
    ["8", "Yetersiz bakiye", "insufficient_balance"],
    ["3", "Kupur Bilgisi Bulunamadı", "product_unavailable"],
    ["3", "Bu referans ile daha önce işlem yapılmıştır", "provider_error"],
    ["3", "Oyuncu bulunamadı", "invalid_player"],
    ["4", `Daha Önce Gönderilmiş (${REF})`, "duplicate_reference"],
  ] as const) {
    it(`no fallback after ambiguity: a refusal (${code}|${message}) of an offer that had an ambiguous outcome → review, never the next offer`, () => {
      const amb = afterPlace(placingFirst(), { kind: "ambiguous", cause: "timeout after 2000 ms" }, at(100), policy, XREF);
      let d = reconcile(asOpen(amb.row), { kind: "not_found", message: "Sipariş bulunamadı" }, at(10_000));
      d = reconcile(asOpen(d.row), { kind: "not_found", message: "Sipariş bulunamadı" }, at(20_000));
      assert.equal(d.then, "place");
      const refused = afterPlace(beginPlace(d.row as ReadyRow, at(20_001), policy), { kind: "refused", providerCode: code, message, reasonCode }, at(20_002), policy, XREF);
      assert.equal(refused.row.state, "review");
      assert.equal(refused.row.state === "review" && refused.row.provider, "znet");
      assert.equal(refused.row.state === "review" && refused.row.reference, REF, "never the x-stor reference");
      assert.deepEqual(refused.events.map((e) => e.type), ["ReviewRequired"]);
      assert.equal(refused.then, "ack");
    });
  }

  it("a refusal of a placement reconciled after a crash (no answer seen, placed again after proof) → review too", () => {
    const crashed = placingFirst(); // the handler died after the request went out: the row stays `placing`
    let d = reconcile(crashed, { kind: "not_found", message: "Sipariş bulunamadı" }, at(policy.leaseMs + 1));
    d = reconcile(asOpen(d.row), { kind: "not_found", message: "Sipariş bulunamadı" }, at(policy.leaseMs + 20_000));
    const refused = afterPlace(
      beginPlace(d.row as ReadyRow, at(policy.leaseMs + 20_001), policy),
      { kind: "refused", providerCode: "8", message: "Yetersiz bakiye", reasonCode: "insufficient_balance" },
      at(policy.leaseMs + 20_002),
      policy,
      XREF,
    );
    assert.equal(refused.row.state, "review");
  });

  it("a refusal about the order itself (invalid_player) fails at once, without trying another provider", () => {
    const d = afterPlace(placingFirst(), { kind: "refused", providerCode: "3", message: "Oyuncu bulunamadı", reasonCode: "invalid_player" }, at(100), policy, XREF);
    assert.equal(d.row.state, "refused");
    assert.deepEqual(d.events, [{ type: "DispatchFailed", data: { reasonCode: "invalid_player", provider: "znet", providerCode: "3", message: "Oyuncu bulunamadı" } }]);
  });

  it("an ambiguous outcome never moves to another offer: same provider, same reference, reconcile", () => {
    const d = afterPlace(placingFirst(), { kind: "ambiguous", cause: "timeout after 2000 ms" }, at(100), policy, XREF);
    assert.equal(d.row.state, "unknown");
    assert.equal(d.row.state === "unknown" && d.row.provider, "znet");
    assert.equal(d.row.state === "unknown" && d.row.reference, REF);
    assert.equal(nextStep(d.row, at(200), policy).kind, "wait", "the first check is spaced from the ambiguous call");
    assert.equal(nextStep(d.row, at(100 + policy.retryBaseMs), policy).kind, "reconcile");
    // Even when every reconcile is unclear, the order goes to review, not to x-stor.
    let row: DispatchRow = d.row;
    for (let i = 0; i < policy.maxReconcileTries; i++) row = reconcile(asOpen(row), { kind: "unknown", cause: "HTTP 500" }, at(1_000 + i)).row;
    assert.equal(row.state, "review");
    assert.equal(row.state === "review" && row.provider, "znet");
  });

  it("every offer refused → DispatchFailed with the LAST reason code (earlier ones in the message)", () => {
    const first = afterPlace(placingFirst(), { kind: "refused", providerCode: "8", message: "Yetersiz bakiye", reasonCode: "insufficient_balance" }, at(100), policy, XREF);
    assert.equal(first.row.state, "ready");
    const second = afterPlace(
      beginPlace(first.row as ReadyRow, at(200), policy),
      { kind: "refused", providerCode: "product", message: "Product is not available", reasonCode: "product_unavailable" },
      at(300),
      policy,
      NEXT,
    );
    assert.equal(second.then, "ack");
    assert.equal(second.row.state, "refused");
    assert.deepEqual(second.events, [
      {
        type: "DispatchFailed",
        data: { reasonCode: "product_unavailable", provider: "xstor", providerCode: "product", message: "Product is not available (earlier offers: znet insufficient_balance)" },
      },
    ]);
    assert.equal(second.row.state === "refused" && second.row.history.length, 2);
  });

  it("an offer whose imported price is above its maximum is refused without a call, and the next one is tried", () => {
    const dear: Offer = { ...znet, price: "12.01" };
    const d = openOrder(order, [dear, xstor], both, REF, t0, policy);
    assert.equal(d.row.state, "ready");
    if (d.row.state !== "ready") return;
    assert.equal(d.row.provider, "xstor");
    assert.equal(d.row.offerIndex, 1);
    assert.deepEqual(d.row.history, [
      { provider: "znet", reference: null, reasonCode: "cost_above_maximum", providerCode: null, message: "znet price 12.01 is above the maximum 12.00; not placed" },
    ]);
    // The same check applies when a refusal moves the order on.
    const skipNext = afterPlace(
      placingFirst([znet, { ...xstor, price: "15.00" }]),
      { kind: "refused", providerCode: "8", message: "Yetersiz bakiye", reasonCode: "insufficient_balance" },
      at(100),
      policy,
      XREF,
    );
    assert.equal(skipNext.row.state, "refused");
    assert.equal(skipNext.events[0]?.type === "DispatchFailed" && skipNext.events[0].data.reasonCode, "cost_above_maximum");
  });

  it("every offer above its maximum → unrouted + DispatchFailed(cost_above_maximum), no call at all", () => {
    const d = openOrder(order, [{ ...znet, price: "50" }, { ...xstor, price: "12.0000001" }], both, REF, t0, policy);
    assert.equal(d.row.state, "unrouted");
    assert.equal(d.then, "ack");
    assert.deepEqual(d.events.map((e) => e.type === "DispatchFailed" && [e.data.reasonCode, e.data.provider]), [["cost_above_maximum", "xstor"]]);
    assert.equal(nextStep(d.row, t0, policy).kind, "finished");
  });

  it("a price equal to the maximum is placed; an unknown one only where the operator allows it", () => {
    assert.equal(openOrder(order, [{ ...znet, price: "12" }], both, REF, t0, policy).row.state, "ready");
    assert.equal(openOrder(order, [{ ...znet, price: null, priceImportedAt: null, maxCost: "0.01" }], both, REF, t0, policy).row.state, "ready");
  });

  describe("the price guard", () => {
    const strict: DispatchPolicy = { ...policy, priceGuard: { maxAgeMs: 7 * DAY_MS, unknownPriceAllowed: [] } };
    const unpriced: Offer = { ...znet, price: null, priceImportedAt: null };

    it("an offer whose price list was never imported is not placed (price_unknown) and the next priced offer is tried", () => {
      const d = openOrder(order, [unpriced, xstor], both, REF, t0, strict);
      assert.equal(d.row.state, "ready");
      if (d.row.state !== "ready") return;
      assert.equal(d.row.provider, "xstor");
      assert.deepEqual(d.row.history, [
        { provider: "znet", reference: null, reasonCode: "price_unknown", providerCode: null, message: "znet price is unknown (its product list was never imported); not placed" },
      ]);
    });

    it("an imported price older than the configured age is unknown too", () => {
      const stale: Offer = { ...znet, priceImportedAt: new Date(t0.getTime() - 8 * DAY_MS).toISOString() };
      const d = openOrder(order, [stale], both, REF, t0, strict);
      assert.equal(d.row.state, "unrouted");
      assert.deepEqual(d.events, [
        {
          type: "DispatchFailed",
          data: {
            reasonCode: "price_unknown",
            provider: "znet",
            providerCode: null,
            message: `znet price 10.12 was imported at ${stale.priceImportedAt} (older than 7d); not placed`,
          },
        },
      ]);
      const fresh: Offer = { ...znet, priceImportedAt: new Date(t0.getTime() - 7 * DAY_MS + 1).toISOString() };
      assert.equal(openOrder(order, [fresh], both, REF, t0, strict).row.state, "ready");
    });

    it("every offer without a known price → unrouted + DispatchFailed(price_unknown), no call at all", () => {
      const d = openOrder(order, [unpriced, { ...xstor, price: null, priceImportedAt: null }], both, REF, t0, strict);
      assert.equal(d.row.state, "unrouted");
      assert.equal(d.then, "ack");
      assert.deepEqual(d.events.map((e) => e.type === "DispatchFailed" && [e.data.reasonCode, e.data.provider]), [["price_unknown", "xstor"]]);
    });

    it("the operator's allowance is per provider: an unknown znet price is placed only when znet is allowed", () => {
      const znetAllowed: DispatchPolicy = { ...strict, priceGuard: { ...strict.priceGuard, unknownPriceAllowed: ["znet"] } };
      assert.equal(openOrder(order, [unpriced], both, REF, t0, znetAllowed).row.state, "ready");
      const xstorAllowed: DispatchPolicy = { ...strict, priceGuard: { ...strict.priceGuard, unknownPriceAllowed: ["xstor"] } };
      assert.equal(openOrder(order, [unpriced], both, REF, t0, xstorAllowed).row.state, "unrouted");
    });

    it("a fallback after a refusal skips an unpriced next offer too", () => {
      const d = afterPlace(
        beginPlace(openOrder(order, [znet, { ...xstor, price: null, priceImportedAt: null }], both, REF, t0, strict).row as ReadyRow, t0, strict),
        { kind: "refused", providerCode: "8", message: "Yetersiz bakiye", reasonCode: "insufficient_balance" },
        at(100),
        strict,
        XREF,
      );
      assert.equal(d.row.state, "refused");
      assert.equal(d.events[0]?.type === "DispatchFailed" && d.events[0].data.reasonCode, "price_unknown");
    });

    it("an accepted cost above maxCost is a fact on OrderSent (maxCost, costAboveMaximum: true)", () => {
      const dear = afterPlace(placingFirst(), { ...accepted, cost: "12.01" }, at(100), policy, XREF);
      assert.equal(dear.events[0]?.type, "OrderSent");
      const data = dear.events[0]?.type === "OrderSent" ? dear.events[0].data : null;
      assert.equal(data?.maxCost, "12.00");
      assert.equal(data?.costAboveMaximum, true);
      const fair = afterPlace(placingFirst(), { ...accepted, cost: "12.00" }, at(100), policy, XREF);
      const fairData = fair.events[0]?.type === "OrderSent" ? fair.events[0].data : null;
      assert.equal(fairData?.costAboveMaximum, false);
      assert.equal(fairData?.maxCost, "12.00");
    });
  });

  it("offers to unconfigured providers are left out of the route", () => {
    const d = openOrder(order, [xstor, znet], new Set(["znet"]), REF, t0, policy);
    assert.equal(d.row.state === "ready" && d.row.provider, "znet");
    assert.deepEqual(d.row.route, [znet]);
    const none = openOrder(order, [xstor], new Set(["znet"]), REF, t0, policy);
    assert.equal(none.row.state, "unrouted");
    assert.equal(none.events[0]?.type === "DispatchFailed" && none.events[0].data.reasonCode, "no_route");
  });

  it("a 429 with Retry-After delays the reconcile at least that long", () => {
    const d = afterPlace(placingFirst(), { kind: "ambiguous", cause: "HTTP 429 (rate limited)", retryAfterMs: 45_000 }, at(100), policy, XREF);
    assert.deepEqual(d.then, { retryAfterMs: 45_000 });
  });

  it("compareMoney compares decimal strings exactly", () => {
    assert.deepEqual(
      [compareMoney("12.00", "12"), compareMoney("12.01", "12.00"), compareMoney("9.80", "10"), compareMoney("0.1", "0.10000000001"), compareMoney("-1", "0")],
      [0, 1, -1, -1, -1],
    );
  });
});

describe("holds before dispatch (provider paused, circuit open, shut out, not configured)", () => {
  const DEADLINE = policy.dispatchDeadlineMs;

  /** Given: a new order stored `ready` (its reference chosen, no request sent). */
  function ready(): ReadyRow {
    const d = openOrder(order, [offer], new Set(["znet"]), REF, t0, policy);
    assert.equal(d.row.state, "ready");
    return d.row as ReadyRow;
  }

  /** When: the provider's calls are held back for `reason`. */
  function held(row: ReadyRow | OpenRow, reason: "provider_paused" | "circuit_open" | "provider_shut_out" | "provider_not_configured", now: Date, retryAfterMs = 5_000) {
    return holdBack(row, { reason, message: `znet held: ${reason}` }, retryAfterMs, now, policy);
  }

  it("a held order publishes DispatchHeld once when the reason appears, not on every retry", () => {
    const first = held(ready(), "provider_paused", at(1_000));
    assert.equal(first.kind, "write");
    if (first.kind !== "write") return;
    assert.deepEqual(first.decision.events, [
      {
        type: "DispatchHeld",
        seq: 1,
        data: { provider: "znet", reasonCode: "provider_paused", message: "znet held: provider_paused", deadline: at(DEADLINE).toISOString() },
      },
    ]);
    assert.deepEqual(first.decision.then, { retryAfterMs: 5_000 });
    const row = first.decision.row as ReadyRow;
    assert.equal(row.state, "ready", "still waiting, nothing sent");
    assert.equal(row.hold?.reason, "provider_paused");
    assert.equal(row.version, 2);
    // The next delivery finds the same reason: no event, no write.
    assert.deepEqual(held(row, "provider_paused", at(6_000)), { kind: "wait", retryAfterMs: 5_000 });
  });

  it("a changed hold reason publishes a new DispatchHeld (numbered, so each is its own fact)", () => {
    const first = held(ready(), "provider_paused", at(1_000));
    assert.ok(first.kind === "write");
    const second = held(first.decision.row as ReadyRow, "circuit_open", at(7_000));
    assert.ok(second.kind === "write");
    assert.deepEqual(second.decision.events.map((e) => e.type === "DispatchHeld" && [e.seq, e.data.reasonCode]), [[2, "circuit_open"]]);
  });

  it("the wait never runs past the dispatch deadline", () => {
    const first = held(ready(), "provider_paused", at(DEADLINE - 2_000), 60_000);
    assert.ok(first.kind === "write");
    assert.deepEqual(first.decision.then, { retryAfterMs: 2_000 });
  });

  it("at the dispatch deadline a held order goes to review with the last hold reason (deadline_exceeded), nothing sent", () => {
    const first = held(ready(), "provider_shut_out", at(1_000));
    assert.ok(first.kind === "write");
    const late = held(first.decision.row as ReadyRow, "provider_shut_out", at(DEADLINE));
    assert.ok(late.kind === "write");
    const d = late.decision;
    assert.equal(d.row.state, "review");
    assert.equal(d.then, "ack");
    assert.equal(d.events.length, 1);
    const ev = d.events[0];
    assert.ok(ev?.type === "ReviewRequired");
    assert.deepEqual([ev.data.stage, ev.data.reason, ev.data.provider, ev.data.reference], ["dispatch", "deadline_exceeded", "znet", null]);
    assert.match(ev.data.message, /not dispatched within 30m/);
    assert.match(ev.data.message, /znet held: provider_shut_out/);
    assert.match(ev.data.message, /no place request was sent/);
    assert.equal(nextStep(d.row, at(DEADLINE + 1), policy).kind, "finished");
  });

  it("an open placement held at the deadline goes to review as placement_unknown, with the evidence and the hold", () => {
    const late = held(unknownRow(), "circuit_open", at(DEADLINE + 1));
    assert.ok(late.kind === "write");
    const ev = late.decision.events[0];
    assert.ok(ev?.type === "ReviewRequired" && ev.data.reason === "placement_unknown" && ev.data.reference === REF);
    assert.match(ev.data.message, /timeout after 15000 ms/);
    assert.match(ev.data.message, /znet held: circuit_open/);
  });

  it("an empty body (znet shut us out) on the place request: unknown + DispatchHeld(provider_shut_out), once; a readable answer clears the hold", () => {
    const shutOut: PlaceResult = { kind: "ambiguous", cause: "empty body (unknown reseller, API access off or wrong source IP)", accessDenied: true };
    const d = afterPlace(placing(), shutOut, at(100), policy, NEXT);
    assert.equal(d.row.state, "unknown");
    assert.deepEqual(d.events.map((e) => e.type === "DispatchHeld" && [e.data.reasonCode, e.data.provider]), [["provider_shut_out", "znet"]]);
    assert.match(d.events[0]?.type === "DispatchHeld" ? d.events[0].data.message : "", /empty body/);
    // The check answers with an empty body too: the same reason, no second event.
    const again = reconcile(asOpen(d.row), { kind: "unknown", cause: "empty body (unknown reseller, API access off or wrong source IP)", accessDenied: true }, at(10_000));
    assert.deepEqual(again.events, []);
    assert.equal(again.row.state === "unknown" && again.row.hold?.reason, "provider_shut_out");
    // znet lets us in again and knows the order: sent, hold cleared.
    const found = reconcile(asOpen(again.row), { kind: "pending", note: null }, at(20_000));
    assert.equal(found.row.state, "sent");
    assert.equal(found.row.state === "sent" && found.row.hold, null);
  });
});

describe("a provider that shuts us out, while a placement is open", () => {
  const denied: CheckResult = { kind: "unknown", cause: "empty body (unknown reseller, API access off or wrong source IP)", accessDenied: true };

  it("an empty-body check says nothing about the order: it does not use up a reconcile try, the order waits (shown), spaced", () => {
    let row: DispatchRow = unknownRow();
    for (let i = 1; i <= policy.maxReconcileTries + 3; i++) {
      const d = reconcile(asOpen(row), denied, at(20_000 * i));
      assert.equal(d.row.state, "unknown", `check ${i}`);
      row = d.row;
    }
    assert.equal(row.state === "unknown" && row.reconcileTries, 0);
    assert.equal(row.state === "unknown" && row.hold?.reason, "provider_shut_out");
    assert.ok(row.state === "unknown" && row.nextTryAt !== null && row.nextTryAt > at(20_000 * (policy.maxReconcileTries + 3)));
  });

  it("still shut out at the dispatch deadline → review with the evidence and the reason", () => {
    const d = reconcile(unknownRow(), denied, at(policy.dispatchDeadlineMs));
    assert.equal(d.row.state, "review");
    const ev = d.events[0];
    assert.ok(ev?.type === "ReviewRequired" && ev.data.reason === "placement_unknown");
    assert.match(ev.data.message, /not resolved within 30m: znet shuts us out/);
    assert.match(ev.data.message, /timeout after 15000 ms/);
  });
});

describe("helpers", () => {
  it("znet references are 18 digits: ms time + 5 random digits", () => {
    assert.equal(znetReference(1735725600000, 42), "173572560000000042");
    assert.match(znetReference(Date.now(), 99_999), /^\d{18}$/);
    assert.throws(() => znetReference(1, 100_000), RangeError);
  });

  it("retry delays double and are capped", () => {
    assert.deepEqual([0, 1, 2, 3, 4, 50].map((t) => retryDelay(t, policy)), [1000, 2000, 4000, 8000, 8000, 8000]);
  });

  it("clip keeps texts within the contract's limits", () => {
    assert.equal(clip("x".repeat(600)).length, 500);
    assert.equal(clip("short"), "short");
  });
});
