import "reflect-metadata";
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { NestFactory } from "@nestjs/core";
import { MemoryKeys } from "@pinflow/auth";
import {
  factMsgId,
  makeEvent,
  } from "@pinflow/bus";
import type { EventOf } from "@pinflow/contracts";
import { ProviderGate, type ProviderLimits } from "@pinflow/limits";
import type { Pool } from "@pinflow/pg";
import { ZnetClient } from "@pinflow/providers";
import { generatePinKeyring, PinCipher } from "@pinflow/secrets";
import { ZnetSimulator } from "@pinflow/test/simulators/znet";
import { eventually } from "@pinflow/testkit";
import { AppModule } from "./app.module.js";
import { PgWatchStore } from "./pg-watch-store.js";
import { learnSchedules, learntGapMs, packageKey, type LearntSchedule } from "./adaptive.js";
import { DEFAULT_ADAPTIVE, DEFAULT_POLICY, newWatch, type AdaptiveSettings, type CheckResult, type PollingPlan, type PollPolicy } from "./poll.js";
import { createPollerRuntime, type PollerRuntime } from "./runtime.js";
import { ZnetStatusChecker, type StatusChecker } from "./status-checker.js";
import type { WatchRow } from "./watch-store.js";
import { createPollerDatabase, logger, referenceFactory, TestClock, useEventStream, watchOf, TEST_NAMES } from "./poller.test-harness.js";

const CODE = "5550001111";
const PASSWORD = "sim-s3cret";
const LEASE_MS = 10_000;
/** Generous limits: every check goes through a real ProviderGate, without holding anything back. */
const LIMITS: ProviderLimits = { ratePerSec: 1000, burst: 1000, concurrency: 32, slotLeaseMs: LEASE_MS, circuit: { threshold: 5, cooldownMs: 2000, maxCooldownMs: 10_000 } };

/** Short delays, in the test clock's time: 1 s, then 1 s, 2 s, 4 s, 4 s …; review after 30 s or 4 unclear replies. */
const POLICY: PollPolicy = { firstDelayMs: 1000, delaysMs: [1000, 2000], growth: 2, maxDelayMs: 4000, jitter: 0.1, deadlineMs: 30_000, maxUnclearInRow: 4 };

const bus = useEventStream("status-poller-test");
const { eventsOf } = bus;

interface Env {
  pool: Pool;
  store: PgWatchStore;
  clock: TestClock;
  sim: ZnetSimulator;
  client: ZnetClient;
  cipher: PinCipher;
  pollers: PollerRuntime[];
}

/** A fresh database, simulator and clock per test, with `pollers` poller runtimes on them (not started). */
async function setup(
  t: TestContext,
  opts: {
    pollers?: number;
    wrap?: (checker: StatusChecker, index: number) => StatusChecker;
    claimBatch?: number;
    polling?: PollingPlan;
    /** Rows to have in the database before the pollers are built (e.g. recorded completions). */
    seed?: (pool: Pool) => Promise<void>;
  } = {},
): Promise<Env> {
  const { pool, drop: dropDatabase } = await createPollerDatabase("poller");
  await opts.seed?.(pool);
  const clock = new TestClock(Date.now());
  const sim = new ZnetSimulator({ code: CODE, password: PASSWORD, now: () => clock.ms, completeAfterMs: 2500 });
  const baseUrl = await sim.start();
  const client = new ZnetClient({ baseUrl, code: CODE, password: PASSWORD, timeoutMs: 2000 });
  const cipher = new PinCipher(generatePinKeyring());
  const pollers: PollerRuntime[] = [];
  for (let i = 0; i < (opts.pollers ?? 1); i++) {
    const checker = new ZnetStatusChecker(client, cipher);
    const gate = new ProviderGate(pool, { znet: LIMITS }, () => clock.now());
    await gate.ensure();
    pollers.push(
      await createPollerRuntime({
        pool,
        nc: bus.nc,
        names: TEST_NAMES,
        logger: logger.child({ poller: i }),
        clock,
        gate,
        checkers: [opts.wrap ? opts.wrap(checker, i) : checker],
        settings: {
          pollerId: `poller-${i}`,
          policy: POLICY,
          ...(opts.polling ? { polling: opts.polling, planRefreshMs: 50 } : {}),
          tickMs: 20,
          claimBatch: opts.claimBatch ?? 10,
          concurrency: 4,
          leaseMs: LEASE_MS,
          checkTimeoutMs: 2000,
          relayIntervalMs: 50,
        },
      }),
    );
  }
  t.after(async () => {
    for (const p of pollers) await p.stop();
    await sim.stop();
    await dropDatabase();
  });
  return { pool, store: new PgWatchStore(pool), clock, sim, client, cipher, pollers };
}

const newReference = referenceFactory(4);

/** Place an order at the simulator as the dispatcher would, publish its OrderSent, and wait for the watch. */
async function sendOrder(env: Env, playerId: string): Promise<{ orderId: string; reference: string; sent: EventOf<"OrderSent"> }> {
  const reference = newReference();
  const placed = await env.client.place({ reference, productCode: { oyun: "101", kupur: "60" }, playerId, extra: null });
  assert.equal(placed.kind, "accepted");
  const orderId = `ord-${randomUUID()}`;
  const sent = makeEvent(
    "OrderSent",
    { orderId, correlationId: `corr-${orderId}`, causationId: null },
    { packageId: "pubg-60", provider: "znet", reference, cost: placed.kind === "accepted" ? placed.cost : null, balance: null, providerOrderId: null },
    env.clock.now(),
  );
  await bus.publisher.publish(sent, { msgId: factMsgId(sent), once: true });
  await eventually(async () => assert.ok(await env.store.get(orderId), "watch row inserted"));
  return { orderId, reference, sent };
}

/** Move the clock to the watch's next check and wait until that check is stored. */
async function step(env: Env, orderId: string): Promise<WatchRow> {
  const before = await watchOf(env, orderId);
  assert.equal(before.state, "watching");
  env.clock.to(before.nextCheckAt);
  for (const p of env.pollers) p.scheduler.kick();
  return eventually(async () => {
    const w = await watchOf(env, orderId);
    assert.ok(w.attempt > before.attempt, `check ${before.attempt + 1} stored`);
    return w;
  });
}

/** Step until the watch leaves `watching` (bounded). */
async function stepUntilSettled(env: Env, orderId: string, maxSteps = 40): Promise<WatchRow> {
  for (let i = 0; i < maxSteps; i++) {
    const w = await step(env, orderId);
    if (w.state !== "watching") return w;
  }
  assert.fail(`watch ${orderId} still watching after ${maxSteps} checks`);
}

function outcomes(orderId: string): string[] {
  return eventsOf(orderId, "StatusChecked")
    .sort((a, b) => a.data.attempt - b.data.attempt)
    .map((e) => e.data.outcome);
}

test("pending, then done: a StatusChecked per check and one PinReceived whose sealed PIN opens to the provider's PIN", async (t) => {
  const env = await setup(t);
  env.pollers[0]!.start();
  const { orderId, reference, sent } = await sendOrder(env, "player1");

  const first = await watchOf(env, orderId);
  assert.equal(first.state, "watching");
  assert.equal(first.attempt, 0);
  const firstDelay = first.nextCheckAt.getTime() - new Date(sent.occurredAt).getTime();
  assert.ok(firstDelay >= 900 && firstDelay <= 1100, `first check after 1 s ±10 %, got ${firstDelay}`);

  const settled = await stepUntilSettled(env, orderId);
  assert.equal(settled.state, "completed");
  assert.equal(settled.leaseOwner, null);

  const checks = settled.attempt;
  assert.ok(checks >= 2, "at least one pending before done");
  await eventually(() => {
    assert.equal(eventsOf(orderId, "PinReceived").length, 1);
    assert.equal(eventsOf(orderId, "StatusChecked").length, checks);
  });
  assert.deepEqual(outcomes(orderId), [...Array<string>(checks - 1).fill("pending"), "done"]);
  assert.deepEqual(
    eventsOf(orderId, "StatusChecked").map((e) => e.data.attempt).sort((a, b) => a - b),
    Array.from({ length: checks }, (_, i) => i + 1),
  );

  const pinEvent = eventsOf(orderId, "PinReceived")[0]!;
  const providerPin = env.sim.order(reference)?.pin;
  assert.ok(providerPin);
  assert.equal(env.cipher.open(pinEvent.data.pin, { orderId, reference }), providerPin);
  assert.equal(env.cipher.opens(pinEvent.data.pin, { orderId: `${orderId}-other`, reference }), false, "the PIN is bound to its order");
  assert.equal(pinEvent.data.checks, checks);
  assert.equal(pinEvent.data.reference, reference);
  assert.equal(pinEvent.causationId, sent.id);
  assert.equal(pinEvent.correlationId, sent.correlationId);
  for (const e of bus.events.filter((e) => e.orderId === orderId)) {
    assert.ok(!JSON.stringify(e).includes(providerPin), `${e.type} must not carry the plaintext PIN`);
  }
  assert.equal(env.sim.checkCalls(reference), checks);
  assert.equal(eventsOf(orderId, "OrderFailed").length + eventsOf(orderId, "ReviewRequired").length, 0);

  // A redelivered OrderSent changes nothing.
  assert.equal(await env.store.insertWatch(newWatch(sent, POLICY, 0.5), env.clock.now()), false);
  assert.equal((await watchOf(env, orderId)).state, "completed");
});

test("a provider cancel → one OrderFailed(provider_cancelled); the watch failed", async (t) => {
  const env = await setup(t);
  env.sim.addRule({ playerId: "cancel-me", outcome: "cancel", completeAfterMs: 0 });
  env.pollers[0]!.start();
  const { orderId } = await sendOrder(env, "cancel-me");

  const settled = await stepUntilSettled(env, orderId);
  assert.equal(settled.state, "failed");
  await eventually(() => assert.equal(eventsOf(orderId, "OrderFailed").length, 1));
  const failed = eventsOf(orderId, "OrderFailed")[0]!;
  assert.equal(failed.data.reasonCode, "provider_cancelled");
  assert.equal(failed.data.provider, "znet");
  assert.deepEqual(outcomes(orderId), ["cancelled"]);
  assert.equal(eventsOf(orderId, "PinReceived").length, 0);
});

test("concurrent claims from several owners are disjoint (SKIP LOCKED)", async (t) => {
  const env = await setup(t, { pollers: 0 });
  const now = env.clock.now();
  for (let i = 0; i < 40; i++) {
    const orderId = `ord-claim-${i}`;
    const sent = makeEvent(
      "OrderSent",
      { orderId, correlationId: orderId, causationId: null },
      { packageId: "pubg-60", provider: "znet", reference: String(9000 + i), cost: "1.00", balance: null, providerOrderId: null },
      new Date(now.getTime() - 60_000),
    );
    assert.equal(await env.store.insertWatch(newWatch(sent, POLICY, 0.5), now), true);
  }
  const stores = Array.from({ length: 4 }, () => new PgWatchStore(env.pool));
  const claims = await Promise.all(stores.map((s, i) => s.claimDue(now, `owner-${i}`, LEASE_MS, 15)));
  const ids = claims.flat().map((c) => c.watch.orderId);
  assert.equal(ids.length, 40, "every due watch claimed once");
  assert.equal(new Set(ids).size, 40, "no watch claimed twice");
  assert.deepEqual(await env.store.claimDue(now, "late", LEASE_MS, 10), [], "held watches are not claimable");
  assert.deepEqual(await env.store.backlog(now), { due: 0, oldestDueAt: null });
});

test("two scheduler instances on one database check disjoint orders, never one order twice at once", async (t) => {
  // Poller 0's provider calls wait at a gate, so it holds its claims while poller 1 works.
  let gateOpen!: () => void;
  const gate = new Promise<void>((resolve) => (gateOpen = resolve));
  const asked: string[][] = [[], []];
  const inFlight = new Set<string>();
  const overlaps: string[] = [];
  const env = await setup(t, {
    pollers: 2,
    claimBatch: 3,
    wrap: (inner, index) => ({
      provider: inner.provider,
      maxBatch: inner.maxBatch,
      async check(targets): Promise<Map<string, CheckResult>> {
        const refs = targets.map((t) => t.reference);
        for (const ref of refs) {
          if (inFlight.has(ref)) overlaps.push(ref);
          inFlight.add(ref);
          asked[index]!.push(ref);
        }
        try {
          if (index === 0) await gate;
          return await inner.check(targets);
        } finally {
          for (const ref of refs) inFlight.delete(ref);
        }
      },
    }),
  });
  env.sim.addRule({ playerId: "fast", completeAfterMs: 0 });
  const [a, b] = env.pollers as [PollerRuntime, PollerRuntime];
  a.start();
  b.relay.start();
  await b.events.listen();
  const orders: Array<{ orderId: string; reference: string }> = [];
  for (let i = 0; i < 12; i++) orders.push(await sendOrder(env, "fast"));

  try {
    env.clock.advance(2000); // all 12 due
    await eventually(() => assert.equal(asked[0]!.length, 3, "poller 0 claimed a full batch and is stuck in its checks"));
    b.scheduler.start();
    const othersDone = orders.filter((o) => !asked[0]!.includes(o.reference));
    await eventually(async () => {
      for (const o of othersDone) assert.equal((await watchOf(env, o.orderId)).state, "completed");
    });
    assert.equal(asked[1]!.length, 9);
    assert.deepEqual(asked[0]!.filter((ref) => asked[1]!.includes(ref)), [], "no order asked by both pollers");

    gateOpen();
    await eventually(async () => {
      for (const o of orders) {
        assert.equal((await watchOf(env, o.orderId)).state, "completed");
        assert.equal(eventsOf(o.orderId, "PinReceived").length, 1);
      }
    });
    assert.deepEqual(overlaps, []);
    for (const o of orders) {
      assert.equal(env.sim.checkCalls(o.reference), 1, `order ${o.reference} checked once`);
      assert.deepEqual(outcomes(o.orderId), ["done"]);
      assert.equal((await watchOf(env, o.orderId)).attempt, 1);
    }
  } finally {
    gateOpen(); // never leave poller 0 stuck, even when an assertion failed
  }
});

test("a claim whose owner crashed is taken over after its lease, and the crashed owner's late result is refused", async (t) => {
  const env = await setup(t);
  env.sim.addRule({ playerId: "fast", completeAfterMs: 0 });
  const poller = env.pollers[0]!;
  poller.relay.start();
  await poller.events.listen();
  const orphan = await sendOrder(env, "fast");
  env.clock.to((await watchOf(env, orphan.orderId)).nextCheckAt);

  // A replica claims the watch and dies before settling it.
  const [crashed] = await env.store.claimDue(env.clock.now(), "crashed-replica", LEASE_MS, 10);
  assert.ok(crashed);
  assert.equal(crashed.watch.orderId, orphan.orderId);

  // While the lease lasts, the live scheduler checks other due orders but not the held one.
  poller.scheduler.start();
  const witness = await sendOrder(env, "fast");
  env.clock.to((await watchOf(env, witness.orderId)).nextCheckAt);
  assert.ok(env.clock.ms < crashed.leaseUntil.getTime());
  await eventually(async () => assert.equal((await watchOf(env, witness.orderId)).state, "completed"));
  assert.equal(env.sim.checkCalls(orphan.reference), 0);
  assert.equal((await watchOf(env, orphan.orderId)).leaseOwner, "crashed-replica");

  // Once the lease has run out, the watch is claimable again and gets settled.
  env.clock.to(crashed.leaseUntil);
  await eventually(async () => assert.equal((await watchOf(env, orphan.orderId)).state, "completed"));
  await eventually(() => assert.equal(eventsOf(orphan.orderId, "PinReceived").length, 1));
  assert.equal(env.sim.checkCalls(orphan.reference), 1);

  // The crashed replica comes back with a stale result: it is not stored and nothing is appended.
  const stale = await env.store.complete(crashed, { ...crashed.watch, state: "review", attempt: 1 }, [], env.clock.now());
  assert.equal(stale, false);
  assert.equal((await watchOf(env, orphan.orderId)).state, "completed");
});

test("no final answer by the deadline → ReviewRequired(deadline_exceeded), never failed", async (t) => {
  const env = await setup(t);
  env.sim.addRule({ playerId: "stuck", outcome: "never" });
  env.pollers[0]!.start();
  const { orderId, sent } = await sendOrder(env, "stuck");

  const settled = await stepUntilSettled(env, orderId);
  assert.equal(settled.state, "review");
  assert.ok(env.clock.ms >= new Date(sent.occurredAt).getTime() + POLICY.deadlineMs);
  await eventually(() => assert.equal(eventsOf(orderId, "ReviewRequired").length, 1));
  const review = eventsOf(orderId, "ReviewRequired")[0]!;
  assert.equal(review.data.stage, "monitoring");
  assert.equal(review.data.reason, "deadline_exceeded");
  assert.ok(outcomes(orderId).every((o) => o === "pending"));
  assert.equal(outcomes(orderId).length, settled.attempt);
  assert.equal(eventsOf(orderId, "OrderFailed").length, 0);
  assert.equal(eventsOf(orderId, "PinReceived").length, 0);
});

test("pin_kontrol answering HTTP 500: checks go on without failing the order, and the PIN is taken once it answers", async (t) => {
  const env = await setup(t);
  env.sim.addRule({ playerId: "flaky", checkFault: "http500", completeAfterMs: 0 });
  env.pollers[0]!.start();
  const { orderId, reference } = await sendOrder(env, "flaky");

  for (let i = 1; i <= 3; i++) {
    const w = await step(env, orderId);
    assert.equal(w.state, "watching");
    assert.equal(w.unclearInRow, i);
    assert.equal(w.lastOutcome, "unknown");
  }
  env.sim.clearRules();
  const settled = await step(env, orderId);
  assert.equal(settled.state, "completed");
  await eventually(() => assert.equal(eventsOf(orderId, "PinReceived").length, 1));
  assert.deepEqual(outcomes(orderId), ["unknown", "unknown", "unknown", "done"]);
  assert.equal(env.cipher.open(eventsOf(orderId, "PinReceived")[0]!.data.pin, { orderId, reference }), env.sim.order(reference)?.pin);
  assert.equal(eventsOf(orderId, "OrderFailed").length + eventsOf(orderId, "ReviewRequired").length, 0);
  for (const e of eventsOf(orderId, "StatusChecked")) assert.ok(!JSON.stringify(e).includes(PASSWORD));
});

test("unclear replies MAX_UNCLEAR_IN_ROW times in a row → ReviewRequired(unknown_status)", async (t) => {
  const env = await setup(t);
  env.sim.addRule({ playerId: "garbled", checkFault: "garbage" });
  env.pollers[0]!.start();
  const { orderId } = await sendOrder(env, "garbled");

  const settled = await stepUntilSettled(env, orderId);
  assert.equal(settled.state, "review");
  assert.equal(settled.attempt, POLICY.maxUnclearInRow);
  await eventually(() => assert.equal(eventsOf(orderId, "ReviewRequired").length, 1));
  assert.equal(eventsOf(orderId, "ReviewRequired")[0]!.data.reason, "unknown_status");
  assert.deepEqual(outcomes(orderId), Array<string>(POLICY.maxUnclearInRow).fill("unknown"));
  assert.equal(eventsOf(orderId, "OrderFailed").length, 0);
});

test("HTTP: check-now checks a watch at once (404 unknown, 409 settled), records the operator's request, and /metrics shows the checks", async (t) => {
  const env = await setup(t);
  env.sim.addRule({ playerId: "fast", completeAfterMs: 0 });
  const poller = env.pollers[0]!;
  poller.start();
  const app = await NestFactory.create(
    AppModule.register({
      registry: poller.registry,
      readiness: { postgres: async () => void (await env.pool.query("SELECT 1")) },
      admin: { store: env.store, clock: env.clock, kick: () => poller.scheduler.kick(), logger },
    }),
    { logger: false },
  );
  const keys = new MemoryKeys();
  const operator = keys.issue("operator");
  app.use(keys.middleware());
  await app.listen(0, "127.0.0.1");
  t.after(() => app.close());
  const url = (await app.getUrl()).replace("[::1]", "127.0.0.1");
  const checkNow = (orderId: string, body: unknown = { reason: "customer says it arrived" }) =>
    fetch(`${url}/v1/watches/${orderId}/check-now`, { method: "POST", headers: { authorization: `Bearer ${operator}`, "content-type": "application/json" }, body: JSON.stringify(body) });

  const missing = await checkNow("ord-nope");
  assert.equal(missing.status, 404);
  assert.deepEqual(((await missing.json()) as { error: { code: string } }).error.code, "not_found");

  const { orderId } = await sendOrder(env, "fast");
  assert.ok((await watchOf(env, orderId)).nextCheckAt > env.clock.now(), "not due yet");
  assert.equal((await checkNow(orderId, {})).status, 400, "a reason is required");
  const res = await checkNow(orderId);
  assert.equal(res.status, 202);
  await eventually(async () => assert.equal((await watchOf(env, orderId)).state, "completed"));
  await eventually(() => assert.equal(eventsOf(orderId, "PinReceived").length, 1));

  await eventually(() => assert.equal(eventsOf(orderId, "RecheckRequested").length, 1));
  const recheck = eventsOf(orderId, "RecheckRequested")[0]!;
  assert.deepEqual(recheck.data, { operator: operator.split("_")[1], reason: "customer says it arrived", attempt: 1 });
  const closed = await checkNow(orderId);
  assert.equal(closed.status, 409);

  const metrics = await (await fetch(`${url}/metrics`)).text();
  assert.match(metrics, /pinflow_status_checks_total\{[^}]*provider="znet"[^}]*outcome="done"[^}]*\} 1/);
  assert.match(metrics, /pinflow_watch_backlog\{[^}]*\} 0/);
  assert.match(metrics, /pinflow_oldest_overdue_check_seconds\{[^}]*\} 0/);
  assert.match(metrics, /pinflow_polls_per_completed_order_count\{[^}]*\} 1/);
  assert.match(metrics, /pinflow_events_rejected_total/);
  assert.equal((await fetch(`${url}/readyz`)).status, 200);
});

test("adaptive mode: with recorded completions, checks are scheduled from the samples, and each completion is recorded", async (t) => {
  // Test-clock scale: the provider took 6–9 s on 200 earlier orders of pubg-60; 30 on another package.
  const policy: PollPolicy = { ...POLICY, maxDelayMs: 20_000 };
  const adaptive: AdaptiveSettings = { ...DEFAULT_ADAPTIVE, minGapMs: 100, reference: POLICY, maxChecksFirstHour: 10_000 };
  const polling: PollingPlan = { znet: { mode: "adaptive", policy, adaptive }, xstor: { mode: "preset", preset: "custom", policy: POLICY } };
  const history = Array.from({ length: 200 }, (_, i) => 6000 + ((i * 37) % 200) * 15);
  const env = await setup(t, {
    polling,
    seed: async (pool) => {
      // Sent one every 3 s from 30 minutes ago, each recorded when its done check ran (sent + upper).
      const samples: Array<[string, string, number, number, number]> = [];
      for (const [i, v] of history.entries()) samples.push([`ord-history-${i}`, "pubg-60", v - 200, v + 200, i * 3000]);
      // About the same times as pubg-60's: the provider's sample shows no change (drift).
      for (let i = 0; i < 30; i++) samples.push([`ord-other-${i}`, "other-pkg", 5800, 9200, i * 3000 + 1500]);
      samples.sort((a, b) => a[4] + a[3] - (b[4] + b[3]));
      for (const [orderId, pkg, lower, upper, sentOffset] of samples) {
        await pool.query(
          `INSERT INTO completion_sample (order_id, provider, package_id, lower_ms, upper_ms, recorded_at)
           VALUES ($1, 'znet', $2, $3, $4, now() - interval '30 minutes' + make_interval(secs => $5::double precision / 1000))`,
          [orderId, pkg, lower, upper, sentOffset + upper],
        );
      }
    },
  });
  env.sim.addRule({ playerId: "adaptive", completeAfterMs: 7500 });
  const poller = env.pollers[0]!;
  poller.start();

  // The scheduler loads the samples (periodically, not per check) and learns the package's schedule.
  const learnt = await eventually(() => {
    const cadence = poller.planner.cadenceFor("znet", "pubg-60");
    assert.equal(cadence.kind, "learnt");
    return (cadence as { kind: "learnt"; schedule: LearntSchedule }).schedule;
  });
  // What the learner makes of the recorded samples (with the pending watches: none yet).
  const fromStore = learnSchedules(await env.store.recentCompletions(adaptive.window), (p) => (p === "znet" ? { settings: adaptive, policy } : null), undefined, {
    pending: [],
    pendingPerKey: adaptive.window * 2,
  });
  const expected = fromStore.byPackage.get(packageKey("znet", "pubg-60"));
  assert.ok(expected);
  assert.equal(learnt.basis.scope, "package");
  // From the product-limit estimate of the 200 (survival.ts): up to where 20 orders are still seen.
  assert.equal(learnt.basis.samples, expected.basis.samples);
  assert.ok(expected.basis.samples >= 170 && expected.basis.samples <= 200, `${expected.basis.samples} samples`);
  assert.deepEqual(
    { q: learnt.quantilesMs, h: learnt.hazard, d: learnt.maxGapMs, tail: learnt.tailFromMs },
    { q: expected.quantilesMs, h: expected.hazard, d: expected.maxGapMs, tail: expected.tailFromMs },
    "the schedule the samples give",
  );
  // A package with too few samples of its own follows the provider's (its 230 samples).
  const other = poller.planner.cadenceFor("znet", "other-pkg");
  assert.ok(other.kind === "learnt" && other.schedule.basis.scope === "provider");
  assert.equal(other.schedule.basis.samples, fromStore.byProvider.get("znet")?.basis.samples);
  assert.ok(other.schedule.basis.samples > 200, "the provider's 230 samples");

  const { orderId, sent } = await sendOrder(env, "adaptive");
  const sentAt = new Date(sent.occurredAt).getTime();
  const within = (actualMs: number, gapMs: number): boolean => actualMs >= Math.floor(gapMs * 0.9) && actualMs <= Math.ceil(gapMs * 1.1);

  // The first check: where the samples say orders start finishing (~6 s), not the preset's 1 s.
  const first = await watchOf(env, orderId);
  const firstGap = learntGapMs(learnt, 0);
  assert.ok(firstGap >= 5000, `learnt first gap ${firstGap}`);
  assert.ok(within(first.nextCheckAt.getTime() - sentAt, firstGap), `first check after ${first.nextCheckAt.getTime() - sentAt} ms, learnt gap ${firstGap}`);

  // Each next check: the learnt gap from the time waited.
  let w = first;
  const pendingAt: number[] = [];
  while (w.state === "watching") {
    const checkAt = w.nextCheckAt.getTime();
    w = await step(env, orderId);
    if (w.state !== "watching") break;
    pendingAt.push(checkAt - sentAt);
    const gap = learntGapMs(learnt, checkAt - sentAt);
    assert.ok(within(w.nextCheckAt.getTime() - checkAt, gap), `next check after ${w.nextCheckAt.getTime() - checkAt} ms, learnt gap ${gap}`);
  }
  assert.equal(w.state, "completed");
  assert.ok(pendingAt.length >= 1, "at least one pending check before done");

  // The completion is recorded: pending at the last pending check, done at the done check.
  const doneAt = env.clock.ms - sentAt;
  const rows = await env.pool.query<{ provider: string; package_id: string; lower_ms: string; upper_ms: string }>(
    "SELECT provider, package_id, lower_ms, upper_ms FROM completion_sample WHERE order_id = $1",
    [orderId],
  );
  assert.equal(rows.rows.length, 1);
  const row = rows.rows[0]!;
  assert.deepEqual(
    { provider: row.provider, packageId: row.package_id, lower: Number(row.lower_ms), upper: Number(row.upper_ms) },
    { provider: "znet", packageId: "pubg-60", lower: pendingAt.at(-1), upper: doneAt },
  );
  assert.ok(Number(row.lower_ms) < 7500 && Number(row.upper_ms) >= 7500, "the interval holds the provider's completion time");
  assert.equal((await env.store.recentCompletions(2000)).length, 231);
});

test("completion samples are kept to a window per (provider, package)", async (t) => {
  const env = await setup(t, { pollers: 0 });
  for (let i = 0; i < 25; i++) {
    for (const pkg of ["a", "b"]) {
      await env.pool.query(
        `INSERT INTO completion_sample (order_id, provider, package_id, lower_ms, upper_ms, recorded_at) VALUES ($1, 'znet', $2, $3, $3, now())`,
        [`ord-${pkg}-${i}`, pkg, i],
      );
    }
  }
  assert.equal(await env.store.trimCompletions(10), 30);
  const recent = await env.store.recentCompletions(10);
  assert.equal(recent.length, 20);
  assert.deepEqual(
    recent.filter((r) => r.packageId === "a").map((r) => r.upperMs),
    [24, 23, 22, 21, 20, 19, 18, 17, 16, 15],
    "the newest ten, newest first",
  );
  assert.equal((await env.store.recentCompletions(3)).length, 6);
  // When the done check ran (recorded_at), so the learner can tell when the order was sent.
  const at = await env.pool.query<{ recorded_at: Date }>("SELECT recorded_at FROM completion_sample WHERE order_id = 'ord-a-24'");
  assert.equal(recent.find((r) => r.packageId === "a")!.doneAtMs, at.rows[0]!.recorded_at.getTime());
});

test("the pending watches for the learner: per (provider, package) the most recently sent, with their last pending check", async (t) => {
  const env = await setup(t, { pollers: 0 });
  const base = env.clock.now().getTime();
  const ids: string[] = [];
  for (let i = 0; i < 5; i++) {
    const orderId = `ord-${randomUUID()}`;
    ids.push(orderId);
    const sentAt = new Date(base + i * 1000);
    const sent = makeEvent(
      "OrderSent",
      { orderId, correlationId: `corr-${orderId}`, causationId: null },
      { packageId: i < 4 ? "pubg-60" : "pubg-325", provider: "znet", reference: `ref-${i}`, cost: null, balance: null, providerOrderId: null },
      sentAt,
    );
    assert.ok(await env.store.insertWatch(newWatch(sent, { ...DEFAULT_POLICY }, 0.5), sentAt));
  }
  // The newest of pubg-60 had a check that said pending 30 s after it was sent; the oldest is done (not pending).
  await env.pool.query("UPDATE watch SET last_pending_at = sent_at + interval '30 seconds' WHERE order_id = $1", [ids[3]]);
  await env.pool.query("UPDATE watch SET state = 'completed' WHERE order_id = $1", [ids[0]]);
  const pending = await env.store.pendingWatches(2);
  const byPackage = (pkg: string) => pending.filter((p) => p.packageId === pkg).sort((a, b) => b.sentAtMs - a.sentAtMs);
  assert.deepEqual(
    byPackage("pubg-60").map((p) => ({ sentAtMs: p.sentAtMs, lowerMs: p.lowerMs })),
    [
      { sentAtMs: base + 3000, lowerMs: 30_000 },
      { sentAtMs: base + 2000, lowerMs: 0 },
    ],
    "the two most recently sent, with the age of the last pending check (0: none yet)",
  );
  assert.deepEqual(byPackage("pubg-325").map((p) => p.sentAtMs), [base + 4000]);
  assert.equal((await env.store.pendingWatches(10)).length, 4, "the completed watch is not pending");
});

test("an OrderSent whose reference holds NUL (the database refuses it) is dead-lettered after bounded failures: ReviewRequired(monitoring), later orders are watched", async (t) => {
  const env = await setup(t);
  env.pollers[0]!.start();
  const orderId = `ord-${randomUUID()}`;
  const poison = makeEvent(
    "OrderSent",
    { orderId, correlationId: `corr-${orderId}`, causationId: null },
    { packageId: "pubg-60", provider: "znet", reference: "12\u000034", cost: null, balance: null, providerOrderId: null },
    env.clock.now(),
  );
  await bus.publisher.publish(poison, { msgId: factMsgId(poison), once: true });
  await sendOrder(env, "player-after-nul");
  await eventually(() => assert.equal(eventsOf(orderId, "ReviewRequired").length, 1), 30_000);
  const review = eventsOf(orderId, "ReviewRequired")[0]!;
  assert.equal(review.data.stage, "monitoring");
  assert.equal(review.data.reason as string, "unprocessable_event");
  assert.equal(await env.store.get(orderId), null);
  const letters = await env.pool.query<{ event_type: string; error: string }>("SELECT event_type, error FROM dead_letter WHERE order_id = $1", [orderId]);
  assert.equal(letters.rows.length, 1);
  assert.equal(letters.rows[0]!.event_type, "OrderSent");
});
