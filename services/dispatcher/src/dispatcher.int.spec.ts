/**
 * The dispatcher against REAL PostgreSQL, a private nats-server and the znet simulator: the real
 * handler, work consumer and outbox relay run in-process. Events are read back from the stream.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { describe, it } from "node:test";
import { ZnetClient } from "@pinflow/providers";
import { ZnetSimulator } from "@pinflow/test/simulators/znet";
import { eventually } from "@pinflow/testkit";
import { Registry } from "prom-client";
import { readCatalogFile } from "./catalog.js";
import { DEFAULT_POLICY, type DispatchRow } from "./dispatch.js";
import type { DispatchStore } from "./dispatch-store.js";
import { OPEN_GATE, type CallGate } from "./gate.js";
import { providerRegistry, ZnetProvider } from "./providers.js";
import { CATALOG, created, eventCounts, importCatalogs, logger, player, useDispatcherBed, waitForEvent, TEST_NAMES } from "./dispatcher.test-harness.js";
import { CONSUMER, createDispatcher } from "./runtime.js";

const CODE = "5550001111";
const PASSWORD = "sim-Şifre&1";
const CLIENT_TIMEOUT_MS = 1_000;
const MAX_TRIES = 5;

const sim = new ZnetSimulator({ code: CODE, password: PASSWORD, completeAfterMs: 600_000, balance: 100_000 });
const registry = new Registry();

/** Orders whose next `n` row updates fail (the database "goes down" right after a provider call). */
const failWrites = new Map<string, number>();

function faulty(store: DispatchStore): DispatchStore {
  return {
    get: (orderId) => store.get(orderId),
    insert: (row, events) => store.insert(row, events),
    offers: (packageId) => store.offers(packageId),
    hasUnpublishedEvents: (orderId) => store.hasUnpublishedEvents(orderId),
    seedRoutes: (catalog) => store.seedRoutes(catalog),
    recordAccess: (provider, denied, at) => store.recordAccess(provider, denied, at),
    providerAccess: (provider) => store.providerAccess(provider),
    update: async (row, events) => {
      const left = failWrites.get(row.orderId) ?? 0;
      // The claim before a provider call (placing, lease taken) goes through: the writes after the call fail.
      const claim = row.state === "placing" && row.leaseUntil !== null;
      if (left > 0 && !claim) {
        failWrites.set(row.orderId, left - 1);
        throw new Error("simulated database outage");
      }
      return store.update(row, events);
    },
  };
}

/** Calls the provider's limits hold back (busy) before one goes through: the order waits, it never fails for this. */
let holdNext = 0;
const holdingGate: CallGate = {
  acquire: async (provider, maxWaitMs) => {
    if (holdNext <= 0) return OPEN_GATE.acquire(provider, maxWaitMs);
    holdNext--;
    return { kind: "blocked", reason: "busy", retryAfterMs: 10 };
  },
  release: (permit, outcome) => OPEN_GATE.release(permit, outcome),
};

const bed = useDispatcherBed({
  natsName: "dispatcher-test",
  dbPrefix: "dispatcher",
  simulators: [sim],
  dispatcher: async ({ pool, nc, urls: [baseUrl] }) => {
    const client = new ZnetClient({ baseUrl: baseUrl!, code: CODE, password: PASSWORD, timeoutMs: CLIENT_TIMEOUT_MS });
    await importCatalogs(pool, readCatalogFile(CATALOG), { znet: client });
    return createDispatcher({
      pool,
      nc,
      names: TEST_NAMES,
      providers: providerRegistry([new ZnetProvider(client)]),
      catalog: readCatalogFile(CATALOG),
      pins: { seal: () => assert.fail("znet never delivers a PIN in its place reply") },
      logger,
      registry,
      ackWaitMs: 30_000,
      batch: 5,
      relayIntervalMs: 100,
      wrapStore: faulty,
      gate: holdingGate,
      policy: {
        ...DEFAULT_POLICY,
        maxReconcileTries: MAX_TRIES,
        notFoundBeforeReplace: 2,
        retryBaseMs: 100,
        retryMaxMs: 400,
        leaseMs: CLIENT_TIMEOUT_MS + 500,
        maxPlaceCalls: 2,
      },
    });
  },
});

/** Every OrderCreated published so far was handled and acknowledged. */
async function consumerIdle(): Promise<void> {
  await eventually(async () => {
    const ci = await bed.jsm.consumers.info(TEST_NAMES.stream, TEST_NAMES.durable(CONSUMER));
    assert.equal(ci.num_pending, 0, "pending");
    assert.equal(ci.num_ack_pending, 0, "ack pending");
  }, 15_000);
}

async function row(orderId: string): Promise<DispatchRow | null> {
  return bed.dispatcher.store.get(orderId);
}

/** The simulator's request log reduced to this reference's calls, in order: "place" | "check". */
function callsFor(reference: string): string[] {
  return sim
    .requestLog()
    .filter((line) => line.includes(`=${reference}`))
    .map((line) => (line.includes("pin_ekle") ? "place" : line.includes("pin_kontrol") ? "check" : "other"));
}

/** I1: after the first place request, every further one follows at least two checks that found nothing. */
function assertNoBlindReplace(reference: string): void {
  const calls = callsFor(reference);
  let checksSincePlace = Infinity;
  for (const call of calls) {
    if (call === "place") {
      assert.ok(checksSincePlace >= 2, `place request without two checks before it: ${calls.join(",")}`);
      checksSincePlace = 0;
    } else if (call === "check") checksSincePlace++;
  }
}

describe("dispatcher (PostgreSQL + NATS + znet simulator)", () => {
  it("(a) a normal order is placed once and OrderSent carries cost, balance and the reference", async () => {
    const order = created(player("ok"), "pubg-60", "+90 532 123 45 67");
    await bed.publisher.publish(order);
    const sent = await waitForEvent(bed.jsm, order.orderId, "OrderSent");
    assert.equal(sent.data.provider, "znet");
    assert.equal(sent.data.packageId, "pubg-60");
    assert.match(sent.data.reference, /^\d{18}$/);
    assert.equal(sent.data.cost, "10.12");
    assert.match(sent.data.balance ?? "", /^\d+\.\d\d$/);
    assert.equal(sent.data.providerOrderId, null);
    assert.equal(sent.causationId, order.id);
    assert.equal(sent.correlationId, order.correlationId);
    assert.equal(sim.placements(sent.data.reference), 1);
    assert.equal(sim.placeCalls(sent.data.reference), 1);
    assert.equal(sim.order(sent.data.reference)?.phone, "+905321234567");
    const r = await row(order.orderId);
    assert.equal(r?.state, "sent");
    assert.equal(r?.state === "sent" && r.reference, sent.data.reference);
    assert.deepEqual(await eventCounts(bed.jsm, order.orderId), { OrderCreated: 1, OrderSent: 1 });
    const metrics = await registry.getSingleMetricAsString("pinflow_dispatch_total");
    assert.match(metrics, /pinflow_dispatch_total\{provider="znet",outcome="accepted"\} [1-9]/);
    assert.ok(!(await registry.metrics()).includes(PASSWORD));
  });

  it("(b) a refusal becomes DispatchFailed with the mapped reason code; nothing is charged", async () => {
    const p = player("refuse");
    sim.addRule({ playerId: p, placeReply: "3|Oyuncu bulunamadı" });
    const order = created(p);
    await bed.publisher.publish(order);
    const failed = await waitForEvent(bed.jsm, order.orderId, "DispatchFailed");
    assert.deepEqual(failed.data, { reasonCode: "invalid_player", provider: "znet", providerCode: "3", message: "Oyuncu bulunamadı" });
    const r = await row(order.orderId);
    assert.equal(r?.state, "refused");
    if (r?.state !== "refused") return;
    assert.equal(sim.placeCalls(r.reference), 1);
    assert.equal(sim.placements(r.reference), 0);
    assert.deepEqual(await eventCounts(bed.jsm, order.orderId), { OrderCreated: 1, DispatchFailed: 1 });
  });

  it("(c) drop-after-accept: the ambiguous call is reconciled, OrderSent without cost, one place call", async () => {
    const p = player("drop");
    sim.addRule({ playerId: p, placeFault: "drop-after-accept" });
    const order = created(p);
    await bed.publisher.publish(order);
    const sent = await waitForEvent(bed.jsm, order.orderId, "OrderSent");
    assert.equal(sent.data.cost, null);
    assert.equal(sent.data.balance, null);
    assert.equal(sim.placeCalls(sent.data.reference), 1);
    assert.equal(sim.placements(sent.data.reference), 1);
    assert.ok(sim.checkCalls(sent.data.reference) >= 1);
    assert.deepEqual(await eventCounts(bed.jsm, order.orderId), { OrderCreated: 1, OrderSent: 1 });
  });

  it("(d) slow acceptance past the client timeout: no second place call while the order exists", async () => {
    const p = player("slow");
    sim.addRule({ playerId: p, placeFault: "slow-accept", slowMs: CLIENT_TIMEOUT_MS * 3 });
    const order = created(p);
    await bed.publisher.publish(order);
    const sent = await waitForEvent(bed.jsm, order.orderId, "OrderSent");
    assert.equal(sent.data.cost, null, "learnt by reconciling");
    assert.equal(sim.placeCalls(sent.data.reference), 1);
    assert.equal(sim.placements(sent.data.reference), 1);
  });

  it("(d) hang: timeout → unknown; placed again (same reference) only after two not-found checks", async () => {
    const p = player("hang");
    sim.addRule({ playerId: p, placeFault: "hang" });
    const order = created(p);
    await bed.publisher.publish(order);
    // The hanging request times out; the row is left `unknown` with its reference.
    const reference = await eventually(async () => {
      const r = await row(order.orderId);
      assert.equal(r?.state, "unknown");
      return r?.state === "unknown" ? r.reference : "";
    }, 10_000);
    sim.addRule({ playerId: p }); // znet answers normally from now on (the newest rule wins)
    const sent = await waitForEvent(bed.jsm, order.orderId, "OrderSent");
    assert.equal(sent.data.reference, reference, "never a new reference");
    assert.equal(sim.placements(reference), 1);
    assert.ok(sim.placeCalls(reference) >= 2);
    assert.ok(sim.checkCalls(reference) >= 2);
    assertNoBlindReplace(reference);
    assert.deepEqual(await eventCounts(bed.jsm, order.orderId), { OrderCreated: 1, OrderSent: 1 });
  });

  it("(e) the same OrderCreated delivered twice → exactly one place call and one OrderSent", async () => {
    const order = created(player("twice"));
    await bed.publisher.publish(order);
    await bed.publisher.publish(order); // deduplicated by msgID
    await bed.publisher.publish(order, { msgId: `replay:${order.orderId}` }); // stored again: a real second delivery
    const sent = await waitForEvent(bed.jsm, order.orderId, "OrderSent");
    await consumerIdle();
    assert.equal(sim.placeCalls(sent.data.reference), 1);
    assert.equal(sim.placements(sent.data.reference), 1);
    assert.deepEqual(await eventCounts(bed.jsm, order.orderId), { OrderCreated: 2, OrderSent: 1 });
  });

  it("(e) redelivery after a crash between the place call and the commit → reconciled, one place call", async () => {
    const order = created(player("crash"));
    failWrites.set(order.orderId, 2); // the commit after the call fails, and so does releasing the row
    await bed.publisher.publish(order);
    const sent = await waitForEvent(bed.jsm, order.orderId, "OrderSent");
    assert.equal(failWrites.get(order.orderId), 0);
    assert.equal(sent.data.cost, null, "the acceptance was lost with the crash and learnt by reconciling");
    assert.equal(sim.placeCalls(sent.data.reference), 1);
    assert.equal(sim.placements(sent.data.reference), 1);
    const r = await row(order.orderId);
    assert.equal(r?.state, "sent");
    assert.ok(r !== null && r.attempt >= 2);
  });

  it("(f) an unknown package → DispatchFailed(no_route), no provider call", async () => {
    const before = sim.requestLog().length;
    const order = created(player("noroute"), "no-such-package");
    await bed.publisher.publish(order);
    const failed = await waitForEvent(bed.jsm, order.orderId, "DispatchFailed");
    assert.equal(failed.data.reasonCode, "no_route");
    assert.equal(failed.data.provider, null);
    assert.equal(failed.data.providerCode, null);
    assert.match(failed.data.message, /no-such-package/);
    assert.equal((await row(order.orderId))?.state, "unrouted");
    assert.ok(!sim.requestLog().slice(before).some((l) => l.includes(order.data.playerId)));
  });

  it("(g) the order exists but every check is unclear → ReviewRequired with evidence, still one place call", async () => {
    const p = player("garbled");
    sim.addRule({ playerId: p, placeFault: "drop-after-accept", checkFault: "garbage" });
    const order = created(p);
    await bed.publisher.publish(order);
    const review = await waitForEvent(bed.jsm, order.orderId, "ReviewRequired", 20_000);
    assert.equal(review.data.stage, "dispatch");
    assert.equal(review.data.reason, "placement_unknown");
    assert.equal(review.data.provider, "znet");
    const reference = review.data.reference ?? "";
    assert.match(reference, /^\d{18}$/);
    assert.match(review.data.message, /unparseable reply/);
    assert.ok(!review.data.message.includes(PASSWORD) && !review.data.message.includes(encodeURIComponent(PASSWORD)));
    assert.equal(sim.placeCalls(reference), 1);
    assert.equal(sim.checkCalls(reference), MAX_TRIES);
    assert.deepEqual(await eventCounts(bed.jsm, order.orderId), { OrderCreated: 1, ReviewRequired: 1 });
  });

  it("a malformed OrderCreated is dead-lettered (recorded, counted, terminated) with its order in review, and the consumer goes on", async () => {
    const orderId = `o-${randomUUID()}`;
    const js = (await import("@nats-io/jetstream")).jetstream(bed.nc);
    const bad = await js.publish(TEST_NAMES.orderEvent(orderId, "OrderCreated"), new TextEncoder().encode("{not json"));
    const order = created(player("after-bad"));
    await bed.publisher.publish(order);
    await waitForEvent(bed.jsm, order.orderId, "OrderSent");
    await consumerIdle();
    const rejected = await registry.getSingleMetricAsString("pinflow_events_rejected_total");
    assert.match(rejected, /pinflow_events_rejected_total\{reason="not UTF-8 JSON"\} 1/);
    assert.equal(await row(orderId), null);
    const page = await bed.dispatcher.deadLetters.list({ limit: 50 });
    const letter = page.deadLetters.find((l) => l.seq === bad.seq);
    assert.deepEqual(
      { consumer: letter?.consumer, kind: letter?.kind, orderId: letter?.orderId, eventType: letter?.eventType, raw: letter?.raw },
      { consumer: TEST_NAMES.durable(CONSUMER), kind: "malformed", orderId, eventType: "OrderCreated", raw: "{not json" },
    );
    const review = await waitForEvent(bed.jsm, orderId, "ReviewRequired");
    assert.equal(review.data.reason as string, "unprocessable_event");
    assert.match(await registry.getSingleMetricAsString("pinflow_dead_letters_total"), /pinflow_dead_letters_total\{consumer="test-dispatcher",kind="malformed"\} 1/);
  });

  it("a long legitimate wait is not dead-lettered: held back by the provider's limits for more deliveries than the failure bound, the order is then placed once", async () => {
    holdNext = 12; // > the consumer's 5 failures
    const order = created(player("held"));
    await bed.publisher.publish(order);
    const sent = await waitForEvent(bed.jsm, order.orderId, "OrderSent", 20_000);
    assert.equal(holdNext, 0, "every held delivery came back");
    assert.equal(sim.placeCalls(sent.data.reference), 1);
    const letters = await bed.pool.query("SELECT 1 FROM dead_letter WHERE order_id = $1", [order.orderId]);
    assert.equal(letters.rowCount, 0);
    await consumerIdle();
    assert.deepEqual(await eventCounts(bed.jsm, order.orderId), { OrderCreated: 1, OrderSent: 1 });
  });

  it("an OrderCreated whose playerId holds NUL (the database refuses it) is dead-lettered after bounded failures, its order goes to review (its tenant kept), later orders flow", async () => {
    const poison = { ...created("a\u0000b"), tenantId: "shop-nul" };
    await bed.publisher.publish(poison);
    const order = created(player("after-nul"));
    await bed.publisher.publish(order);
    await waitForEvent(bed.jsm, order.orderId, "OrderSent");
    const review = await waitForEvent(bed.jsm, poison.orderId, "ReviewRequired", 30_000);
    assert.equal(review.data.stage, "dispatch");
    assert.equal(review.data.reason as string, "unprocessable_event");
    assert.equal(review.tenantId, "shop-nul", "the order's tenant is on its review");
    await consumerIdle();
    const letters = await bed.pool.query<{ order_id: string; event_type: string; error: string }>(
      "SELECT order_id, event_type, error FROM dead_letter WHERE order_id = $1",
      [poison.orderId],
    );
    assert.equal(letters.rows.length, 1);
    assert.equal(letters.rows[0]!.event_type, "OrderCreated");
    assert.match(letters.rows[0]!.error, /0x00|invalid byte sequence/);
    assert.match(await registry.getSingleMetricAsString("pinflow_dead_letters_total"), /pinflow_dead_letters_total\{consumer="test-dispatcher",kind="failed"\} 1/);
  });
});
