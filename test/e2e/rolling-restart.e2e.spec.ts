import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import type { ServiceName } from "../support/paths.js";
import { FAST_POLLING, FAST_REDELIVERY, TestSystem } from "../support/system.js";

/**
 * A rolling restart as an orchestrator does it: orders keep coming while each service in turn gets
 * SIGTERM and is started again. A clean stop takes no new message, settles what it holds (acked
 * after the handler's commit), publishes its outbox and exits within SHUTDOWN_TIMEOUT_MS; so no
 * order is lost, none is placed twice, and no consumer is given a message again (a message acked
 * only after its commit, and not lost to a stop, is never redelivered).
 */
const ROOMY_LIMITS = { ZNET_RATE_PER_SEC: "500", ZNET_CONCURRENCY: "64" };

describe("rolling restart: every service gets SIGTERM mid-run, one after the other", () => {
  const quick = { ...FAST_REDELIVERY, SHUTDOWN_TIMEOUT_MS: "15000" };
  const system = new TestSystem({
    znet: { completeAfterMs: () => 300 + Math.floor(Math.random() * 900) },
    env: {
      orders: quick,
      // Provider limits far above this load: no order is handed back to wait (a nak is a redelivery
      // by design), so any redelivery would be a message a stopping process left unsettled.
      dispatcher: { ...quick, ...ROOMY_LIMITS },
      "status-poller": { ...FAST_POLLING, ...quick, ...ROOMY_LIMITS },
    },
  });

  before(async () => {
    await system.start();
  });
  after(async () => {
    await system.stop();
  });

  test("orders flowing through SIGTERM and restart of dispatcher, status-poller and orders: none lost, none placed twice, none redelivered", async () => {
    const players: string[] = [];
    const orderIds: string[] = [];
    let flowing = true;
    /** One order after the other; while the orders service is away the same request is tried again (same idempotency key). */
    const flow = (async () => {
      while (flowing) {
        const playerId = `r${randomUUID().replace(/-/g, "").slice(0, 10)}`;
        for (;;) {
          try {
            orderIds.push(await system.createOrder({ packageId: "pubg-60", playerId }, { "idempotency-key": playerId }));
            players.push(playerId);
            break;
          } catch {
            await new Promise((r) => setTimeout(r, 200));
          }
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    })();

    const victims: ServiceName[] = ["dispatcher", "status-poller", "orders"];
    try {
      for (const victim of victims) {
        const before = orderIds.length;
        // Let orders reach every stage before the stop.
        while (orderIds.length < before + 8) await new Promise((r) => setTimeout(r, 100));
        await system.services[victim].kill("SIGTERM");
        system.services[victim].start();
        await system.services[victim].waitReady();
      }
      const beforeEnd = orderIds.length;
      while (orderIds.length < beforeEnd + 5) await new Promise((r) => setTimeout(r, 100));
    } finally {
      flowing = false;
      await flow;
    }

    assert.ok(orderIds.length >= 29, `orders flowed throughout (${orderIds.length})`);
    await system.expectCompletedAndPlacedOnce(orderIds, players);

    // Each stop was clean and within its bound.
    for (const victim of victims) {
      const log = system.services[victim].readLog();
      assert.equal(log.match(/"msg":"shutting down"/g)?.length, 1, `${victim} was asked to stop once`);
      assert.equal(log.match(/"msg":"stopped"/g)?.length, 1, `${victim} stopped cleanly`);
      assert.doesNotMatch(log, /shutdown took longer than its bound/);
    }

    // No consumer was given a message again: what a stopping process held was acked after its
    // commit, never left to come back after the ack wait. (The restarted processes have run for
    // longer than the 3 s ack wait since the last stop, so a lost ack would have come back by now.)
    for (const service of ["dispatcher", "status-poller"] as const) {
      const metrics = await (await fetch(`${system.services[service].url}/metrics`)).text();
      const redelivered = [...metrics.matchAll(/^pinflow_events_redelivered_total\{([^}]*)\} (\d+)/gm)].filter((m) => Number(m[2]) > 0).map((m) => m[0]);
      assert.deepEqual(redelivered, [], `${service}: no message delivered twice (logs: ${system.logDir})`);
      assert.match(metrics, /^pinflow_consumer_pending\{durable="[^"]+",service="[^"]+"\} 0$/m, `${service}: its durable is caught up`);
    }
  });
});
