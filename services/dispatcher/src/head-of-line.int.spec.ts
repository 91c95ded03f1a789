/**
 * No head-of-line blocking, against REAL PostgreSQL, a private nats-server and both simulators: the
 * dispatcher handles several OrderCreated at once, a provider whose placements hang takes only its
 * own slots (replica-slots.ts, the shared ProviderGate), and another provider's orders are sent
 * meanwhile. Two deliveries of one order handled at the same moment still place it once.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ProviderGate, type ProviderLimits } from "@pinflow/limits";
import { XstorClient, ZnetClient } from "@pinflow/providers";
import { generatePinKeyring, PinCipher } from "@pinflow/secrets";
import { XstorSimulator } from "@pinflow/test/simulators/xstor";
import { ZnetSimulator } from "@pinflow/test/simulators/znet";
import { eventually } from "@pinflow/testkit";
import { Registry } from "prom-client";
import { readCatalogFile, type Catalog } from "./catalog.js";
import { DEFAULT_POLICY } from "./dispatch.js";
import { CATALOG, created, eventCounts, importCatalogs, logger, player, TEST_NAMES, useDispatcherBed, waitForEvent } from "./dispatcher.test-harness.js";
import { providerRegistry, XstorProvider, ZnetProvider } from "./providers.js";
import { createDispatcher } from "./runtime.js";

const CODE = "5550007777";
const PASSWORD = "hol-Şifre&3";
const TOKEN = "hol-xstor-token";
/** znet's documented client timeout: a hanging placement holds its slot this long. */
const CLIENT_TIMEOUT_MS = 15_000;
const ZNET_SLOTS = 2;
const XSTOR_SLOTS = 4;

/** config/catalog.json plus a package sold only through x-stor (its orders never need a znet slot). */
function catalog(): Catalog {
  const base = readCatalogFile(CATALOG);
  const pubg = base.packages.find((p) => p.id === "pubg-60")!;
  return { packages: [...base.packages, { id: "xstor-pubg-60", name: "PUBG Mobile 60 UC (x-stor)", offers: pubg.offers.filter((o) => o.provider === "xstor") }] };
}

const znet = new ZnetSimulator({ code: CODE, password: PASSWORD, completeAfterMs: 600_000, balance: 100_000 });
const xstor = new XstorSimulator({ token: TOKEN, completeAfterMs: 600_000, balance: 100_000 });
const pins = new PinCipher(generatePinKeyring());

const limits = (concurrency: number): ProviderLimits => ({
  ratePerSec: 500,
  burst: 500,
  concurrency,
  slotLeaseMs: CLIENT_TIMEOUT_MS + 5_000,
  circuit: { threshold: 50, cooldownMs: 1_000, maxCooldownMs: 1_000 },
});

const bed = useDispatcherBed({
  natsName: "dispatcher-hol-test",
  dbPrefix: "dispatcher_hol",
  simulators: [znet, xstor],
  dispatcher: async ({ pool, nc, urls: [znetUrl, xstorUrl] }) => {
    const gate = new ProviderGate(pool, { znet: limits(ZNET_SLOTS), xstor: limits(XSTOR_SLOTS) });
    await gate.ensure();
    const znetClient = new ZnetClient({ baseUrl: znetUrl!, code: CODE, password: PASSWORD, timeoutMs: CLIENT_TIMEOUT_MS });
    const xstorClient = new XstorClient({ baseUrl: xstorUrl!, token: TOKEN, timeoutMs: CLIENT_TIMEOUT_MS });
    await importCatalogs(pool, catalog(), { znet: znetClient, xstor: xstorClient });
    const slots: Record<string, number> = { znet: ZNET_SLOTS, xstor: XSTOR_SLOTS };
    return createDispatcher({
      pool,
      nc,
      names: TEST_NAMES,
      providers: providerRegistry([new ZnetProvider(znetClient), new XstorProvider(xstorClient)]),
      catalog: catalog(),
      pins,
      logger,
      registry: new Registry(),
      gate,
      gateWaitMs: 500,
      providerSlots: (provider) => slots[provider],
      concurrency: 16,
      ackWaitMs: 30_000,
      batch: 5,
      relayIntervalMs: 100,
      policy: { ...DEFAULT_POLICY, retryBaseMs: 100, retryMaxMs: 400, leaseMs: CLIENT_TIMEOUT_MS + 2_000 },
    });
  },
});

/** pin_ekle requests that reached znet for these players. */
const znetPlacesFor = (players: string[]): number => znet.requestLog().filter((l) => l.includes("pin_ekle") && players.some((p) => l.includes(`oyuncu_bilgi=${p}`))).length;

describe("head-of-line: one provider stalls, the others go on (PostgreSQL + NATS + both simulators)", () => {
  it("two deliveries of one order handled at the same moment: one place request, one OrderSent (the row's lease and version)", async () => {
    const p = player("twice");
    xstor.addRule({ playerId: p, placeFault: "slow-accept", slowMs: 1_000 });
    const order = created(p, "xstor-pubg-60");
    await bed.publisher.publish(order);
    await bed.publisher.publish(order, { msgId: `replay:${order.orderId}` }); // a second message for the same order
    const sent = await waitForEvent(bed.jsm, order.orderId, "OrderSent", 30_000);
    assert.equal(xstor.placeCalls(sent.data.reference), 1);
    assert.equal(xstor.placements(sent.data.reference), 1);
    await eventually(async () => assert.deepEqual(await eventCounts(bed.jsm, order.orderId), { OrderCreated: 2, OrderSent: 1 }), 15_000);
  });

  it("znet placements hang past the client timeout: they hold only znet's slots, and x-stor orders are sent meanwhile", async () => {
    const stalled = Array.from({ length: 6 }, (_, i) => player(`stall${i}`));
    for (const p of stalled) znet.addRule({ playerId: p, placeFault: "hang" });
    const znetOrders = stalled.map((p) => created(p));
    for (const o of znetOrders) await bed.publisher.publish(o);
    // Every znet slot is taken by a hanging request.
    await eventually(() => assert.equal(znetPlacesFor(stalled), ZNET_SLOTS), 15_000);

    const xstorOrders = Array.from({ length: 8 }, (_, i) => created(player(`fast${i}`), "xstor-pubg-60"));
    for (const o of xstorOrders) await bed.publisher.publish(o);
    for (const o of xstorOrders) {
      const sent = await waitForEvent(bed.jsm, o.orderId, "OrderSent", 20_000);
      assert.equal(sent.data.provider, "xstor");
      assert.equal(xstor.placements(sent.data.reference), 1);
    }
    // All of that happened while the znet requests were still hanging: none was answered yet.
    for (const o of znetOrders) {
      const counts = await eventCounts(bed.jsm, o.orderId, { attemptFacts: true });
      assert.equal(counts.PlacementAnswered, undefined, "no znet answer yet");
      assert.equal(counts.OrderSent, undefined);
    }
    assert.equal(znetPlacesFor(stalled), ZNET_SLOTS, "never more znet requests than its slots");
  });

});
