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
import { eventually } from "@pinflow/testkit";
import { Registry } from "prom-client";
import { readCatalogFile } from "./catalog.js";
import type { DispatchPolicy, DispatchRow } from "./dispatch.js";
import { CATALOG, created, eventCounts, logger, player, useDispatcherBed, waitForEvent } from "./dispatcher.test-harness.js";
import { providerRegistry, XstorProvider, ZnetProvider } from "./providers.js";
import { createDispatcher } from "./runtime.js";

const CODE = "5550007777";
const PASSWORD = "safety-Şifre&7";
const TOKEN = "safety-xstor-token";
const CLIENT_TIMEOUT_MS = 1_000;
const SPACING_MS = 60_000;

const znet = new ZnetSimulator({ code: CODE, password: PASSWORD, completeAfterMs: 600_000, balance: 100_000 });
const xstor = new XstorSimulator({ token: TOKEN, completeAfterMs: 600_000, balance: 100_000 });
const registry = new Registry();
let gate: ProviderGate;

/** How far the dispatcher's clock runs ahead of the real one. */
let skew = 0;
const clock = (): Date => new Date(Date.now() + skew);
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
  maxReconcileTries: 8,
  notFoundBeforeReplace: 2,
  retryBaseMs: SPACING_MS,
  retryMaxMs: SPACING_MS,
  leaseMs: CLIENT_TIMEOUT_MS + 500,
  maxPlaceCalls: 2,
};

const bed = useDispatcherBed({
  natsName: "dispatcher-safety-test",
  dbPrefix: "dispatcher_safety",
  simulators: [znet, xstor],
  dispatcher: async ({ pool, nc, urls: [znetUrl, xstorUrl] }) => {
    gate = new ProviderGate(pool, { znet: limits(50), xstor: limits(50) });
    await gate.ensure();
    return createDispatcher({
      pool,
      nc,
      providers: providerRegistry([
        new ZnetProvider(new ZnetClient({ baseUrl: znetUrl!, code: CODE, password: PASSWORD, timeoutMs: CLIENT_TIMEOUT_MS })),
        new XstorProvider(new XstorClient({ baseUrl: xstorUrl!, token: TOKEN, timeoutMs: CLIENT_TIMEOUT_MS })),
      ]),
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
    assert.deepEqual(await eventCounts(bed.jsm, order.orderId), { OrderCreated: 5 });
    void waitForEvent;
  });
});
