/**
 * The dispatcher's money-safety rules against REAL PostgreSQL, a private nats-server, the shared
 * ProviderGate and both simulators. The dispatcher's clock runs ahead on demand (`skip`), and every
 * step that is due is driven by a real second delivery of the OrderCreated, so each test decides
 * exactly when the handler runs: the stored spacing of reconciles, the place bound, holds and the
 * dispatch deadline are seen one step at a time.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { EventOf } from "@pinflow/contracts";
import { ProviderGate, type ProviderLimits } from "@pinflow/limits";
import { XstorClient, ZnetClient } from "@pinflow/providers";
import { XstorSimulator } from "@pinflow/test/simulators/xstor";
import { ZnetSimulator } from "@pinflow/test/simulators/znet";
import { generatePinKeyring, PinCipher } from "@pinflow/secrets";
import { readOrderHistory } from "@pinflow/bus";
import { eventually } from "@pinflow/testkit";
import { Registry } from "prom-client";
import { readCatalogFile } from "./catalog.js";
import { DEFAULT_POLICY, type DispatchPolicy, type DispatchRow } from "./dispatch.js";
import { CATALOG, created, eventCounts, importCatalogs, logger, player, useDispatcherBed, waitForEvent, TEST_NAMES } from "./dispatcher.test-harness.js";
import { providerRegistry, XstorProvider, ZnetProvider } from "./providers.js";
import { createDispatcher } from "./runtime.js";
import { foldDispatch } from "./dispatch-fold.js";
import { rowFacts } from "./row-facts.test-harness.js";

const CODE = "5550007777";
const PASSWORD = "safety-Şifre&7";
const TOKEN = "safety-xstor-token";
const CLIENT_TIMEOUT_MS = 1_000;
const SPACING_MS = 60_000;
const DEADLINE_MS = 30 * 60_000;

const znet = new ZnetSimulator({ code: CODE, password: PASSWORD, completeAfterMs: 600_000, balance: 100_000 });
const xstor = new XstorSimulator({ token: TOKEN, completeAfterMs: 600_000, balance: 100_000 });
const registry = new Registry();
let gate: ProviderGate;

/** How far the dispatcher's clock runs ahead of the real one. */
let skew = 0;
let lastReading = 0;
/** The dispatcher's clock: real time plus `skew`, a millisecond on at least at every reading (so two readings never agree by chance). */
const clock = (): Date => {
  lastReading = Math.max(Date.now() + skew, lastReading + 1);
  return new Date(lastReading);
};
/** Let `ms` pass for the dispatcher (its stored due times come closer; the broker's timers do not move). */
const skip = (ms: number): void => {
  skew += ms;
};

const limits = (threshold: number): ProviderLimits => ({
  ratePerSec: 500,
  burst: 500,
  concurrency: 4,
  slotLeaseMs: 10_000,
  circuit: { threshold, cooldownMs: 600_000, maxCooldownMs: 600_000 },
});

const policy: DispatchPolicy = {
  ...DEFAULT_POLICY,
  maxReconcileTries: 8,
  notFoundBeforeReplace: 2,
  retryBaseMs: SPACING_MS,
  retryMaxMs: SPACING_MS,
  leaseMs: CLIENT_TIMEOUT_MS + 500,
  maxPlaceCalls: 2,
  dispatchDeadlineMs: DEADLINE_MS,
};

const pins = new PinCipher(generatePinKeyring());

const bed = useDispatcherBed({
  natsName: "dispatcher-safety-test",
  dbPrefix: "dispatcher_safety",
  simulators: [znet, xstor],
  dispatcher: async ({ pool, nc, urls: [znetUrl, xstorUrl] }) => {
    gate = new ProviderGate(pool, { znet: limits(50), xstor: limits(50) });
    await gate.ensure();
    const znetClient = new ZnetClient({ baseUrl: znetUrl!, code: CODE, password: PASSWORD, timeoutMs: CLIENT_TIMEOUT_MS });
    const xstorClient = new XstorClient({ baseUrl: xstorUrl!, token: TOKEN, timeoutMs: CLIENT_TIMEOUT_MS });
    await importCatalogs(pool, readCatalogFile(CATALOG), { znet: znetClient, xstor: xstorClient });
    return createDispatcher({
      pool,
      nc,
      names: TEST_NAMES,
      pins,
      providers: providerRegistry([new ZnetProvider(znetClient), new XstorProvider(xstorClient)]),
      catalog: readCatalogFile(CATALOG),
      logger,
      registry,
      gate,
      gateWaitMs: 200,
      ackWaitMs: 30_000,
      batch: 5,
      relayIntervalMs: 100,
      clock,
      policy,
    });
  },
});

let deliveries = 0;
/** A real second delivery of the same OrderCreated (stored again under another msgID). */
async function deliverAgain(order: EventOf<"OrderCreated">): Promise<void> {
  await bed.publisher.publish(order, { msgId: `again-${++deliveries}:${order.orderId}` });
}

async function row(orderId: string): Promise<DispatchRow | null> {
  return bed.dispatcher.store.get(orderId);
}

/** The order's row as a rebuild folds it from the stream (once the outbox has relayed what the live row committed). */
async function assertRebuiltIsLive(orderId: string): Promise<void> {
  await eventually(async () => {
    const history = (await readOrderHistory(bed.nc, TEST_NAMES, orderId)).flatMap((m) => (m.ok ? [m.event] : []));
    assert.deepEqual(rowFacts(foldDispatch(history, policy).row), rowFacts(await row(orderId)), "the rebuilt row is the live one");
  }, 10_000);
}

/** The value of pinflow_dispatch_total for one provider and outcome. */
async function dispatched(provider: string, outcome: string): Promise<number> {
  const m = (await registry.getMetricsAsJSON()).find((x) => x.name === "pinflow_dispatch_total");
  const v = m?.values.find((x) => x.labels["provider"] === provider && x.labels["outcome"] === outcome);
  return Number(v?.value ?? 0);
}

/** Place hangs at znet (nothing recorded): the row is `unknown` with its reference. */
async function hungAtZnet(tag: string): Promise<{ order: EventOf<"OrderCreated">; p: string; reference: string }> {
  const p = player(tag);
  znet.addRule({ playerId: p, placeFault: "hang" });
  const order = created(p);
  await bed.publisher.publish(order);
  const reference = await eventually(async () => {
    const r = await row(order.orderId);
    assert.ok(r?.state === "unknown", `row is ${r?.state}`);
    return r.reference;
  }, 10_000);
  return { order, p, reference };
}

describe("dispatch money safety (PostgreSQL + NATS + gate + znet and x-stor simulators)", () => {
  it("a duplicate delivery before the stored next reconcile time waits: no pin_kontrol call until it is due", async () => {
    const { order, reference } = await hungAtZnet("spaced");
    const r = await row(order.orderId);
    assert.ok(r?.state === "unknown" && r.nextTryAt !== null && r.nextTryAt.getTime() > clock().getTime() + SPACING_MS / 2);
    const before = await dispatched("znet", "not_due");
    for (let i = 0; i < 3; i++) await deliverAgain(order);
    await eventually(async () => assert.ok((await dispatched("znet", "not_due")) >= before + 3), 10_000);
    assert.equal(znet.checkCalls(reference), 0, "no check before the stored time");
    assert.equal(znet.placeCalls(reference), 1);

    skip(SPACING_MS);
    await deliverAgain(order);
    await eventually(() => assert.equal(znet.checkCalls(reference), 1), 10_000);
    assert.equal(znet.placeCalls(reference), 1, "one not-found answer is no proof yet");
    // No outcome yet: only the attempt's facts (one request started, its answer, one check's answer).
    // (the check's answer is appended right after the check request: wait for it)
    await eventually(
      async () =>
        assert.deepEqual(await eventCounts(bed.jsm, order.orderId, { attemptFacts: true }), { OrderCreated: 5, PlacementStarted: 1, PlacementAnswered: 1, ReconcileAnswered: 1 }),
      10_000,
    );
  });

  it("an imported price older than the configured age is not placed: the order goes to the next offer with a known price", async () => {
    // znet's Free Fire price was imported 8 days ago (the guard's age is 7 days); x-stor's is fresh.
    await bed.pool.query("UPDATE provider_product SET imported_at = now() - interval '8 days' WHERE provider = 'znet' AND product_id = '3'");
    try {
      const p = player("stale");
      const order = created(p, "freefire-100", "EU");
      await bed.publisher.publish(order);
      const sent = await waitForEvent(bed.jsm, order.orderId, "OrderSent");
      assert.equal(sent.data.provider, "xstor");
      assert.equal(znet.requestLog().filter((l) => l.includes(p)).length, 0, "znet never called at an unknown price");
      const r = await row(order.orderId);
      assert.deepEqual(r?.history.map((h) => [h.provider, h.reasonCode, h.reference]), [["znet", "price_unknown", null]]);
      assert.match(r?.history[0]?.message ?? "", /znet price 18\.75 was imported at .* \(older than 7d\); not placed/);
    } finally {
      await bed.pool.query("UPDATE provider_product SET imported_at = now() WHERE provider = 'znet' AND product_id = '3'");
    }
  });

  it("an accepted cost above maxCost is a fact on OrderSent (maxCost, costAboveMaximum) and counted", async () => {
    // The imported price (9.50) was under the maximum (10.00); znet now charges 10.12 for the same product.
    await bed.pool.query(
      `INSERT INTO provider_product (provider, product_id, name, price, product_code, available, details, imported_at)
       VALUES ('znet', 'old-1', 'PUBG Mobile 60 UC (old list)', '9.50', '{"oyun":"101","kupur":"60"}', true, '{}', now())`,
    );
    await bed.pool.query(
      "INSERT INTO route (package_id, rank, provider, product_code, provider_product_id, max_cost) VALUES ('pubg-60-raised', 0, 'znet', '{}', 'old-1', 10.00)",
    );
    const order = created(player("raised"), "pubg-60-raised");
    await bed.publisher.publish(order);
    const sent = await waitForEvent(bed.jsm, order.orderId, "OrderSent");
    assert.equal(sent.data.cost, "10.12");
    assert.equal(sent.data.maxCost, "10.00");
    assert.equal(sent.data.costAboveMaximum, true);
    assert.match(await registry.getSingleMetricAsString("pinflow_cost_above_maximum_total"), /pinflow_cost_above_maximum_total\{provider="znet"\} 1/);
    const normal = created(player("fair"));
    await bed.publisher.publish(normal);
    const fair = await waitForEvent(bed.jsm, normal.orderId, "OrderSent");
    assert.deepEqual([fair.data.cost, fair.data.maxCost, fair.data.costAboveMaximum], ["10.12", "12.00", false]);
  });
  it("a paused provider: the waiting order shows DispatchHeld(provider_paused) once, not per retry; at the dispatch deadline it goes to review with that reason, never called", async () => {
    assert.equal(await gate.setPaused("znet", true), true);
    const p = player("paused");
    const order = created(p);
    try {
      await bed.publisher.publish(order);
      const held = await waitForEvent(bed.jsm, order.orderId, "DispatchHeld");
      assert.equal(held.data.provider, "znet");
      assert.equal(held.data.reasonCode, "provider_paused");
      assert.match(held.data.message, /znet calls are paused by an operator; the order waits/);
      const r = await row(order.orderId);
      assert.ok(r?.state === "ready" && r.hold?.reason === "provider_paused");
      // One reading of the clock for the hold and its event: a rebuild (which takes `since` from the event) gives the same row.
      assert.equal(r.hold.since.toISOString(), held.occurredAt, "the hold's since is its DispatchHeld's time");
      assert.equal(held.data.deadline, new Date(r.createdAt.getTime() + DEADLINE_MS).toISOString());
      // More deliveries while still paused: no new event.
      const heldBefore = await dispatched("znet", "held");
      await deliverAgain(order);
      await deliverAgain(order);
      await eventually(async () => assert.ok((await dispatched("znet", "held")) >= heldBefore + 2), 10_000);
      assert.equal((await eventCounts(bed.jsm, order.orderId))["DispatchHeld"], 1);

      skip(DEADLINE_MS);
      await deliverAgain(order);
      const review = await waitForEvent(bed.jsm, order.orderId, "ReviewRequired");
      assert.deepEqual([review.data.stage, review.data.reason, review.data.provider, review.data.reference], ["dispatch", "deadline_exceeded", "znet", null]);
      assert.match(review.data.message, /not dispatched within 30m: znet calls are paused by an operator/);
      assert.match(review.data.message, /no place request was sent/);
      assert.equal((await row(order.orderId))?.state, "review");
    } finally {
      await gate.setPaused("znet", false);
    }
    assert.equal(znet.requestLog().filter((l) => l.includes(p)).length, 0, "znet never called");
    assert.equal(xstor.requestLog().filter((l) => l.includes(p)).length, 0, "a hold is not a refusal: no fallback");
    const counts = await eventCounts(bed.jsm, order.orderId);
    assert.deepEqual([counts["DispatchHeld"], counts["ReviewRequired"], counts["OrderSent"], counts["DispatchFailed"]], [1, 1, undefined, undefined]);
    assert.match(await registry.getSingleMetricAsString("pinflow_dispatch_held_total"), /provider="znet",reason="provider_paused"\} [1-9]/);
  });

  it("znet shuts us out (empty body): the order waits and shows why (DispatchHeld provider_shut_out), it is counted and kept for the provider's status; let in again, it is placed once", async () => {
    const p = player("shutout");
    const order = created(p);
    znet.denyAccess(true);
    let reference = "";
    try {
      await bed.publisher.publish(order);
      const held = await waitForEvent(bed.jsm, order.orderId, "DispatchHeld");
      assert.equal(held.data.reasonCode, "provider_shut_out");
      assert.match(held.data.message, /znet shuts us out: it answers with an empty body \(wrong code or password, API access off, or our IP not allowed\)/);
      const r = await row(order.orderId);
      assert.ok(r?.state === "unknown" && r.hold?.reason === "provider_shut_out");
      // The place answer and its hold are one decision, at one reading of the clock (found by the chaos run: 1 ms apart).
      await assertRebuiltIsLive(order.orderId);
      reference = r.reference;
      const access = await bed.dispatcher.store.providerAccess("znet");
      assert.match(access?.cause ?? "", /empty body/);
      assert.ok(!JSON.stringify(access).includes(PASSWORD));
      assert.match(await registry.getSingleMetricAsString("pinflow_provider_errors_total"), /provider="znet",kind="access_denied"\} [1-9]/);
      // The check gets an empty body too: the same reason, no second event.
      skip(SPACING_MS);
      await deliverAgain(order);
      await eventually(() => assert.equal(znet.checkCalls(reference), 1), 10_000);
      await eventually(async () => assert.equal((await row(order.orderId))?.version, r.version + 2), 10_000);
      assert.equal((await eventCounts(bed.jsm, order.orderId))["DispatchHeld"], 1);
    } finally {
      znet.denyAccess(false);
    }
    // Let in again: two "not found" answers (it was never recorded), then the one re-place.
    skip(SPACING_MS);
    await deliverAgain(order);
    await eventually(() => assert.equal(znet.checkCalls(reference), 2), 10_000);
    // The answer is committed (with its next check time) before the clock moves on.
    await eventually(async () => {
      const r = await row(order.orderId);
      assert.ok(r?.state === "unknown" && r.notFoundStreak === 1, `row after the first not-found: ${r?.state}`);
    }, 10_000);
    skip(SPACING_MS);
    await deliverAgain(order);
    await eventually(() => assert.equal(znet.checkCalls(reference), 3), 10_000);
    const sent = await waitForEvent(bed.jsm, order.orderId, "OrderSent");
    assert.equal(sent.data.reference, reference);
    assert.equal(znet.placements(reference), 1);
    assert.equal(znet.placeCalls(reference), 2);
    assert.equal(await bed.dispatcher.store.providerAccess("znet"), null, "a readable reply ends the shut-out");
    const done = await row(order.orderId);
    assert.equal(done?.state === "sent" && done.hold, null);
    await assertRebuiltIsLive(order.orderId);
  });
});
