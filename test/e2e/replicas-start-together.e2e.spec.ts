import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { TestSystem } from "../support/system.js";

/**
 * Replicas start together: two processes of every service, all six started at the same moment on
 * fresh databases and a fresh nats-server (each creates the schema, the stream, its consumers and
 * its provider gate). Every one must become ready, and an order then completes with its PIN.
 */
const ROUNDS = 3;

describe("two processes of every service started at the same moment on a fresh system", () => {
  for (let round = 1; round <= ROUNDS; round++) {
    test(`round ${round}: all six become ready and an order completes with its PIN`, async () => {
      const system = new TestSystem({ processesPerService: 2, env: { orders: { LOG_LEVEL: "info" }, dispatcher: { LOG_LEVEL: "info" }, "status-poller": { LOG_LEVEL: "info" } } });
      try {
        await system.start();
        const all = [...Object.values(system.services), ...system.replicas];
        assert.equal(all.length, 6);
        for (const p of all) assert.ok(p.running, `${p.name} (${p.logFile}) is running`);
        const orderId = await system.createOrder({ packageId: "pubg-60", playerId: `p-twins-${round}` });
        const order = await system.waitForStatus(orderId, "completed", 30_000);
        const [reference] = system.znet.referencesFor(`p-twins-${round}`);
        assert.equal(order.pin, system.znet.order(reference!)!.pin);
        assert.equal(system.znet.placements(reference!), 1, "placed once");
        assert.doesNotMatch(system.allLogs(), /failed to start/, "no process failed to start");
      } finally {
        await system.stop();
        system.cleanLogs();
      }
    });
  }
});
