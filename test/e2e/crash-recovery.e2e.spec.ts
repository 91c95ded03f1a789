import { after, before, describe, test } from "node:test";
import { randomUUID } from "node:crypto";
import type { ServiceName } from "../support/paths.js";
import { TestSystem } from "../support/system.js";

/**
 * Delivery is at-least-once and every handler is idempotent, so killing any one
 * service with SIGKILL in the middle of a run loses no order and buys none twice.
 */
describe("killing and restarting any one service mid-run loses no order", () => {
  const system = new TestSystem({ znet: { completeAfterMs: () => 300 + Math.floor(Math.random() * 900) } });

  before(async () => {
    await system.start();
  });
  after(async () => {
    await system.stop();
  });

  for (const victim of ["dispatcher", "status-poller", "orders"] as ServiceName[]) {
    test(`SIGKILL of ${victim} while orders are in flight`, async () => {
      const players: string[] = [];
      const orderIds: string[] = [];
      const place = async (n: number) => {
        for (let i = 0; i < n; i++) {
          const playerId = `k${randomUUID().replace(/-/g, "").slice(0, 10)}`;
          players.push(playerId);
          orderIds.push(await system.createOrder({ packageId: "pubg-60", playerId }, { "idempotency-key": playerId }));
        }
      };
      await place(6);
      await system.services[victim].kill("SIGKILL");
      if (victim !== "orders") await place(6); // the API keeps taking orders while a worker is down
      system.services[victim].start();
      await system.services[victim].waitReady();
      await place(3);

      await system.expectCompletedAndPlacedOnce(orderIds, players);
    });
  }
});
