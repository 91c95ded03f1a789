/**
 * Batch checks and politeness, with the real scheduler, real PostgreSQL and NATS, the provider
 * simulators and an injected clock that only moves when a test steps it: every step moves the
 * clock, kicks each poller and waits until its claims are settled (no sleeps, no timed asserts).
 */
import "reflect-metadata";
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { NestFactory } from "@nestjs/core";
import { MemoryKeys } from "@pinflow/auth";
import { factMsgId, makeEvent } from "@pinflow/bus";
import type { ProviderName } from "@pinflow/contracts";
import { ProviderGate, type CircuitSettings, type ProviderLimits } from "@pinflow/limits";
import type { Pool } from "@pinflow/pg";
import { XstorClient, ZnetClient } from "@pinflow/providers";
import { generatePinKeyring, PinCipher } from "@pinflow/secrets";
import { XstorSimulator } from "@pinflow/test/simulators/xstor";
import { ZnetSimulator } from "@pinflow/test/simulators/znet";
import { eventually } from "@pinflow/testkit";
import { AppModule } from "./app.module.js";
import { PgWatchStore } from "./pg-watch-store.js";
import { newWatch, type PollPolicy } from "./poll.js";
import { createPollerRuntime, type PollerRuntime } from "./runtime.js";
import { XstorStatusChecker, ZnetStatusChecker, type StatusChecker } from "./status-checker.js";
import type { WatchRow } from "./watch-store.js";
import { createPollerDatabase, logger, referenceFactory, TestClock, useEventStream, watchOf, TEST_NAMES } from "./poller.test-harness.js";

const ZNET_CODE = "5550002222";
const ZNET_PASSWORD = "sim-zn3t-pass";
const XSTOR_TOKEN = "sim-xst0r-t0ken";
const LEASE_MS = 10_000;

/** Test-clock scale: first check 1 s after sent, then 1 s, 2 s, 4 s, 4 s …; 4 unclear replies in a row → review. */
const POLICY: PollPolicy = { firstDelayMs: 1000, delaysMs: [1000, 2000], growth: 2, maxDelayMs: 4000, jitter: 0.1, deadlineMs: 60_000, maxUnclearInRow: 4 };
const CIRCUIT: CircuitSettings = { threshold: 5, cooldownMs: 2000, maxCooldownMs: 8000 };
const OPEN: ProviderLimits = { ratePerSec: 1000, burst: 1000, concurrency: 16, slotLeaseMs: LEASE_MS, circuit: CIRCUIT };

const bus = useEventStream("status-poller-limits-test");
const { eventsOf } = bus;

interface Env {
  pool: Pool;
  store: PgWatchStore;
  clock: TestClock;
  znet: ZnetSimulator;
  xstor: XstorSimulator;
  znetClient: ZnetClient;
  xstorClient: XstorClient;
  cipher: PinCipher;
  pollers: PollerRuntime[];
  /** Test-clock time of every znet pin_kontrol request, as the simulator received it. */
  znetChecksAt: number[];
  /** The provider calls each poller made (its checker's `check` calls). */
  callsBy: number[];
}

interface SetupOptions {
  pollers?: number;
  /** Providers the pollers check (default both). */
  providers?: ProviderName[];
  limits?: Partial<Record<ProviderName, ProviderLimits>>;
  policy?: PollPolicy;
  claimBatch?: number;
  /** Where the x-stor checker sends its calls, given the simulator's URL (e.g. a proxy in front of it). */
  xstorUrl?: (simUrl: string) => Promise<string>;
  xstorCompleteAfterMs?: number;
}

async function setup(t: TestContext, opts: SetupOptions = {}): Promise<Env> {
  const { pool, drop: dropDatabase } = await createPollerDatabase("poller_limits");
  const clock = new TestClock(Date.now());
  const znetChecksAt: number[] = [];
  const znet = new ZnetSimulator({
    code: ZNET_CODE,
    password: ZNET_PASSWORD,
    now: () => clock.ms,
    completeAfterMs: 0,
    onRequest: (line) => {
      if (line.includes("pin_kontrol")) znetChecksAt.push(clock.ms);
    },
  });
  const xstor = new XstorSimulator({ token: XSTOR_TOKEN, now: () => clock.ms, completeAfterMs: opts.xstorCompleteAfterMs ?? 0, balance: 100_000 });
  const znetClient = new ZnetClient({ baseUrl: await znet.start(), code: ZNET_CODE, password: ZNET_PASSWORD, timeoutMs: 2000 });
  const xstorSimUrl = await xstor.start();
  const xstorClient = new XstorClient({ baseUrl: xstorSimUrl, token: XSTOR_TOKEN, timeoutMs: 2000 });
  const checkClient = new XstorClient({ baseUrl: opts.xstorUrl ? await opts.xstorUrl(xstorSimUrl) : xstorSimUrl, token: XSTOR_TOKEN, timeoutMs: 2000 });
  const cipher = new PinCipher(generatePinKeyring());
  const providers = opts.providers ?? ["znet", "xstor"];
  const limits: Partial<Record<ProviderName, ProviderLimits>> = {};
  for (const p of providers) limits[p] = opts.limits?.[p] ?? OPEN;
  const callsBy: number[] = [];
  const pollers: PollerRuntime[] = [];
  for (let i = 0; i < (opts.pollers ?? 1); i++) {
    callsBy.push(0);
    const counted = (inner: StatusChecker): StatusChecker => ({
      provider: inner.provider,
      maxBatch: inner.maxBatch,
      ...(inner.batchKey ? { batchKey: (target) => inner.batchKey!(target) } : {}),
      check: (targets) => {
        callsBy[i]!++;
        return inner.check(targets);
      },
    });
    const checkers: StatusChecker[] = [];
    if (providers.includes("znet")) checkers.push(counted(new ZnetStatusChecker(znetClient, cipher)));
    if (providers.includes("xstor")) checkers.push(counted(new XstorStatusChecker(checkClient, cipher)));
    // One gate object per replica, all on the one database: the limits are shared through it.
    const gate = new ProviderGate(pool, limits, () => clock.now());
    await gate.ensure();
    pollers.push(
      await createPollerRuntime({
        pool,
        nc: bus.nc,
        names: TEST_NAMES,
        logger: logger.child({ poller: i }),
        clock,
        checkers,
        gate,
        random: () => 0.5, // no jitter: watches sent together stay due together
        settings: {
          pollerId: `poller-${i}`,
          policy: opts.policy ?? POLICY,
          tickMs: 600_000, // only the test's kicks (and the scheduler's own) start a claim pass
          claimBatch: opts.claimBatch ?? 10,
          concurrency: 4,
          leaseMs: LEASE_MS,
          checkTimeoutMs: 2000,
          relayIntervalMs: 50,
          gateWaitMs: 0,
          defaultRetryAfterMs: 5000,
        },
      }),
    );
  }
  t.after(async () => {
    for (const p of pollers) await p.stop();
    await znet.stop();
    await xstor.stop();
    await dropDatabase();
  });
  for (const p of pollers) p.start();
  return { pool, store: new PgWatchStore(pool), clock, znet, xstor, znetClient, xstorClient, cipher, pollers, znetChecksAt, callsBy };
}

/** Move the test clock, then let every poller claim and settle whatever is due now. */
async function step(env: Env, ms: number): Promise<void> {
  env.clock.ms += ms;
  for (const p of env.pollers) p.scheduler.kick();
  for (const p of env.pollers) await p.scheduler.idle();
}

const newReference = referenceFactory(5);

interface Watched {
  orderId: string;
  reference: string;
  playerId: string;
  /** The provider's order id from the place reply, as OrderSent records it (x-stor), or null. */
  providerOrderId: string | null;
}

/**
 * Orders placed at the provider as the dispatcher places them (x-stor: order_uuid = our reference),
 * each with its watch, sent now (so due after the policy's first delay). OrderSent records the
 * provider's order id of the acceptance, unless `learntByReconciling` (then it is null, as when the
 * dispatcher learnt of the acceptance by asking about an ambiguous placement).
 */
async function watchOrders(
  env: Env,
  provider: ProviderName,
  playerIds: string[],
  policy: PollPolicy = POLICY,
  opts: { learntByReconciling?: boolean } = {},
): Promise<Watched[]> {
  const out: Watched[] = [];
  for (const playerId of playerIds) {
    const reference = newReference();
    const placed =
      provider === "znet"
        ? await env.znetClient.place({ reference, productCode: { oyun: "101", kupur: "60" }, playerId, extra: null })
        : await env.xstorClient.place({ reference, productCode: { productId: "501" }, playerId, extra: null });
    assert.equal(placed.kind, "accepted", JSON.stringify(placed));
    const providerOrderId = placed.kind === "accepted" && opts.learntByReconciling !== true ? placed.providerOrderId : null;
    const orderId = `ord-${randomUUID()}`;
    const sent = makeEvent(
      "OrderSent",
      { orderId, correlationId: `corr-${orderId}`, causationId: null },
      { packageId: "pubg-60", provider, reference, cost: "9.80", balance: null, providerOrderId },
      env.clock.now(),
    );
    assert.equal(await env.store.insertWatch(newWatch(sent, policy, 0.5), env.clock.now()), true);
    out.push({ orderId, reference, playerId, providerOrderId });
  }
  return out;
}

async function watches(env: Env, orders: readonly Watched[]): Promise<WatchRow[]> {
  return Promise.all(orders.map((o) => watchOf(env, o.orderId)));
}

/** The x-stor check requests so far: the ids asked in each, and whether by our uuid (`uuid=1`) or by order id. */
function xstorCheckCalls(env: Env): { byUuid: boolean; ids: string[] }[] {
  return env.xstor
    .requestLog()
    .filter((line) => line.includes("/client/api/check"))
    .map((line) => {
      const url = new URL(line.replace(/^GET /, ""), "http://x.invalid");
      return { byUuid: url.searchParams.get("uuid") === "1", ids: JSON.parse(url.searchParams.get("orders") ?? "[]") as string[] };
    });
}

/** The ids asked in each x-stor check request so far, all asked by the provider's order id (the documented call). */
function xstorCheckBatches(env: Env): string[][] {
  return xstorCheckCalls(env).map((call) => {
    assert.equal(call.byUuid, false, "asked by the provider's order_id recorded in OrderSent");
    return call.ids;
  });
}

function players(prefix: string, n: number): string[] {
  return Array.from({ length: n }, (_, i) => `${prefix}${i}`);
}

async function metricsText(runtime: PollerRuntime): Promise<string> {
  return runtime.registry.metrics();
}

function metricValue(text: string, name: string, labels: Record<string, string>): number {
  let total = 0;
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue;
    total += Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return total;
}

test("x-stor: 120 watched orders are checked with ⌈120/50⌉ = 3 calls per round, by the order_id recorded in OrderSent (documented entries, no uuid); PINs sealed at once, opening to the simulator's", async (t) => {
  const env = await setup(t, { xstorCompleteAfterMs: 1500 });
  const orders = await watchOrders(env, "xstor", players("batch", 120));
  assert.equal(env.xstor.checkCalls(), 0);

  // Round 1 (1 s after sent): every order still pending.
  await step(env, 1000);
  assert.equal(env.xstor.checkCalls(), 3, "one call per 50 orders");
  const round1 = xstorCheckBatches(env);
  assert.deepEqual(round1.map((b) => b.length).sort((a, b) => a - b), [20, 50, 50]);
  assert.deepEqual(new Set(round1.flat()), new Set(orders.map((o) => o.providerOrderId)), "every order asked once");
  for (const w of await watches(env, orders)) {
    assert.equal(w.state, "watching");
    assert.equal(w.attempt, 1);
    assert.equal(w.lastOutcome, "pending");
  }

  // Round 2 (2 s after sent): every order done.
  await step(env, 1000);
  assert.equal(env.xstor.checkCalls(), 6);
  assert.deepEqual(xstorCheckBatches(env).slice(3).map((b) => b.length).sort((a, b) => a - b), [20, 50, 50]);
  for (const w of await watches(env, orders)) assert.equal(w.state, "completed");

  await eventually(() => {
    for (const o of orders) assert.equal(eventsOf(o.orderId, "PinReceived").length, 1);
  });
  for (const o of orders) {
    const pin = env.xstor.order(o.reference)?.pin;
    assert.ok(pin);
    const received = eventsOf(o.orderId, "PinReceived")[0]!;
    assert.equal(env.cipher.open(received.data.pin, { orderId: o.orderId, reference: o.reference }), pin);
    assert.equal(received.data.pin.aad, 1, "sealed for its order and reference");
    assert.equal(received.data.provider, "xstor");
    assert.equal(received.data.checks, 2);
    for (const e of bus.events.filter((e) => e.orderId === o.orderId)) assert.ok(!JSON.stringify(e).includes(pin), `${e.type} carries no plaintext PIN`);
  }

  const metrics = await metricsText(env.pollers[0]!);
  assert.equal(metricValue(metrics, "pinflow_provider_calls_total", { provider: "xstor", outcome: "ok" }), 6);
  assert.equal(metricValue(metrics, "pinflow_status_checks_total", { provider: "xstor", outcome: "done" }), 120);
  assert.equal(metricValue(metrics, "pinflow_polls_per_completed_order_count", { provider: "xstor" }), 120);
  // Found done 1 s after the check that saw it pending: the detection delay's upper bound.
  assert.equal(metricValue(metrics, "pinflow_detection_delay_seconds_count", { provider: "xstor" }), 120);
  assert.equal(metricValue(metrics, "pinflow_detection_delay_seconds_sum", { provider: "xstor" }), 120);
  assert.equal((await env.pollers[0]!.gate.status("xstor"))?.slotsInUse, 0);
});

/** Step the clock by `ms` until every watch has left `watching` (bounded). */
async function stepUntilSettled(env: Env, orders: readonly Watched[], ms: number, maxSteps = 40): Promise<WatchRow[]> {
  for (let i = 0; i < maxSteps; i++) {
    await step(env, ms);
    const ws = await watches(env, orders);
    if (ws.every((w) => w.state !== "watching")) return ws;
  }
  assert.fail(`still watching after ${maxSteps} steps`);
}

test("x-stor watch learnt by reconciling (no provider order id): asked by our uuid; a documented entry without it is never guessed (unknown → review, no PIN)", async (t) => {
  const env = await setup(t, { providers: ["xstor"] });
  const orders = await watchOrders(env, "xstor", players("recon", 2), POLICY, { learntByReconciling: true });
  assert.ok(orders.every((o) => o.providerOrderId === null));
  assert.ok(orders.every((o) => env.xstor.order(o.reference)?.state === "done"), "the orders are done at x-stor");

  for (const w of await stepUntilSettled(env, orders, 1000)) assert.equal(w.state, "review");
  const calls = xstorCheckCalls(env);
  assert.ok(calls.length >= POLICY.maxUnclearInRow);
  assert.ok(calls.every((c) => c.byUuid), "asked by our reference (order_uuid)");
  assert.ok(calls.every((c) => c.ids.every((id) => orders.some((o) => o.reference === id))));
  await eventually(() => {
    for (const o of orders) {
      assert.equal(eventsOf(o.orderId, "ReviewRequired").length, 1);
      assert.equal(eventsOf(o.orderId, "PinReceived").length, 0, "never completed with a guessed entry");
      assert.ok(eventsOf(o.orderId, "StatusChecked").every((e) => e.data.outcome === "unknown"));
    }
  });
});

test("x-stor watch learnt by reconciling, entries carrying our uuid (opt-in): matched by uuid, completed with the order's PIN", async (t) => {
  const env = await setup(t, { providers: ["xstor"] });
  env.xstor.addRule({ playerId: "reconkind", match: "prefix", checkCarriesUuid: true });
  const orders = await watchOrders(env, "xstor", players("reconkind", 2), POLICY, { learntByReconciling: true });
  for (const w of await stepUntilSettled(env, orders, 1000)) assert.equal(w.state, "completed");
  assert.ok(xstorCheckCalls(env).every((c) => c.byUuid));
  await eventually(() => {
    for (const o of orders) assert.equal(env.cipher.open(eventsOf(o.orderId, "PinReceived")[0]!.data.pin, o), env.xstor.order(o.reference)?.pin);
  });
});

test("x-stor due watches with and without a provider order id: one call by order_id and one by uuid, each order answered by its own entry", async (t) => {
  const env = await setup(t, { providers: ["xstor"] });
  env.xstor.addRule({ playerId: "mixuuid", match: "prefix", checkCarriesUuid: true });
  const byId = await watchOrders(env, "xstor", players("mixid", 3));
  const byUuid = await watchOrders(env, "xstor", players("mixuuid", 2), POLICY, { learntByReconciling: true });
  await step(env, 1000);
  const calls = xstorCheckCalls(env);
  assert.equal(calls.length, 2, JSON.stringify(calls));
  assert.deepEqual(new Set(calls.find((c) => !c.byUuid)?.ids), new Set(byId.map((o) => o.providerOrderId)));
  assert.deepEqual(new Set(calls.find((c) => c.byUuid)?.ids), new Set(byUuid.map((o) => o.reference)));
  const all = [...byId, ...byUuid];
  for (const w of await watches(env, all)) assert.equal(w.state, "completed");
  await eventually(() => {
    for (const o of all) assert.equal(env.cipher.open(eventsOf(o.orderId, "PinReceived")[0]!.data.pin, o), env.xstor.order(o.reference)?.pin);
  });
});

test("an x-stor order finished in its place reply (OrderSent pinInPlaceReply) is never watched: the poller makes no check for it", async (t) => {
  const env = await setup(t, { providers: ["xstor"], xstorCompleteAfterMs: 60_000 });
  const playerId = "inplace0";
  env.xstor.addRule({ playerId, finishInPlaceReply: true });
  const reference = newReference();
  const placed = await env.xstorClient.place({ reference, productCode: { productId: "501" }, playerId, extra: null });
  assert.ok(placed.kind === "accepted" && placed.pin !== null, JSON.stringify(placed.kind));
  // A normal order alongside, so the scheduler is shown to be checking.
  const [normal] = await watchOrders(env, "xstor", ["inplace-normal"]);
  const orderId = `ord-${randomUUID()}`;
  const sent = makeEvent(
    "OrderSent",
    { orderId, correlationId: `corr-${orderId}`, causationId: null },
    { packageId: "pubg-60", provider: "xstor", reference, cost: placed.cost, balance: null, providerOrderId: placed.providerOrderId, pinInPlaceReply: true },
    env.clock.now(),
  );
  await bus.publisher.publish(sent, { msgId: factMsgId(sent), once: true });
  const watch = await eventually(async () => {
    const w = await env.store.get(orderId);
    assert.ok(w, "the OrderSent was handled");
    return w;
  });
  assert.equal(watch.state, "completed", "recorded as settled");
  for (let i = 0; i < 10; i++) await step(env, 2000);
  assert.ok(env.xstor.checkedIds(normal!.reference) >= 2, "the scheduler was checking other orders");
  assert.equal(env.xstor.checkedIds(reference), 0, "no check for the order whose PIN came in the place reply");
  assert.equal((await env.store.get(orderId))?.attempt, 0);
  assert.deepEqual(bus.events.filter((e) => e.orderId === orderId).map((e) => e.type), ["OrderSent"], "the poller appended nothing for it");
});

test("a provider without a checker: its watches are never claimed for a check; past their deadline they go to review", async (t) => {
  const env = await setup(t, { providers: ["znet"] });
  const policy: PollPolicy = { ...POLICY, deadlineMs: 5000 };
  const orders = await watchOrders(env, "xstor", players("nochecker", 3), policy);
  for (let i = 0; i < 8; i++) await step(env, 500); // 4 s: due, not past the deadline
  assert.equal(env.xstor.checkCalls(), 0);
  for (const w of await watches(env, orders)) {
    assert.equal(w.state, "watching");
    assert.equal(w.attempt, 0);
    assert.equal(w.leaseOwner, null, "never claimed");
  }
  assert.equal((await env.store.backlog(env.clock.now())).due, 3, "due and unclaimed: the overdue alarm sees them");

  await step(env, 1000); // past the deadline
  for (const w of await watches(env, orders)) assert.equal(w.state, "review");
  await eventually(() => {
    for (const o of orders) assert.equal(eventsOf(o.orderId, "ReviewRequired").length, 1);
  });
  for (const o of orders) {
    const review = eventsOf(o.orderId, "ReviewRequired")[0]!.data;
    assert.equal(review.reason, "deadline_exceeded");
    assert.match(review.message, /no status checker is configured for xstor/);
    assert.equal(eventsOf(o.orderId, "StatusChecked").length, 0);
  }
  assert.equal(env.xstor.checkCalls(), 0);
});

test("znet outage (HTTP 500 on every check): the breaker opens, checks are delayed (far fewer calls), no order fails or goes to review; after recovery all complete", async (t) => {
  const threshold = 3;
  const env = await setup(t, { providers: ["znet"], limits: { znet: { ...OPEN, concurrency: 4, circuit: { threshold, cooldownMs: 2000, maxCooldownMs: 8000 } } } });
  env.znet.addRule({ playerId: "down", match: "prefix", checkFault: "http500", completeAfterMs: 0 });
  const orders = await watchOrders(env, "znet", players("down", 10));

  // 30 s of outage in 250 ms steps. Without the breaker, each order would be checked at 1, 2, 4 and 8 s
  // (40 calls) and then go to review after its 4th unclear reply in a row.
  for (let i = 0; i < 120; i++) await step(env, 250);
  const calls = env.znetChecksAt.length;
  t.diagnostic(`outage: ${calls} pin_kontrol calls in 30 s for 10 orders (without the breaker: 40 in the first 8 s, then all in review)`);
  assert.ok(calls >= threshold && calls <= 12, `breaker: ${calls} calls in 30 s of outage`);
  const gate = await env.pollers[0]!.gate.status("znet");
  assert.ok(gate && gate.failuresInRow >= threshold, "the circuit counts the failures");
  for (const w of await watches(env, orders)) {
    assert.equal(w.state, "watching", "an outage only delays");
    assert.ok(w.unclearInRow < POLICY.maxUnclearInRow, `unclear ${w.unclearInRow}: only calls made while the circuit was closed count`);
  }
  const metrics = await metricsText(env.pollers[0]!);
  assert.ok(metricValue(metrics, "pinflow_provider_calls_held_total", { provider: "znet", reason: "circuit_open" }) >= 1);
  assert.ok(metricValue(metrics, "pinflow_provider_calls_total", { provider: "znet", outcome: "failure" }) >= threshold);

  // The provider recovers: the next probe closes the circuit and every order completes.
  env.znet.clearRules();
  for (let i = 0; i < 80; i++) {
    await step(env, 250);
    if ((await watches(env, orders)).every((w) => w.state === "completed")) break;
  }
  for (const w of await watches(env, orders)) assert.equal(w.state, "completed");
  await eventually(() => {
    for (const o of orders) assert.equal(eventsOf(o.orderId, "PinReceived").length, 1);
  });
  for (const o of orders) {
    assert.equal(eventsOf(o.orderId, "OrderFailed").length, 0);
    assert.equal(eventsOf(o.orderId, "ReviewRequired").length, 0);
    assert.equal(env.cipher.open(eventsOf(o.orderId, "PinReceived")[0]!.data.pin, o), env.znet.order(o.reference)?.pin);
  }
  assert.equal((await env.pollers[0]!.gate.status("znet"))?.circuitOpenForMs, 0);
});

test("deadline while the provider is down: past the deadline → ReviewRequired(deadline_exceeded) without a check, never failed", async (t) => {
  const policy: PollPolicy = { ...POLICY, deadlineMs: 6000, maxUnclearInRow: 10 };
  const env = await setup(t, { providers: ["znet"], policy, limits: { znet: { ...OPEN, concurrency: 2, circuit: { threshold: 2, cooldownMs: 20_000, maxCooldownMs: 20_000 } } } });
  env.znet.addRule({ playerId: "late", match: "prefix", checkFault: "http500", completeAfterMs: 0 });
  const orders = await watchOrders(env, "znet", players("late", 5), policy);

  for (let i = 0; i < 10; i++) await step(env, 500); // 5 s: the circuit opened at the first checks
  assert.ok(((await env.pollers[0]!.gate.status("znet"))?.circuitOpenForMs ?? 0) > 0, "circuit open");
  const callsBefore = env.znetChecksAt.length;
  for (const w of await watches(env, orders)) assert.equal(w.state, "watching");

  await step(env, 1000); // 6 s: the deadline, circuit still open
  for (const w of await watches(env, orders)) assert.equal(w.state, "review");
  assert.equal(env.znetChecksAt.length, callsBefore, "no call to the provider that is down");
  await eventually(() => {
    for (const o of orders) assert.equal(eventsOf(o.orderId, "ReviewRequired").length, 1);
  });
  for (const o of orders) {
    const review = eventsOf(o.orderId, "ReviewRequired")[0]!.data;
    assert.equal(review.reason, "deadline_exceeded");
    assert.match(review.message, /circuit open/);
    assert.equal(eventsOf(o.orderId, "OrderFailed").length, 0);
  }
});

/** An HTTP proxy in front of the x-stor simulator that answers the next `n` check calls with 429 + Retry-After. */
async function rateLimitingProxy(t: TestContext, target: string): Promise<{ url: string; limitNext(n: number, retryAfterS: number): void; limited: number; passed: number }> {
  const state = { url: "", remaining: 0, retryAfterS: 0, limited: 0, passed: 0, limitNext: (n: number, s: number) => ((state.remaining = n), (state.retryAfterS = s)) };
  const server = http.createServer((req, res) => {
    if ((req.url ?? "").startsWith("/client/api/check")) {
      if (state.remaining > 0) {
        state.remaining--;
        state.limited++;
        res.writeHead(429, { "content-type": "application/json", "retry-after": String(state.retryAfterS) });
        res.end(JSON.stringify({ message: "Too Many Attempts." }));
        return;
      }
      state.passed++;
    }
    const upstream = http.request(`${target}${req.url ?? "/"}`, { method: req.method, headers: req.headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    upstream.on("error", () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return state;
}

test("x-stor answers 429 with Retry-After: no call until then, nothing counted against the orders, then they complete", async (t) => {
  let proxy!: Awaited<ReturnType<typeof rateLimitingProxy>>;
  const env = await setup(t, {
    providers: ["xstor"],
    xstorUrl: async (sim) => {
      proxy = await rateLimitingProxy(t, sim);
      return proxy.url;
    },
  });
  const orders = await watchOrders(env, "xstor", players("slowdown", 5));
  proxy.limitNext(1, 7);

  await step(env, 1000); // due: one batch call, answered 429 "retry after 7 s"
  assert.deepEqual({ limited: proxy.limited, passed: proxy.passed }, { limited: 1, passed: 0 });
  for (const w of await watches(env, orders)) {
    assert.equal(w.state, "watching");
    assert.equal(w.attempt, 0, "not a check: attempt unchanged");
    assert.equal(w.unclearInRow, 0, "not an unclear reply");
    assert.equal(w.nextCheckAt.getTime(), env.clock.ms + 7000, "next check when the provider said");
  }
  const open = (await env.pollers[0]!.gate.status("xstor"))?.circuitOpenForMs ?? 0;
  assert.ok(open > 6000 && open <= 7000, `the gate honours Retry-After on every replica (${open} ms)`);

  for (let i = 0; i < 27; i++) await step(env, 250); // 6.75 s later: still within Retry-After
  assert.deepEqual({ limited: proxy.limited, passed: proxy.passed }, { limited: 1, passed: 0 }, "no call while the provider asked us to wait");
  await step(env, 250); // 7 s: the wait is over
  assert.deepEqual({ limited: proxy.limited, passed: proxy.passed }, { limited: 1, passed: 1 }, "one batch call for the five orders");
  for (const w of await watches(env, orders)) assert.equal(w.state, "completed");
  await eventually(() => {
    for (const o of orders) {
      assert.equal(eventsOf(o.orderId, "PinReceived").length, 1);
      assert.deepEqual(eventsOf(o.orderId, "StatusChecked").map((e) => e.data.outcome), ["done"], "the 429 left no trace on the timeline");
    }
  });
  const metrics = await metricsText(env.pollers[0]!);
  assert.equal(metricValue(metrics, "pinflow_provider_calls_held_total", { provider: "xstor", reason: "retry_after" }), 1);
  assert.equal(metricValue(metrics, "pinflow_provider_calls_total", { provider: "xstor", outcome: "retry_after" }), 1);
});

test("operator pause through the admin API: zero calls from either replica while paused, watches wait; resume → they complete", async (t) => {
  const env = await setup(t, { pollers: 2, providers: ["znet"] });
  const [a] = env.pollers as [PollerRuntime, PollerRuntime];
  const app = await NestFactory.create(
    AppModule.register({
      registry: a.registry,
      readiness: {},
      admin: { store: env.store, clock: env.clock, kick: () => a.scheduler.kick(), logger },
      providers: { control: a.gate, scheduler: a.scheduler, clock: env.clock, logger },
    }),
    { logger: false },
  );
  const keys = new MemoryKeys();
  const auth = { authorization: `Bearer ${keys.issue("operator")}` };
  app.use(keys.middleware());
  await app.listen(0, "127.0.0.1");
  t.after(() => app.close());
  const url = (await app.getUrl()).replace("[::1]", "127.0.0.1");
  const post = async (path: string) => {
    const res = await fetch(`${url}${path}`, { method: "POST", headers: auth });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  assert.equal((await post("/v1/providers/xstor/pause")).status, 404, "not a provider this poller checks");
  assert.equal((await fetch(`${url}/v1/providers/nope`, { headers: auth })).status, 404);
  assert.deepEqual(await post("/v1/providers/znet/pause"), { status: 200, body: { provider: "znet", paused: true } });
  const orders = await watchOrders(env, "znet", players("paused", 6));

  for (let i = 0; i < 20; i++) await step(env, 500); // 10 s paused
  assert.equal(env.znetChecksAt.length, 0, "no provider call while paused");
  assert.deepEqual(env.callsBy, [0, 0]);
  for (const w of await watches(env, orders)) {
    assert.equal(w.state, "watching");
    assert.equal(w.attempt, 0);
  }
  const status = (await (await fetch(`${url}/v1/providers/znet`, { headers: auth })).json()) as { paused: boolean; heldHere: { reason: string } | null };
  assert.equal(status.paused, true);
  // The replica behind this admin API may not have tried a call at all (the other one may hold every claim).
  if (status.heldHere !== null) assert.equal(status.heldHere.reason, "paused");
  let heldAcrossReplicas = 0;
  for (const poller of env.pollers) {
    heldAcrossReplicas += metricValue(await metricsText(poller), "pinflow_provider_calls_held_total", { provider: "znet", reason: "paused" });
  }
  assert.ok(heldAcrossReplicas >= 1, "the replicas counted the calls the pause held back");
  assert.match(await metricsText(a), /pinflow_provider_paused\{[^}]*provider="znet"[^}]*\} 1/);

  assert.deepEqual(await post("/v1/providers/znet/resume"), { status: 200, body: { provider: "znet", paused: false } });
  for (let i = 0; i < 20 && !(await watches(env, orders)).every((w) => w.state === "completed"); i++) await step(env, 250);
  for (const w of await watches(env, orders)) assert.equal(w.state, "completed");
  for (const o of orders) assert.equal(env.znet.checkCalls(o.reference), 1, "each order checked once, after the resume");
  assert.equal(((await (await fetch(`${url}/v1/providers/znet`, { headers: auth })).json()) as { paused: boolean }).paused, false);
});

test("rate cap across replicas: two pollers on one database never exceed the configured znet calls/s (counted over the injected time)", async (t) => {
  const rate = 4;
  const burst = 4;
  const env = await setup(t, { pollers: 2, providers: ["znet"], limits: { znet: { ...OPEN, ratePerSec: rate, burst, concurrency: 8 } } });
  const orders = await watchOrders(env, "znet", players("rate", 40));
  const stepMs = 250;
  const perStep: number[] = [];
  for (let i = 0; i < 80 && !(await watches(env, orders)).every((w) => w.state === "completed"); i++) {
    const before = env.znetChecksAt.length;
    await step(env, stepMs);
    perStep.push(env.znetChecksAt.length - before);
  }
  for (const w of await watches(env, orders)) assert.equal(w.state, "completed");
  assert.equal(env.znetChecksAt.length, 40, "each order checked once");
  assert.ok(env.callsBy.every((n) => n > 0), `both replicas made calls (${env.callsBy.join(" / ")})`);
  // A token bucket allows at most burst + rate × (time spanned) calls in any window of steps.
  for (let k = 1; k <= 12; k++) {
    for (let i = 0; i + k <= perStep.length; i++) {
      const calls = perStep.slice(i, i + k).reduce((n, c) => n + c, 0);
      const allowed = burst + Math.floor((rate * (k - 1) * stepMs) / 1000);
      assert.ok(calls <= allowed, `${calls} calls in ${k} steps from step ${i} (allowed ${allowed}): ${perStep.join(",")}`);
    }
  }
  const spanS = (env.znetChecksAt.at(-1)! - env.znetChecksAt[0]!) / 1000;
  t.diagnostic(`rate cap ${rate}/s burst ${burst}: calls per ${stepMs} ms step ${perStep.join(",")}; by replica ${env.callsBy.join(" / ")}; 40 calls over ${spanS} s`);
  assert.ok(spanS >= (40 - burst) / rate, `40 calls took ${spanS} s of provider time at ${rate}/s`);
  assert.ok(spanS <= (40 - burst) / rate + 2, `and no much longer: ${spanS} s (the cap, not the scheduler, is the limit)`);
});
