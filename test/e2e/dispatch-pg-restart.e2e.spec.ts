import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { readOrderHistory } from "@pinflow/bus";
import { eventually, PrivatePostgres } from "@pinflow/testkit";
import { compareCliRebuild } from "../chaos/chaos-checks.js";
import { TestSystem } from "../support/system.js";

/**
 * Found by the chaos run: PostgreSQL goes down while a place request is in flight, so the dispatcher
 * cannot commit the provider's answer. The answer must not reach the stream either (the stream would
 * say "refused, next offer" while the row stays placing, is reconciled and placed again): what the
 * stream says and what the dispatcher's row says stay one story, and a rebuild gives the live row.
 */
describe("PostgreSQL restarts while a place request is in flight", () => {
  const postgres = new PrivatePostgres();
  let system: TestSystem;

  before(async () => {
    await postgres.start();
    system = new TestSystem({
      pgAdminUrl: postgres.adminUrl,
      xstor: true,
      env: { dispatcher: { ZNET_TIMEOUT_MS: "10000", RECONCILE_BASE_MS: "200", RECONCILE_MAX_DELAY_MS: "1000", RECONCILE_MAX_TRIES: "8" } },
    });
    await system.start();
  });
  after(async () => {
    await system?.stop();
    await postgres.destroy();
  });

  test("a refusal that arrives while the database is down: the stream and the row agree, the rebuilt row equals the live one", async () => {
    const playerId = `pgdown${randomUUID().replace(/-/g, "").slice(0, 10)}`;
    // znet refuses for lack of balance (a fallback reason), but only 3 s after the request arrived.
    system.znet.addRule({ playerId, placeReply: "8|Yetersiz bakiye", placeReplyDelayMs: 3_000 });
    const orderId = await system.createOrder({ packageId: "pubg-60", playerId });
    await eventually(() => assert.equal(system.znet.placedReferences().length, 1, "the place request arrived"), 30_000, 20);
    await postgres.stop("immediate");
    await new Promise((r) => setTimeout(r, 6_000)); // the refusal arrives; its commit fails
    system.znet.clearRules(); // from now on znet accepts this player
    await postgres.start();

    const order = await system.waitForStatus(orderId, "completed", 120_000);
    assert.ok(order.pin);
    const [reference] = system.znet.placedReferences();
    assert.equal(system.znet.placements(reference!), 1, "placed once");
    assert.deepEqual(system.xstor.placedReferences(), [], "never at x-stor: the row did not fall back, so the stream must not say it did");

    const nc = await system.connectNats("admin", "e2e-pg-restart");
    try {
      const answers = (await readOrderHistory(nc, system.names, orderId)).flatMap((m) => (m.ok && m.event.type === "PlacementAnswered" ? [m.event.data] : []));
      assert.ok(!answers.some((a) => JSON.stringify(a).includes("Yetersiz")), `no refusal on the stream that the row never committed: ${JSON.stringify(answers)}`);
    } finally {
      await nc.close();
    }
    await system.services.dispatcher.kill("SIGTERM");
    const diff = await compareCliRebuild(system, "dispatcher", "rebuild-rows.js", "dispatch", ["version", "updated_at", "lease_until", "next_try_at"], () => undefined, new Map());
    assert.deepEqual(diff.examples, [], "the rebuilt dispatch row equals the live one");
    system.services.dispatcher.start();
    await system.services.dispatcher.waitReady();
  });
});
