/**
 * The status-poller's rows are a projection of the order stream (DESIGN.md I5, issue 8): against REAL
 * PostgreSQL, a private nats-server and the znet simulator, the poller (virtual clock) follows orders
 * to every watch state (completed, completed in the place reply, failed, review, still watching);
 * then the rows rebuilt from the stream into a new, empty database equal the live ones.
 *
 * Compared: every column that is a fact. Left out, because they are not facts and a rebuild derives
 * them (watch-fold.ts): `next_check_at` (the live one has random jitter; the rebuilt one is the
 * un-jittered due time), `lease_owner`/`lease_until` (none after a rebuild), `created_at`/`updated_at`
 * (the live ones are the times the rows were written), and `completion_sample.id` (a sequence).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { factMsgId, makeEvent } from "@pinflow/bus";
import { ProviderGate, type ProviderLimits } from "@pinflow/limits";
import type { Pool } from "@pinflow/pg";
import { ZnetClient } from "@pinflow/providers";
import { generatePinKeyring, PinCipher } from "@pinflow/secrets";
import { ZnetSimulator } from "@pinflow/test/simulators/znet";
import { eventually } from "@pinflow/testkit";
import { PgWatchStore } from "./pg-watch-store.js";
import type { PollPolicy } from "./poll.js";
import { createPollerDatabase, logger, referenceFactory, TestClock, useEventStream, watchOf, TEST_NAMES } from "./poller.test-harness.js";
import { rebuildWatchRows } from "./rebuild.js";
import { createPollerRuntime } from "./runtime.js";
import { ZnetStatusChecker } from "./status-checker.js";
import type { WatchRow } from "./watch-store.js";

const CODE = "5550004444";
const PASSWORD = "replay-s3cret";
const LEASE_MS = 10_000;
const LIMITS: ProviderLimits = { ratePerSec: 1000, burst: 1000, concurrency: 32, slotLeaseMs: LEASE_MS, circuit: { threshold: 10, cooldownMs: 2000, maxCooldownMs: 10_000 } };
/** 1 s, then 1 s, 2 s, 4 s, 4 s …; review after 60 s or 4 unclear replies. */
const POLICY: PollPolicy = { firstDelayMs: 1000, delaysMs: [1000, 2000], growth: 2, maxDelayMs: 4000, jitter: 0.1, deadlineMs: 60_000, maxUnclearInRow: 4 };

const bus = useEventStream("status-poller-replay-test");
const newReference = referenceFactory(4);

/** Derived columns (see the header): not compared. */
const DERIVED = ["next_check_at", "lease_owner", "lease_until", "created_at", "updated_at"];

async function watchFacts(pool: Pool): Promise<Record<string, unknown>[]> {
  const r = await pool.query<Record<string, unknown>>("SELECT * FROM watch ORDER BY order_id");
  return r.rows.map((row) => Object.fromEntries(Object.entries(row).filter(([k]) => !DERIVED.includes(k))));
}

async function sampleFacts(pool: Pool): Promise<Record<string, unknown>[]> {
  const r = await pool.query<Record<string, unknown>>("SELECT order_id, provider, package_id, lower_ms, upper_ms, recorded_at FROM completion_sample ORDER BY id");
  return r.rows;
}

test("watches and completion samples rebuilt from the stream into an empty database equal the live ones", async (t) => {
  const { pool, drop } = await createPollerDatabase("poller_replay_a");
  t.after(drop);
  const clock = new TestClock(Date.now());
  const sim = new ZnetSimulator({ code: CODE, password: PASSWORD, now: () => clock.ms, completeAfterMs: 2500 });
  const client = new ZnetClient({ baseUrl: await sim.start(), code: CODE, password: PASSWORD, timeoutMs: 2000 });
  t.after(() => sim.stop());
  const cipher = new PinCipher(generatePinKeyring());
  const gate = new ProviderGate(pool, { znet: LIMITS }, () => clock.now());
  await gate.ensure();
  const poller = await createPollerRuntime({
    pool,
    nc: bus.nc,
    names: TEST_NAMES,
    logger,
    clock,
    gate,
    checkers: [new ZnetStatusChecker(client, cipher)],
    settings: { pollerId: "replay-0", policy: POLICY, tickMs: 20, claimBatch: 10, concurrency: 4, leaseMs: LEASE_MS, checkTimeoutMs: 2000, relayIntervalMs: 50 },
  });
  let stopped = false;
  t.after(async () => {
    if (!stopped) await poller.stop();
  });
  const store = new PgWatchStore(pool);
  poller.start();

  async function sendOrder(playerId: string, pinInPlaceReply = false): Promise<string> {
    const reference = newReference();
    const placed = await client.place({ reference, productCode: { oyun: "101", kupur: "60" }, playerId, extra: null });
    assert.equal(placed.kind, "accepted");
    const orderId = `ord-${randomUUID()}`;
    const sent = makeEvent(
      "OrderSent",
      { orderId, correlationId: `corr-${orderId}`, causationId: null },
      { packageId: "pubg-60", provider: "znet", reference, cost: placed.kind === "accepted" ? placed.cost : null, balance: null, providerOrderId: null, ...(pinInPlaceReply ? { pinInPlaceReply } : {}) },
      clock.now(),
    );
    await bus.publisher.publish(sent, { msgId: factMsgId(sent), once: true });
    await eventually(async () => assert.ok(await store.get(orderId), "watch row inserted"));
    return orderId;
  }

  async function step(orderId: string): Promise<WatchRow> {
    const before = await watchOf({ store }, orderId);
    assert.equal(before.state, "watching");
    clock.to(before.nextCheckAt);
    poller.scheduler.kick();
    return eventually(async () => {
      const w = await watchOf({ store }, orderId);
      assert.ok(w.attempt > before.attempt, `check ${before.attempt + 1} stored`);
      return w;
    });
  }

  async function stepUntilSettled(orderId: string): Promise<WatchRow> {
    for (let i = 0; i < 40; i++) {
      const w = await step(orderId);
      if (w.state !== "watching") return w;
    }
    assert.fail(`watch ${orderId} still watching after 40 checks`);
  }

  sim.addRule({ playerId: "cancel-me", outcome: "cancel", completeAfterMs: 0 });
  sim.addRule({ playerId: "unclear", checkFault: "http500" });
  sim.addRule({ playerId: "never", outcome: "never" });

  const completed = await sendOrder("player-done");
  assert.equal((await stepUntilSettled(completed)).state, "completed");
  const inReply = await sendOrder("player-in-reply", true);
  assert.equal((await watchOf({ store }, inReply)).state, "completed");
  const failed = await sendOrder("cancel-me");
  assert.equal((await stepUntilSettled(failed)).state, "failed");
  const review = await sendOrder("unclear");
  assert.equal((await stepUntilSettled(review)).state, "review");
  const watching = await sendOrder("never");
  await step(watching);
  const still = await step(watching);
  assert.equal(still.state, "watching");
  assert.equal(still.lastOutcome, "pending");

  // Every event the poller wrote is on the stream before the snapshot.
  const orders = [completed, inReply, failed, review, watching];
  await eventually(async () => {
    for (const orderId of orders) {
      const w = await watchOf({ store }, orderId);
      const checks = bus.events.filter((e) => e.orderId === orderId && e.type === "StatusChecked").length;
      assert.equal(checks, w.attempt, `${orderId}: every check on the stream`);
    }
    assert.equal(bus.eventsOf(completed, "PinReceived").length, 1);
    assert.equal(bus.eventsOf(failed, "OrderFailed").length, 1);
    assert.equal(bus.eventsOf(review, "ReviewRequired").length, 1);
  });
  await poller.stop();
  stopped = true;

  const liveWatches = await watchFacts(pool);
  const liveSamples = await sampleFacts(pool);
  assert.deepEqual(liveWatches.map((w) => w.state).sort(), ["completed", "completed", "failed", "review", "watching"]);
  assert.equal(liveSamples.length, 1, "the completed order's time to done was recorded");

  // Drop the database: rebuild into a new, empty one from the stream alone.
  const rebuilt = await createPollerDatabase("poller_replay_b");
  t.after(rebuilt.drop);
  const result = await rebuildWatchRows(rebuilt.pool, bus.nc, TEST_NAMES, () => POLICY, logger);
  assert.deepEqual(result, { orders: 5, watches: 5, samples: 1, malformed: 0 });
  assert.deepEqual(await watchFacts(rebuilt.pool), liveWatches);
  assert.deepEqual(await sampleFacts(rebuilt.pool), liveSamples);

  // The derived next check of the still-watching order: the un-jittered due time after its last check.
  const last = bus.eventsOf(watching, "StatusChecked").sort((a, b) => a.data.attempt - b.data.attempt).at(-1)!;
  const rebuiltWatching = await new PgWatchStore(rebuilt.pool).get(watching);
  assert.equal(rebuiltWatching?.nextCheckAt.getTime(), new Date(last.occurredAt).getTime() + POLICY.delaysMs[1]!);
  assert.equal(rebuiltWatching?.leaseOwner, null);
});
