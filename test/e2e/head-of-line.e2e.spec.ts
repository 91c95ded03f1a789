import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eventually } from "@pinflow/testkit";
import { CATALOG_FILE } from "../support/paths.js";
import { TestSystem } from "../support/system.js";

/**
 * No head-of-line blocking with every service as its own process: znet stalls (its placements
 * never answer while the test runs; the client would wait 10 minutes), and orders of a package sold
 * through x-stor still go all the way to `completed` with their PINs. The stalled provider holds
 * only its own slots (ZNET_CONCURRENCY) of the dispatcher's concurrent handlers.
 */
const player = (prefix: string) => `${prefix}${randomUUID().replace(/-/g, "").slice(0, 12)}`;
const ZNET_CONCURRENCY = 2;

/** config/catalog.json plus a package sold only through x-stor. */
const dir = mkdtempSync(join(tmpdir(), "pinflow-e2e-hol-"));
const catalogFile = join(dir, "catalog.json");
const catalog = JSON.parse(readFileSync(CATALOG_FILE, "utf8")) as { packages: { id: string; offers: { provider: string }[] }[] };
const pubg = catalog.packages.find((p) => p.id === "pubg-60")!;
catalog.packages.push({ ...pubg, id: "xstor-pubg-60", offers: pubg.offers.filter((o) => o.provider === "xstor") } as (typeof catalog.packages)[number]);
writeFileSync(catalogFile, JSON.stringify(catalog));

describe("a stalled provider does not keep another provider's orders from completing", () => {
  const system = new TestSystem({
    xstor: true,
    env: {
      orders: { CATALOG_FILE: catalogFile },
      dispatcher: {
        CATALOG_FILE: catalogFile,
        // A znet call stays in flight for the whole test: only concurrency can let x-stor orders by.
        ZNET_TIMEOUT_MS: "600000",
        ZNET_CONCURRENCY: String(ZNET_CONCURRENCY),
        ZNET_RATE_PER_SEC: "50",
        XSTOR_RATE_PER_SEC: "50",
        GATE_MAX_WAIT_MS: "500",
      },
    },
  });

  before(async () => {
    await system.start();
  });
  after(async () => {
    // Drop the hanging znet requests first, so the dispatcher's handlers settle and it stops at once.
    await system.znet.stop();
    await system.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const znetPlacesFor = (players: string[]) =>
    system.znet.requestLog().filter((l) => l.includes("pin_ekle") && players.some((p) => l.includes(`oyuncu_bilgi=${p}`))).length;

  test("znet placements hang: x-stor orders placed after them complete with their PINs, znet holds only its own slots", async () => {
    const stalled = Array.from({ length: 8 }, () => player("stall"));
    for (const p of stalled) system.znet.addRule({ playerId: p, placeFault: "hang" });
    const znetOrders: string[] = [];
    for (const p of stalled) znetOrders.push(await system.createOrder({ packageId: "pubg-60", playerId: p }));
    // Wait for outcomes, not time: every znet slot holds a hanging request before the x-stor orders arrive.
    await eventually(() => assert.ok(znetPlacesFor(stalled) >= ZNET_CONCURRENCY, "every znet slot is taken"), 60_000);

    const xstorOrders: string[] = [];
    for (let i = 0; i < 6; i++) xstorOrders.push(await system.createOrder({ packageId: "xstor-pubg-60", playerId: player("fast") }));
    for (const id of xstorOrders) {
      const done = await system.waitForStatus(id, "completed", 90_000);
      assert.match(done.pin ?? "", /\S/, "completed with its PIN");
      assert.equal(done.provider, "xstor");
    }

    assert.equal(znetPlacesFor(stalled), ZNET_CONCURRENCY, "znet never got more requests than its slots");
    for (const id of znetOrders) assert.notEqual((await system.getOrder(id)).status, "completed", "the znet orders are still waiting for their answers");
  });
});
