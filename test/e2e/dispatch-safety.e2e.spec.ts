import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { readFileSync, rmSync, writeFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import type { OrderView } from "@pinflow/contracts";
import { eventually } from "@pinflow/testkit";
import { runImportCatalog } from "../support/catalog-import.js";
import { CATALOG_FILE } from "../support/paths.js";
import { TestSystem, XSTOR_TOKEN, ZNET_CODE, ZNET_PASSWORD } from "../support/system.js";

/**
 * Money safety of the dispatcher with every service as its own process, znet first and x-stor second
 * on every package: a crash between the provider's acceptance and our commit, dropped and late
 * replies, fallback only after a definite refusal, reason codes on failed orders, and the catalog
 * import (prices checked before any call).
 */
const player = (prefix: string) => `${prefix}${randomUUID().replace(/-/g, "").slice(0, 12)}`;
const DISPATCH_TIMEOUT_MS = 3_000;

/** config/catalog.json plus one package whose maximum is below both providers' prices. */
const dir = mkdtempSync(join(tmpdir(), "pinflow-e2e-catalog-"));
const catalogFile = join(dir, "catalog.json");
const catalog = JSON.parse(readFileSync(CATALOG_FILE, "utf8")) as { packages: unknown[] };
catalog.packages.push({
  id: "pubg-60-capped",
  name: "PUBG Mobile 60 UC (capped)",
  offers: [
    { provider: "znet", productId: "1", productCode: { oyun: "101", kupur: "60" }, maxCost: "5.00" },
    { provider: "xstor", productId: "501", productCode: { productId: "501" }, maxCost: "5.00" },
  ],
});
writeFileSync(catalogFile, JSON.stringify(catalog));

describe("money-safe dispatch across znet and x-stor", () => {
  const system = new TestSystem({
    xstor: true,
    env: {
      orders: { CATALOG_FILE: catalogFile },
      dispatcher: {
        CATALOG_FILE: catalogFile,
        ZNET_TIMEOUT_MS: String(DISPATCH_TIMEOUT_MS),
        XSTOR_TIMEOUT_MS: String(DISPATCH_TIMEOUT_MS),
        RECONCILE_BASE_MS: "200",
        RECONCILE_MAX_DELAY_MS: "1000",
        RECONCILE_MAX_TRIES: "4",
        ZNET_RATE_PER_SEC: "50",
        XSTOR_RATE_PER_SEC: "50",
      },
    },
  });
  let dispatcherDb: pg.Pool;
  const pins: string[] = [];

  before(async () => {
    await system.start();
    dispatcherDb = new pg.Pool({ connectionString: system.databases.dispatcher.url, max: 2 });
  });
  after(async () => {
    await dispatcherDb?.end();
    await system.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  async function dispatchRow(orderId: string): Promise<{ state: string; place_calls: number; reference: string } | undefined> {
    const r = await dispatcherDb.query<{ state: string; place_calls: number; reference: string }>(
      "SELECT state, place_calls, reference FROM dispatch WHERE order_id = $1",
      [orderId],
    );
    return r.rows[0];
  }

  /** The znet requests (place and check) that carried this reference. */
  const znetCallsWith = (reference: string) => system.znet.requestLog().filter((l) => l.includes(`=${reference}`));
  const xstorCallsFor = (playerId: string) => system.xstor.requestLog().filter((l) => l.includes(`uid=${playerId}`));

  async function assertOnePlacement(orderId: string, playerId: string): Promise<OrderView> {
    const order = await system.waitForStatus(orderId, "completed", 40_000);
    const refs = system.znet.referencesFor(playerId);
    assert.equal(refs.length, 1, "one order at znet");
    const ref = refs[0]!;
    assert.equal(system.znet.placements(ref), 1, "placed exactly once");
    assert.equal(system.znet.placeCalls(ref), 1, "no second place request");
    assert.equal(order.pin, system.znet.order(ref)!.pin);
    pins.push(order.pin!);
    const timeline = await system.request(`/v1/orders/${orderId}/events`);
    const types = (timeline.body as { events: { type: string }[] }).events.map((e) => e.type);
    assert.equal(types.filter((t) => t === "OrderSent").length, 1);
    assert.deepEqual(xstorCallsFor(playerId), [], "an ambiguous outcome never falls back");
    return order;
  }

  test("SIGKILL after znet received the place call and before the dispatcher committed: after restart the order completes, placed once", async () => {
    const playerId = player("crash");
    // znet records (and charges) the order at once but answers only much later: the dispatcher is mid-call.
    system.znet.addRule({ playerId, placeFault: "slow-accept", slowMs: 60_000 });
    const orderId = await system.createOrder({ packageId: "pubg-60", playerId });
    await eventually(() => assert.equal(system.znet.referencesFor(playerId).length, 1), 15_000, 5);
    await system.services.dispatcher.kill("SIGKILL");
    const [reference] = system.znet.referencesFor(playerId);
    const row = await dispatchRow(orderId);
    assert.equal(row?.state, "placing", "the dispatcher died before committing the place result");
    assert.equal(row?.reference, reference);
    assert.equal(row?.place_calls, 1);

    system.services.dispatcher.start();
    await system.services.dispatcher.waitReady();
    await assertOnePlacement(orderId, playerId);
    assert.ok(znetCallsWith(reference!).some((l) => l.includes("pin_kontrol")), "reconciled with pin_kontrol after the restart");
    assert.equal((await dispatchRow(orderId))?.state, "sent");
  });

  test("znet accepts and then drops the connection: reconciled, completes, placed once", async () => {
    const playerId = player("drop");
    system.znet.addRule({ playerId, placeFault: "drop-after-accept", completeAfterMs: 300 });
    const orderId = await system.createOrder({ packageId: "pubg-60", playerId });
    await assertOnePlacement(orderId, playerId);
  });

  test("znet answers after the client timeout: reconciled (not re-sent, not routed elsewhere), completes, placed once", async () => {
    const playerId = player("late");
    system.znet.addRule({ playerId, placeFault: "slow-accept", slowMs: DISPATCH_TIMEOUT_MS * 2, completeAfterMs: 300 });
    const orderId = await system.createOrder({ packageId: "pubg-325", playerId });
    await assertOnePlacement(orderId, playerId);
  });

  test("znet refuses with insufficient balance → x-stor places it (its own reference, one placement)", async () => {
    const playerId = player("fall");
    system.znet.addRule({ playerId, placeReply: "8|Yetersiz bakiye" });
    const orderId = await system.createOrder({ packageId: "pubg-60", playerId });
    const order = await eventually(async () => {
      const o = await system.getOrder(orderId);
      assert.equal(o.provider, "xstor");
      return o;
    }, 20_000);
    assert.notEqual(order.status, "failed");
    const refs = system.xstor.referencesFor(playerId);
    assert.equal(refs.length, 1);
    assert.equal(system.xstor.placements(refs[0]!), 1);
    assert.equal(system.xstor.placeCalls(refs[0]!), 1);
    assert.equal(system.xstor.order(refs[0]!)?.productId, "501");
    assert.equal(system.znet.referencesFor(playerId).length, 0, "znet recorded nothing");
    const timeline = await system.request(`/v1/orders/${orderId}/events`);
    const events = (timeline.body as { events: { type: string; data: Record<string, unknown> }[] }).events;
    assert.deepEqual(events.filter((e) => e.type === "OrderSent").length, 1);
    assert.ok(!events.some((e) => e.type === "DispatchFailed"));
  });

  test("a znet timeout with nothing recorded never falls back: same reference re-placed only after checks, then review", async () => {
    const playerId = player("hang");
    system.znet.addRule({ playerId, placeFault: "hang" });
    const orderId = await system.createOrder({ packageId: "pubg-60", playerId });
    const order = await system.waitForStatus(orderId, "review", 40_000);
    assert.equal(order.reviewReason, "placement_unknown");
    assert.equal(order.provider, null, "never sent anywhere");
    const places = system.znet.requestLog().filter((l) => l.includes("pin_ekle") && l.includes(`oyuncu_bilgi=${playerId}`));
    const refs = new Set(places.map((l) => /referans=(\d+)/.exec(l)?.[1]));
    assert.equal(refs.size, 1, "one reference for every attempt at znet");
    const [reference] = [...refs];
    assert.ok(places.length >= 2 && places.length <= 3, `${places.length} place requests`);
    assert.ok(system.znet.checkCalls(reference!) >= 2 * (places.length - 1), "two not-found checks before each re-place");
    assert.deepEqual(xstorCallsFor(playerId), [], "x-stor never asked");
  });

  test("failed orders carry their reason code on GET /v1/orders/:id", async () => {
    // A refusal about the order itself: no fallback.
    const bad = player("badplayer");
    system.znet.addRule({ playerId: bad, placeReply: "3|Oyuncu bulunamadı" });
    // Every offer refused: the last reason code.
    const broke = player("broke");
    system.znet.addRule({ playerId: broke, placeReply: "8|Yetersiz bakiye" });
    system.xstor.addRule({ playerId: broke, placeReply: { status: "ERROR", message: "Insufficient balance", error: "balance" } });
    const a = await system.createOrder({ packageId: "pubg-60", playerId: bad });
    const b = await system.createOrder({ packageId: "freefire-100", playerId: broke, extra: "EU" });
    const failedA = await system.waitForStatus(a, "failed");
    assert.equal(failedA.reasonCode, "invalid_player");
    assert.equal(failedA.providerNote, "Oyuncu bulunamadı");
    assert.deepEqual(xstorCallsFor(bad), []);
    const failedB = await system.waitForStatus(b, "failed");
    assert.equal(failedB.reasonCode, "insufficient_balance");
    assert.match(failedB.providerNote ?? "", /Insufficient balance \(earlier offers: znet insufficient_balance\)/);
    assert.equal(system.xstor.referencesFor(broke).length, 0);
  });

  test("catalog import: prices are stored once; an offer above its maximum is refused without any call", async () => {
    const env = {
      PATH: process.env.PATH ?? "",
      DATABASE_URL: system.databases.dispatcher.url,
      ZNET_BASE_URL: system.services.dispatcher.env.ZNET_BASE_URL!,
      ZNET_CODE,
      ZNET_PASSWORD,
      XSTOR_BASE_URL: system.services.dispatcher.env.XSTOR_BASE_URL!,
      XSTOR_TOKEN,
    };
    for (const provider of ["znet", "xstor"]) {
      const out = await runImportCatalog(["--provider", provider, "--mapping", catalogFile], env);
      assert.equal(out.code, 0, out.stderr);
      assert.equal(JSON.parse(out.stdout).imported, provider);
      assert.match(out.stderr, /pubg-60-capped offer \d: \w+ price [\d.]+ is above maxCost 5.00/);
      assert.ok(!out.stderr.includes(ZNET_PASSWORD) && !out.stderr.includes(XSTOR_TOKEN));
    }
    const listCalls = () => system.znet.requestLog().filter((l) => l.includes("pin_listesi")).length;
    const listed = listCalls();

    const capped = player("capped");
    const orderId = await system.createOrder({ packageId: "pubg-60-capped", playerId: capped });
    const failed = await system.waitForStatus(orderId, "failed");
    assert.equal(failed.reasonCode, "cost_above_maximum");
    assert.match(failed.providerNote ?? "", /xstor price 9\.80 is above the maximum 5\.00; not placed \(earlier offers: znet cost_above_maximum\)/);
    assert.equal(system.znet.requestLog().filter((l) => l.includes(capped)).length, 0, "znet never called");
    assert.deepEqual(xstorCallsFor(capped), [], "x-stor never called");

    // Ordinary packages are placed with the imported codes, and the list is never fetched per order.
    const normal = player("imported");
    const normalId = await system.createOrder({ packageId: "freefire-100", playerId: normal });
    await system.waitForStatus(normalId, "completed", 30_000);
    const [ref] = system.znet.referencesFor(normal);
    assert.match(znetCallsWith(ref!).find((l) => l.includes("pin_ekle")) ?? "", /oyun=202&kupur=100/);
    assert.equal(listCalls(), listed);
  });

  test("balances of both providers; operators can pause and resume a provider", async () => {
    const base = system.services.dispatcher.url;
    for (const provider of ["znet", "xstor"]) {
      const res = await system.operatorFetch(`${base}/v1/providers/${provider}/balance`);
      assert.equal(res.status, 200);
      const body = (await res.json()) as { provider: string; balance: string };
      assert.equal(body.provider, provider);
      assert.match(body.balance, /^\d+\.\d\d$/);
    }
    assert.match(await (await fetch(`${base}/metrics`)).text(), /pinflow_provider_balance\{provider="xstor",service="dispatcher"\} \d+/);

    assert.equal((await system.operatorFetch(`${base}/v1/providers/znet/pause`, { method: "POST" })).status, 200);
    const playerId = player("paused");
    const orderId = await system.createOrder({ packageId: "pubg-60", playerId });
    try {
      await eventually(async () => {
        const metrics = await (await fetch(`${base}/metrics`)).text();
        assert.match(metrics, /pinflow_provider_calls_held_total\{provider="znet",reason="paused",service="dispatcher"\} [1-9]/);
      }, 15_000);
      assert.equal((await system.getOrder(orderId)).status, "pending", "waiting, not failed");
      assert.equal(system.znet.requestLog().filter((l) => l.includes(playerId)).length, 0);
      assert.deepEqual(xstorCallsFor(playerId), [], "paused is not a refusal: no fallback");
    } finally {
      assert.equal((await system.operatorFetch(`${base}/v1/providers/znet/resume`, { method: "POST" })).status, 200);
    }
    await system.waitForStatus(orderId, "completed", 30_000);
  });

  test("znet shuts us out (empty body): the pending order shows why (provider_shut_out), the provider's status says so; let in again, it completes, placed once", async () => {
    const base = system.services.dispatcher.url;
    const playerId = player("shut");
    system.znet.denyAccess(true);
    let orderId = "";
    try {
      orderId = await system.createOrder({ packageId: "pubg-60", playerId });
      const waiting = await eventually(async () => {
        const o = await system.getOrder(orderId);
        assert.equal(o.reasonCode, "provider_shut_out");
        return o;
      }, 20_000);
      assert.equal(waiting.status, "pending", "waiting, not failed");
      assert.match(waiting.providerNote ?? "", /znet shuts us out: it answers with an empty body/);
      const status = (await (await system.operatorFetch(`${base}/v1/providers/znet/status`)).json()) as { shutOut: { cause: string; message: string } | null };
      assert.match(status.shutOut?.cause ?? "", /empty body/);
      assert.match(status.shutOut?.message ?? "", /znet shuts us out/);
      assert.match(await (await fetch(`${base}/metrics`)).text(), /pinflow_provider_errors_total\{provider="znet",kind="access_denied",service="dispatcher"\} [1-9]/);
      assert.deepEqual(xstorCallsFor(playerId), [], "a shut-out is not a refusal: no fallback");
    } finally {
      system.znet.denyAccess(false);
    }
    const done = await system.waitForStatus(orderId, "completed", 60_000);
    assert.equal(done.reasonCode, null, "the hold reason goes once the order is sent");
    const [ref] = system.znet.referencesFor(playerId);
    assert.equal(system.znet.placements(ref!), 1);
    await eventually(async () => {
      const status = (await (await system.operatorFetch(`${base}/v1/providers/znet/status`)).json()) as { shutOut: unknown };
      assert.equal(status.shutOut, null);
    }, 10_000);
    const timeline = await system.request(`/v1/orders/${orderId}/events`);
    const types = (timeline.body as { events: { type: string }[] }).events.map((e) => e.type);
    assert.equal(types.filter((t) => t === "DispatchHeld").length, 1, "shown once, not on every retry");
  });

  test("no provider password, token or PIN appears in any log", async () => {
    const logs = system.allLogs();
    for (const secret of [ZNET_PASSWORD, XSTOR_TOKEN]) {
      assert.ok(!logs.includes(secret), "a provider secret was logged");
      assert.ok(!logs.includes(encodeURIComponent(secret)), "a provider secret was logged URL-encoded");
    }
    assert.ok(pins.length >= 3);
    for (const pin of pins) assert.ok(!logs.includes(pin), "a PIN was logged");
  });
});
