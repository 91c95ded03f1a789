/**
 * What an image contains actually runs: scripts/service-bundle.sh writes each service's `pnpm deploy`
 * output (production dependencies only) outside the repository, and the three services run from
 * there — their own node_modules, migrations and catalog — through an order to its PIN.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { REPO_ROOT, type ServiceName } from "../support/paths.js";
import { TestSystem } from "../support/system.js";

describe("the pnpm deploy bundle of each service runs an order end to end", () => {
  const bundles = mkdtempSync(join(tmpdir(), "pinflow-bundles-"));
  const entry = (name: ServiceName) => join(bundles, name, "dist/start.js");
  const catalog = join(bundles, "orders", "config/catalog.json");
  let system: TestSystem;

  before(async () => {
    execFileSync("bash", [resolve(REPO_ROOT, "scripts/service-bundle.sh"), bundles], { cwd: REPO_ROOT, stdio: "pipe", timeout: 180_000 });
    // The bundle's own catalog (a ConfigMap in Kubernetes), not the repository's.
    const own = { CATALOG_FILE: catalog };
    system = new TestSystem({ serviceEntry: entry, env: { orders: own, dispatcher: own, "status-poller": {} } });
    await system.start();
  });
  after(async () => {
    await system?.stop();
    rmSync(bundles, { recursive: true, force: true });
  });

  test("each bundle stands alone: production dependencies only, no sources, no tests, no workspace links", () => {
    for (const name of ["orders", "dispatcher", "status-poller"] as const) {
      const dir = join(bundles, name);
      assert.ok(existsSync(entry(name)), `${name}: dist/start.js`);
      assert.ok(existsSync(join(dir, "migrations")), `${name}: its migrations`);
      assert.ok(existsSync(join(dir, "node_modules/@opentelemetry/sdk-node")) || existsSync(join(dir, "node_modules/@pinflow/telemetry")), `${name}: telemetry`);
      assert.ok(!existsSync(join(dir, "src")), `${name}: no sources`);
      assert.ok(!existsSync(join(dir, "node_modules/@pinflow/testkit")), `${name}: no test kit (a dev dependency)`);
      assert.ok(!existsSync(join(dir, "node_modules/typescript")), `${name}: no compiler`);
      assert.ok(!existsSync(join(dir, "node_modules/@pinflow/bus/dist/bus.int.spec.js")), `${name}: no compiled tests in its packages`);
    }
  });

  test("an order placed through the bundled services completes with its PIN", async () => {
    const playerId = `b${randomUUID().replace(/-/g, "").slice(0, 12)}`;
    const orderId = await system.createOrder({ packageId: "pubg-60", playerId });
    const order = await system.waitForStatus(orderId, "completed", 30_000);
    const [reference] = system.znet.referencesFor(playerId);
    assert.equal(order.pin, system.znet.order(reference!)!.pin);
    // The services ran from the bundles, not the repository.
    for (const name of ["orders", "dispatcher", "status-poller"] as const) assert.equal(system.services[name].entry, entry(name));
  });
});
