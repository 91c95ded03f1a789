/**
 * Routing across providers and per-provider limits, against REAL PostgreSQL, a private nats-server
 * and both simulators (znet first, x-stor second in config/catalog.json). The real handler, consumer,
 * relay and ProviderGate run in-process; events are read back from the stream.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ProviderGate, type ProviderLimits } from "@pinflow/limits";
import { XstorClient, ZnetClient } from "@pinflow/providers";
import { XstorSimulator } from "@pinflow/test/simulators/xstor";
import { ZnetSimulator } from "@pinflow/test/simulators/znet";
import { eventually } from "@pinflow/testkit";
import { Registry } from "prom-client";
import { readCatalogFile } from "./catalog.js";
import { providerRegistry, XstorProvider, ZnetProvider } from "./providers.js";
import { DEFAULT_POLICY } from "./dispatch.js";
import { CATALOG, created, eventCounts, importCatalogs, logger, player, useDispatcherBed, waitForEvent, TEST_NAMES } from "./dispatcher.test-harness.js";
import { createDispatcher } from "./runtime.js";
import { generatePinKeyring, PinCipher } from "@pinflow/secrets";

const CODE = "5550004444";
const PASSWORD = "route-Şifre&2";
const TOKEN = "route-xstor-token";
const CLIENT_TIMEOUT_MS = 1_000;
const COOLDOWN_MS = 1_500;

const znet = new ZnetSimulator({ code: CODE, password: PASSWORD, completeAfterMs: 600_000, balance: 100_000 });
const xstor = new XstorSimulator({ token: TOKEN, completeAfterMs: 600_000, balance: 100_000 });
let gate: ProviderGate;
const pins = new PinCipher(generatePinKeyring());
const registry = new Registry();

const limits = (threshold: number): ProviderLimits => ({
  ratePerSec: 500,
  burst: 500,
  concurrency: 4,
  slotLeaseMs: 10_000,
  circuit: { threshold, cooldownMs: COOLDOWN_MS, maxCooldownMs: COOLDOWN_MS },
});

const bed = useDispatcherBed({
  natsName: "dispatcher-routing-test",
  dbPrefix: "dispatcher_routing",
  simulators: [znet, xstor],
  dispatcher: async ({ pool, nc, urls: [znetUrl, xstorUrl] }) => {
    // znet's breaker opens after ONE unclear call here, so one order can show it; x-stor's after 20.
    gate = new ProviderGate(pool, { znet: limits(1), xstor: limits(20) });
    await gate.ensure();
    const znetClient = new ZnetClient({ baseUrl: znetUrl!, code: CODE, password: PASSWORD, timeoutMs: CLIENT_TIMEOUT_MS });
    const xstorClient = new XstorClient({ baseUrl: xstorUrl!, token: TOKEN, timeoutMs: CLIENT_TIMEOUT_MS });
    await importCatalogs(pool, readCatalogFile(CATALOG), { znet: znetClient, xstor: xstorClient });
    return createDispatcher({
      pool,
      nc,
      names: TEST_NAMES,
      providers: providerRegistry([new ZnetProvider(znetClient), new XstorProvider(xstorClient)]),
      catalog: readCatalogFile(CATALOG),
      // Adapter until PinCipher.seal binds a PIN to its order.
      pins,
      logger,
      registry,
      gate,
      gateWaitMs: 200,
      ackWaitMs: 30_000,
      batch: 5,
      relayIntervalMs: 100,
      policy: { ...DEFAULT_POLICY, maxReconcileTries: 5, notFoundBeforeReplace: 2, retryBaseMs: 100, retryMaxMs: 400, leaseMs: CLIENT_TIMEOUT_MS + 500, maxPlaceCalls: 2 },
    });
  },
});

/** Requests that reached a simulator for this player (its id is in the query string). */
const znetCallsFor = (p: string): string[] => znet.requestLog().filter((l) => l.includes(`oyuncu_bilgi=${p}`));
const xstorCallsFor = (p: string): string[] => xstor.requestLog().filter((l) => l.includes(`uid=${p}`));

async function references(orderId: string): Promise<{ reference: string; provider: string; offer_index: number }[]> {
  const r = await bed.pool.query<{ reference: string; provider: string; offer_index: number }>(
    "SELECT reference, provider, offer_index FROM dispatch_reference WHERE order_id = $1 ORDER BY offer_index",
    [orderId],
  );
  return r.rows;
}

describe("routing across znet and x-stor (PostgreSQL + NATS + both simulators)", () => {
  it("znet refuses with insufficient balance → x-stor places it, with its own reference stored before the call", async () => {
    const p = player("fallback");
    znet.addRule({ playerId: p, placeReply: "8|Yetersiz bakiye" });
    const order = created(p);
    await bed.publisher.publish(order);
    const sent = await waitForEvent(bed.jsm, order.orderId, "OrderSent");
    assert.equal(sent.data.provider, "xstor");
    assert.equal(sent.data.cost, "9.80");
    assert.match(sent.data.providerOrderId ?? "", /^\d+$/);
    assert.equal(xstor.placements(sent.data.reference), 1);
    assert.equal(xstor.placeCalls(sent.data.reference), 1);
    assert.equal(xstor.order(sent.data.reference)?.productId, "501");
    assert.equal(znetCallsFor(p).length, 1, "one refused znet call");
    assert.equal(znet.referencesFor(p).length, 0, "nothing recorded at znet");
    const refs = await references(order.orderId);
    assert.deepEqual(refs.map((r) => [r.provider, r.offer_index]), [["znet", 0], ["xstor", 1]]);
    assert.equal(refs[1]?.reference, sent.data.reference);
    assert.notEqual(refs[0]?.reference, refs[1]?.reference, "one reference per attempt");
    const row = await bed.dispatcher.store.get(order.orderId);
    assert.equal(row?.state, "sent");
    assert.deepEqual(row?.history.map((h) => [h.provider, h.reasonCode, h.providerCode]), [["znet", "insufficient_balance", "8"]]);
    assert.deepEqual(await eventCounts(bed.jsm, order.orderId), { OrderCreated: 1, OrderSent: 1 });
    assert.match(await registry.getSingleMetricAsString("pinflow_dispatch_total"), /provider="znet",outcome="fallback"\} [1-9]/);
  });

  it("a znet timeout does NOT fall back: it is reconciled at znet (same reference), x-stor never called", async () => {
    const p = player("timeout");
    znet.addRule({ playerId: p, placeFault: "slow-accept", slowMs: CLIENT_TIMEOUT_MS * 3 });
    const order = created(p);
    await bed.publisher.publish(order);
    const sent = await waitForEvent(bed.jsm, order.orderId, "OrderSent");
    assert.equal(sent.data.provider, "znet");
    assert.equal(sent.data.cost, null, "learnt by reconciling");
    assert.equal(znet.placements(sent.data.reference), 1);
    assert.equal(znet.placeCalls(sent.data.reference), 1);
    assert.deepEqual(xstorCallsFor(p), []);
    assert.deepEqual((await references(order.orderId)).map((r) => r.provider), ["znet"]);
  });

  it("every offer refused → DispatchFailed with the last reason code; nothing placed anywhere", async () => {
    const p = player("allrefuse");
    znet.addRule({ playerId: p, placeReply: "8|Yetersiz bakiye" });
    xstor.addRule({ playerId: p, placeReply: { status: "ERROR", message: "Product is not available", error: "product" } });
    const order = created(p);
    await bed.publisher.publish(order);
    const failed = await waitForEvent(bed.jsm, order.orderId, "DispatchFailed");
    assert.equal(failed.data.reasonCode, "product_unavailable");
    assert.equal(failed.data.provider, "xstor");
    assert.equal(failed.data.providerCode, "product");
    assert.match(failed.data.message, /Product is not available \(earlier offers: znet insufficient_balance\)/);
    assert.equal(xstor.referencesFor(p).length, 0);
    assert.deepEqual(await eventCounts(bed.jsm, order.orderId), { OrderCreated: 1, DispatchFailed: 1 });
  });

  it("x-stor after a fallback: accepted then the connection dropped → reconciled by order_uuid (entries carrying it, opt-in), one placement", async () => {
    const p = player("xdrop");
    znet.addRule({ playerId: p, placeReply: "3|Kupur Bilgisi Bulunamadı" });
    xstor.addRule({ playerId: p, placeFault: "drop-after-accept", checkCarriesUuid: true });
    const order = created(p, "freefire-100", "EU");
    await bed.publisher.publish(order);
    const sent = await waitForEvent(bed.jsm, order.orderId, "OrderSent");
    assert.equal(sent.data.provider, "xstor");
    assert.equal(sent.data.cost, null);
    assert.equal(xstor.placements(sent.data.reference), 1);
    assert.equal(xstor.placeCalls(sent.data.reference), 1);
    assert.ok(xstor.checkedIds(sent.data.reference) >= 1, "asked about by order_uuid");
    assert.equal(xstor.order(sent.data.reference)?.server, "EU", "extra → server param");
  });

  it("x-stor finishes the order in its place reply: PinReceived (checks 0) right after OrderSent, the sealed PIN opens to x-stor's PIN, no check call, no plaintext PIN in any row", async () => {
    const p = player("xinplace");
    znet.addRule({ playerId: p, placeReply: "8|Yetersiz bakiye" });
    xstor.addRule({ playerId: p, finishInPlaceReply: true });
    const order = created(p);
    await bed.publisher.publish(order);
    const received = await waitForEvent(bed.jsm, order.orderId, "PinReceived");
    const sent = await waitForEvent(bed.jsm, order.orderId, "OrderSent");
    const reference = sent.data.reference;
    const pin = xstor.order(reference)?.pin ?? "";
    assert.match(pin, /^[A-Z0-9]{4}(-[A-Z0-9]{4}){3}$/);
    assert.equal(sent.data.provider, "xstor");
    assert.equal(sent.data.pinInPlaceReply, true);
    assert.equal(sent.data.providerOrderId, xstor.order(reference)?.orderId);
    assert.deepEqual({ ...received.data, pin: null }, { provider: "xstor", reference, pin: null, note: null, checks: 0 });
    assert.equal(received.causationId, sent.causationId, "both caused by the OrderCreated");
    assert.equal(pins.open(received.data.pin, { orderId: order.orderId, reference }), pin);
    const seqs = await Promise.all(
      (["OrderSent", "PinReceived"] as const).map(async (type) => (await bed.jsm.streams.getMessage(TEST_NAMES.stream, { last_by_subj: TEST_NAMES.orderEvent(order.orderId, type) }))?.seq ?? 0),
    );
    assert.ok(seqs[0]! > 0 && seqs[0]! < seqs[1]!, `OrderSent (${seqs[0]}) before PinReceived (${seqs[1]})`);
    assert.deepEqual(await eventCounts(bed.jsm, order.orderId), { OrderCreated: 1, OrderSent: 1, PinReceived: 1 });
    assert.equal(xstor.checkedIds(reference), 0, "no check call");
    assert.equal(xstor.placements(reference), 1);
    for (const table of ["dispatch", "dispatch_reference", "outbox"]) {
      const rows = await bed.pool.query(`SELECT * FROM ${table}`);
      assert.ok(!JSON.stringify(rows.rows).includes(pin), `no plaintext PIN in ${table}`);
    }
    assert.ok(!JSON.stringify([sent, received]).includes(pin), "no plaintext PIN in the events");
  });

  it("x-stor accepted then the connection dropped, check entries without our order_uuid (documented): never taken as found, never placed again, review with the evidence", async () => {
    const p = player("xdropdoc");
    znet.addRule({ playerId: p, placeReply: "8|Yetersiz bakiye" });
    xstor.addRule({ playerId: p, placeFault: "drop-after-accept" });
    const order = created(p);
    await bed.publisher.publish(order);
    const review = await waitForEvent(bed.jsm, order.orderId, "ReviewRequired", 20_000);
    assert.equal(review.data.provider, "xstor");
    assert.match(review.data.message, /could not be matched/);
    const reference = review.data.reference ?? "";
    assert.equal(xstor.placements(reference), 1);
    assert.equal(xstor.placeCalls(reference), 1, "an unmatched entry is unknown, never not_found: no second placement");
    assert.ok(xstor.checkedIds(reference) >= 5, "asked about by order_uuid on every reconcile");
    assert.deepEqual(await eventCounts(bed.jsm, order.orderId), { OrderCreated: 1, ReviewRequired: 1 });
  });

  it("x-stor place reply with a PIN and an unreadable price: no PIN in the row, the causes or the ReviewRequired message", async () => {
    const p = player("xpinprice");
    znet.addRule({ playerId: p, placeReply: "8|Yetersiz bakiye" });
    xstor.addRule({ playerId: p, placeReply: { status: "OK", data: { status: "success", pin: "SECRET-PIN", price: "abc" } } });
    const order = created(p);
    await bed.publisher.publish(order);
    const review = await waitForEvent(bed.jsm, order.orderId, "ReviewRequired", 20_000);
    assert.match(review.data.message, /without a readable price/);
    assert.ok(!JSON.stringify(review).includes("SECRET"), review.data.message);
    const row = await bed.pool.query("SELECT * FROM dispatch WHERE order_id = $1", [order.orderId]);
    assert.equal(row.rowCount, 1);
    assert.match(String(row.rows[0].place_error), /without a readable price/);
    assert.ok(!JSON.stringify(row.rows[0]).includes("SECRET"), JSON.stringify(row.rows[0]));
  });

  it("x-stor after a fallback: a timeout with nothing recorded → same order_uuid placed again only after two not-found checks", async () => {
    const p = player("xhang");
    znet.addRule({ playerId: p, placeReply: "8|Yetersiz bakiye" });
    xstor.addRule({ playerId: p, placeFault: "hang" });
    const order = created(p);
    await bed.publisher.publish(order);
    const reference = await eventually(async () => {
      const row = await bed.dispatcher.store.get(order.orderId);
      assert.ok(row?.state === "unknown" && row.provider === "xstor", `row is ${row?.state}`);
      return row.reference;
    }, 10_000);
    xstor.addRule({ playerId: p }); // x-stor answers normally from now on
    const sent = await waitForEvent(bed.jsm, order.orderId, "OrderSent");
    assert.equal(sent.data.provider, "xstor");
    assert.equal(sent.data.reference, reference, "the same order_uuid on every attempt at this offer");
    assert.equal(xstor.placements(reference), 1);
    assert.ok(xstor.placeCalls(reference) >= 2);
    assert.ok(xstor.checkedIds(reference) >= 2, "asked about by order_uuid before placing again");
    assert.equal(znetCallsFor(p).length, 1, "never back to znet");
  });

  it("no fallback after ambiguity: znet times out, does not know the reference, then refuses the re-placement (a duplicate in other words) → review, x-stor never called", async () => {
    const p = player("ambrefuse");
    znet.addRule({ playerId: p, placeFault: "hang" });
    const order = created(p);
    await bed.publisher.publish(order);
    const reference = await eventually(async () => {
      const row = await bed.dispatcher.store.get(order.orderId);
      assert.ok(row?.state === "unknown", `row is ${row?.state}`);
      return row.reference;
    }, 10_000);
    // From now on znet refuses this player's placements; a duplicate-reference reply in words the parser does not map.
    znet.addRule({ playerId: p, placeReply: "3|Bu referans ile daha önce işlem yapılmıştır" });
    const review = await waitForEvent(bed.jsm, order.orderId, "ReviewRequired", 20_000);
    assert.equal(review.data.stage, "dispatch");
    assert.equal(review.data.provider, "znet");
    assert.equal(review.data.reference, reference);
    assert.match(review.data.message, /daha önce işlem yapılmıştır/);
    assert.equal(znet.placeCalls(reference), 2, "the first request and one re-place after two not-found checks");
    assert.deepEqual(xstorCallsFor(p), [], "never routed to x-stor after an ambiguous outcome");
    // (The timeout opened znet's circuit here, so the order may also show a DispatchHeld(circuit_open) while it waited.)
    const { DispatchHeld: _held, ...counts } = await eventCounts(bed.jsm, order.orderId);
    assert.deepEqual(counts, { OrderCreated: 1, ReviewRequired: 1 });
  });

  it("an x-stor reply under an unknown status word is never taken as done or failed", async () => {
    const p = player("xodd");
    znet.addRule({ playerId: p, placeReply: "8|Yetersiz bakiye" });
    xstor.addRule({ playerId: p, outcome: "unknown-word", completeAfterMs: 0, placeFault: "drop-after-accept", checkCarriesUuid: true });
    const order = created(p);
    await bed.publisher.publish(order);
    // The check finds the order under "on_hold"/"Partial"/"refunding": unknown → still asking, then review.
    const review = await waitForEvent(bed.jsm, order.orderId, "ReviewRequired", 20_000);
    assert.equal(review.data.provider, "xstor");
    assert.match(review.data.message, /unknown status/);
    const reference = review.data.reference ?? "";
    assert.equal(xstor.placements(reference), 1);
    assert.equal(xstor.placeCalls(reference), 1, "never placed again while the order exists");
    assert.deepEqual(await eventCounts(bed.jsm, order.orderId), { OrderCreated: 1, ReviewRequired: 1 });
  });

  it("a paused provider gets no calls: the order waits (not failed) and goes through once resumed", async () => {
    assert.equal(await gate.setPaused("znet", true), true);
    const p = player("paused");
    const order = created(p);
    try {
      await bed.publisher.publish(order);
      await eventually(async () => {
        const row = await bed.dispatcher.store.get(order.orderId);
        assert.equal(row?.state, "ready", "reference stored, no request sent");
        assert.match(await registry.getSingleMetricAsString("pinflow_provider_calls_held_total"), /provider="znet",reason="paused"\} [1-9]/);
      }, 10_000);
      assert.deepEqual(znetCallsFor(p), []);
      assert.deepEqual(xstorCallsFor(p), [], "a paused provider is not a refusal: no fallback");
    } finally {
      await gate.setPaused("znet", false);
    }
    const sent = await waitForEvent(bed.jsm, order.orderId, "OrderSent", 20_000);
    assert.equal(sent.data.provider, "znet");
    assert.equal(znet.placements(sent.data.reference), 1);
  });

  it("an unclear call opens znet's circuit: orders wait for the cool-down, none fails, none goes elsewhere", async () => {
    const bad = player("http500");
    znet.addRule({ playerId: bad, placeFault: "http500" });
    const first = created(bad);
    const second = created(player("behind"));
    await bed.publisher.publish(first);
    await bed.publisher.publish(second);
    await eventually(async () => {
      assert.match(await registry.getSingleMetricAsString("pinflow_provider_calls_held_total"), /provider="znet",reason="circuit_open"\} [1-9]/);
    }, 10_000);
    znet.addRule({ playerId: bad }); // znet recovers
    const sentSecond = await waitForEvent(bed.jsm, second.orderId, "OrderSent", 20_000);
    assert.equal(sentSecond.data.provider, "znet");
    const sentFirst = await waitForEvent(bed.jsm, first.orderId, "OrderSent", 20_000);
    assert.equal(sentFirst.data.provider, "znet", "an ambiguous outcome is reconciled at znet, never routed to x-stor");
    assert.equal(znet.placements(sentFirst.data.reference), 1);
    assert.deepEqual(xstorCallsFor(bad), []);
    assert.equal((await gate.status("znet"))?.circuitOpenForMs, 0);
  });

  it("znet shuts us out (empty body) and its circuit opens: a new order waits, never sent elsewhere, and shows provider_shut_out; let in again, both go through", async () => {
    const first = created(player("locked"));
    const second = created(player("behindlock"));
    znet.denyAccess(true);
    try {
      await bed.publisher.publish(first);
      const heldFirst = await waitForEvent(bed.jsm, first.orderId, "DispatchHeld");
      assert.equal(heldFirst.data.reasonCode, "provider_shut_out");
      // The empty body opened znet's circuit (threshold 1 here): the next order is held by the gate, no call at all.
      await bed.publisher.publish(second);
      const heldSecond = await waitForEvent(bed.jsm, second.orderId, "DispatchHeld");
      assert.equal(heldSecond.data.reasonCode, "provider_shut_out", "the circuit is open because znet shuts us out");
      assert.match(heldSecond.data.message, /znet shuts us out/);
      assert.equal((await bed.dispatcher.store.get(second.orderId))?.state, "ready");
      assert.deepEqual(xstorCallsFor(second.data.playerId), [], "a hold is not a refusal: never routed to x-stor");
    } finally {
      znet.denyAccess(false);
    }
    const sentSecond = await waitForEvent(bed.jsm, second.orderId, "OrderSent", 20_000);
    const sentFirst = await waitForEvent(bed.jsm, first.orderId, "OrderSent", 20_000);
    assert.deepEqual([sentFirst.data.provider, sentSecond.data.provider], ["znet", "znet"]);
    assert.equal(znet.placements(sentFirst.data.reference), 1);
    assert.equal(znet.placements(sentSecond.data.reference), 1);
    assert.equal(await bed.dispatcher.store.providerAccess("znet"), null);
    assert.equal((await eventCounts(bed.jsm, second.orderId))["DispatchHeld"], 1, "shown once, not on every retry");
  });

  it("balances are read under the limits, and the gauge shows them", async () => {
    const z = await bed.dispatcher.balances.read("znet");
    const x = await bed.dispatcher.balances.read("xstor");
    assert.equal(z?.kind, "ok");
    assert.equal(x?.kind, "ok");
    const gauge = await registry.getSingleMetricAsString("pinflow_provider_balance");
    assert.match(gauge, /pinflow_provider_balance\{provider="znet"\} \d+/);
    assert.match(gauge, /pinflow_provider_balance\{provider="xstor"\} \d+/);
  });
});
