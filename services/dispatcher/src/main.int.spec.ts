/**
 * The process and its HTTP shell: `node dist/main.js` with a real environment (PostgreSQL, a private
 * nats-server, the znet simulator), and the Nest module's admin endpoint edge cases in-process.
 */
import "reflect-metadata";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { NestFactory } from "@nestjs/core";
import type { NestExpressApplication } from "@nestjs/platform-express";
import { jetstreamManager } from "@nats-io/jetstream";
import { createKeyTablesForTests, MemoryKeys, PgKeyStore } from "@pinflow/auth";
import { connectNats, decodeEvent, ensureOrderStream, EventPublisher, makeEvent, type NatsConnection } from "@pinflow/bus";
import { eventNames, type ProviderName } from "@pinflow/contracts";
import { ZnetClient } from "@pinflow/providers";
import { createPool } from "@pinflow/pg";
import { generatePinKeyring } from "@pinflow/secrets";
import { ZnetSimulator } from "@pinflow/test/simulators/znet";
import { eventually, freePort, TestDatabase, TestNatsServer } from "@pinflow/testkit";
import pino from "pino";
import { Registry } from "prom-client";
import type { GateDecision, GateStatus } from "@pinflow/limits";
import { AppModule, type AppDeps } from "./app.module.js";
import { Balances } from "./balances.js";
import { OPEN_GATE, type CallGate } from "./gate.js";
import { DispatchMetrics } from "./metrics.js";
import type { DispatchStore, ProviderAccess } from "./dispatch-store.js";
import type { ProviderControl } from "./providers.controller.js";
import { providerRegistry, ZnetProvider, type ProviderRegistry } from "./providers.js";

const CODE = "5550002222";
const PASSWORD = "main-Şifre#42";
const MAIN = fileURLToPath(new URL("./main.js", import.meta.url));
const CATALOG = fileURLToPath(new URL("../../../config/catalog.json", import.meta.url));
const logger = pino({ level: "silent" });
const names = eventNames("main-test");

describe("dispatcher process (node dist/main.js)", () => {
  const nats = new TestNatsServer();
  const db = new TestDatabase("dispatcher_main");
  const sim = new ZnetSimulator({ code: CODE, password: PASSWORD, completeAfterMs: 600_000 });
  const dir = mkdtempSync(join(tmpdir(), "pinflow-dispatcher-"));
  let child: ChildProcess;
  let output = "";
  let base = "";
  let nc: NatsConnection;
  /** An operator key in the key tables the process reads (AUTH_DATABASE_URL: here its own database). */
  let operator = "";

  before(async () => {
    await nats.start();
    await db.create();
    const keyPool = createPool(db.url, 1);
    await createKeyTablesForTests(keyPool);
    operator = (await new PgKeyStore(keyPool).issue({ role: "operator", tenantId: null })).token;
    await keyPool.end();
    const znetUrl = await sim.start();
    const passwordFile = join(dir, "znet-password");
    writeFileSync(passwordFile, `${PASSWORD}\n`);
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    child = spawn(process.execPath, [MAIN], {
      env: {
        PATH: process.env.PATH ?? "",
        NATS_URL: nats.url,
        PINFLOW_ENV: names.environment,
        DATABASE_URL: db.url,
        AUTH_DATABASE_URL: db.url,
        HTTP_PORT: String(port),
        HTTP_HOST: "127.0.0.1",
        CATALOG_FILE: CATALOG,
        PIN_KEYS: generatePinKeyring(),
        ZNET_BASE_URL: znetUrl,
        ZNET_CODE: CODE,
        ZNET_PASSWORD_FILE: passwordFile,
        ZNET_TIMEOUT_MS: "2000",
        // No product list is imported here: the operator allows znet's unknown prices explicitly.
        ZNET_ALLOW_UNKNOWN_PRICE: "true",
        LOG_LEVEL: "debug",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stdout?.on("data", (b: Buffer) => (output += b.toString("utf8")));
    child.stderr?.on("data", (b: Buffer) => (output += b.toString("utf8")));
    nc = await connectNats({ servers: nats.url, name: "dispatcher-main-test", logger });
    await ensureOrderStream(nc, names);
  });

  after(async () => {
    if (child.exitCode === null) child.kill("SIGKILL");
    await nc?.close();
    await sim.stop();
    await db.drop();
    await nats.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it("gets ready, answers the balance, dispatches an order, never prints the password, and stops on SIGTERM", async () => {
    await eventually(async () => {
      const res = await fetch(`${base}/readyz`);
      assert.equal(res.status, 200, output.slice(-2000));
      assert.deepEqual(await res.json(), { status: "ok", checks: { nats: "ok", postgres: "ok", apiKeys: "ok" } });
    }, 20_000);

    assert.equal((await fetch(`${base}/v1/providers/znet/balance`)).status, 401, "no key, no balance");
    const balance = await fetch(`${base}/v1/providers/znet/balance`, { headers: { authorization: `Bearer ${operator}` } });
    assert.equal(balance.status, 200);
    assert.deepEqual(await balance.json(), { provider: "znet", balance: "1000.00" });

    const orderId = `o-${randomUUID()}`;
    const order = makeEvent("OrderCreated", { orderId, correlationId: orderId, causationId: null }, { packageId: "freefire-100", playerId: "p-main", extra: null });
    await new EventPublisher(nc, names).publish(order);
    const jsm = await jetstreamManager(nc);
    const sent = await eventually(async () => {
      const msg = await jsm.streams.getMessage(names.stream, { last_by_subj: names.orderEvent(orderId, "OrderSent") });
      assert.ok(msg !== null, "no OrderSent yet");
      const decoded = decodeEvent(msg.data, msg.subject);
      assert.ok(decoded.ok && decoded.event.type === "OrderSent");
      return decoded.event;
    }, 15_000);
    assert.equal(sent.data.cost, "18.75");
    assert.equal(sim.placements(sent.data.reference), 1);

    const metrics = await (await fetch(`${base}/metrics`)).text();
    assert.match(metrics, /pinflow_dispatch_total\{provider="znet",outcome="accepted",service="dispatcher"\} 1/);
    assert.match(metrics, /pinflow_dispatch_latency_seconds_count\{[^}]*provider="znet"[^}]*\} 1/);
    // The consumer lag read from the server: both durables, nothing left behind.
    assert.match(metrics, new RegExp(`pinflow_consumer_pending\\{durable="${names.durable("dispatcher")}",service="dispatcher"\\} 0`));
    assert.match(metrics, new RegExp(`pinflow_consumer_pending\\{durable="${names.durable("dispatcher-redispatch")}",service="dispatcher"\\} 0`));

    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    child.kill("SIGTERM");
    assert.equal(await exited, 0);
    assert.match(output, /consumer and outbox relay stopped/);
    assert.match(output, /"shutdownTimeoutMs":25000[^\n]*"msg":"shutting down"/);
    assert.match(output, /"msg":"stopped"/);
    if (process.env.DUMP_MAIN_OUTPUT) writeFileSync(process.env.DUMP_MAIN_OUTPUT, output);
    assert.match(output, /"orderId":"o-[^"]+","eventId":"[^"]+"/);
    assert.ok(!output.includes(PASSWORD) && !output.includes(encodeURIComponent(PASSWORD)), "the password never reaches the logs");
    assert.ok(!output.includes(operator), "nor the API key");
  });
});

/** The shared gate's control and call side, in memory: paused providers get no calls. */
class FakeControl implements ProviderControl, CallGate {
  readonly paused = new Set<string>();
  async setPaused(provider: string, paused: boolean): Promise<boolean> {
    if (paused) this.paused.add(provider);
    else this.paused.delete(provider);
    return true;
  }
  async status(provider: string): Promise<GateStatus> {
    return { provider, paused: this.paused.has(provider), circuitOpenForMs: 0, failuresInRow: 0, slotsInUse: 0 };
  }
  async acquire(provider: string): Promise<GateDecision> {
    if (this.paused.has(provider)) return { kind: "blocked", reason: "paused", retryAfterMs: 5_000 };
    return OPEN_GATE.acquire(provider, 0);
  }
  async release(): Promise<void> {}
}

/** The providers' access state, in memory (the service keeps it in its database). */
class FakeAccess implements Pick<DispatchStore, "recordAccess" | "providerAccess"> {
  readonly shutOut = new Map<string, ProviderAccess>();
  async recordAccess(provider: ProviderName, denied: { cause: string } | null, at: Date): Promise<void> {
    if (denied === null) this.shutOut.delete(provider);
    else {
      const was = this.shutOut.get(provider);
      this.shutOut.set(provider, { provider, shutOutSince: was?.shutOutSince ?? at, lastDeniedAt: at, cause: denied.cause, deniedReplies: (was?.deniedReplies ?? 0) + 1 });
    }
  }
  async providerAccess(provider: ProviderName): Promise<ProviderAccess | null> {
    return this.shutOut.get(provider) ?? null;
  }
}

function shell(providers: ProviderRegistry, registry: Registry, control: FakeControl): Pick<AppDeps, "providers" | "balances" | "control" | "access"> {
  const access = new FakeAccess();
  const balances = new Balances(providers, control, new DispatchMetrics(registry), logger, { gateWaitMs: 0, defaultRetryAfterMs: 1000, access });
  return { providers, balances, control, access };
}

describe("HTTP shell (AppModule)", () => {
  // Every call of this block carries an operator key, checked as startService checks it (in memory here).
  const keys = new MemoryKeys();
  const operatorKey = keys.issue("operator");
  const fetch = (url: string, init: RequestInit = {}) => globalThis.fetch(url, { ...init, headers: { authorization: `Bearer ${operatorKey}`, ...(init.headers ?? {}) } });
  const control = new FakeControl();
  const sim = new ZnetSimulator({ code: CODE, password: PASSWORD, balance: 12755.23 });
  let app: NestExpressApplication;
  let base = "";
  const registry = new Registry();
  let dbUp = true;
  let znetUrl = "";

  before(async () => {
    znetUrl = await sim.start();
    const good = new ZnetProvider(new ZnetClient({ baseUrl: znetUrl, code: CODE, password: PASSWORD, timeoutMs: 2000 }));
    app = await NestFactory.create<NestExpressApplication>(
      AppModule.register({
        readiness: {
          nats: async () => undefined,
          postgres: async () => {
            if (!dbUp) throw new Error("down");
          },
        },
        registry,
        ...shell(providerRegistry([good]), registry, control),
        logger,
      }),
      { logger: false },
    );
    app.use(keys.middleware());
    await app.listen(0, "127.0.0.1");
    base = (await app.getUrl()).replace("[::1]", "127.0.0.1");
  });

  after(async () => {
    await app?.close();
    await sim.stop();
  });

  it("GET /v1/providers/znet/balance answers {provider, balance}", async () => {
    const res = await fetch(`${base}/v1/providers/znet/balance`);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { provider: "znet", balance: "12755.23" });
  });

  it("an unknown or unconfigured provider is 404 with an error code", async () => {
    for (const path of ["acme/balance", "xstor/balance", "acme/pause", "xstor/status"]) {
      const res = await fetch(`${base}/v1/providers/${path}`, { method: path.endsWith("pause") ? "POST" : "GET" });
      assert.equal(res.status, 404, path);
      const body = (await res.json()) as { error: { code: string } };
      assert.equal(body.error.code, "not_found");
    }
  });

  it("a paused provider's balance is 503 (calls held back, nothing sent) until it is resumed; the gauge follows readings", async () => {
    const paused = await fetch(`${base}/v1/providers/znet/pause`, { method: "POST" });
    assert.equal(paused.status, 200);
    assert.deepEqual(await paused.json(), { provider: "znet", paused: true });
    assert.deepEqual(await (await fetch(`${base}/v1/providers`)).json(), {
      providers: [{ provider: "znet", paused: true, circuitOpenForMs: 0, failuresInRow: 0, slotsInUse: 0, shutOut: null }],
    });
    const calls = sim.requestLog().length;
    const held = await fetch(`${base}/v1/providers/znet/balance`);
    assert.equal(held.status, 503);
    assert.match(((await held.json()) as { error: { message: string } }).error.message, /held back \(paused\)/);
    assert.equal(sim.requestLog().length, calls, "no call while paused");
    const resumed = await fetch(`${base}/v1/providers/znet/resume`, { method: "POST" });
    assert.deepEqual(await resumed.json(), { provider: "znet", paused: false });
    assert.equal((await fetch(`${base}/v1/providers/znet/balance`)).status, 200);
    assert.match(await registry.getSingleMetricAsString("pinflow_provider_balance"), /pinflow_provider_balance\{provider="znet"\} 12755.23/);
  });

  it("a failing balance call (empty body = auth/IP problem) is 502 with a code, never balance 0, and no password", async () => {
    const wrongRegistry = new Registry();
    // znet answers an unknown reseller or a wrong password with an empty body.
    const wrong = new ZnetProvider(new ZnetClient({ baseUrl: znetUrl, code: CODE, password: "not-it", timeoutMs: 2000 }));
    const other = await NestFactory.create<NestExpressApplication>(
      AppModule.register({
        readiness: {},
        registry: wrongRegistry,
        ...shell(providerRegistry([wrong]), wrongRegistry, new FakeControl()),
        logger,
      }),
      { logger: false },
    );
    other.use(keys.middleware());
    await other.listen(0, "127.0.0.1");
    try {
      const res = await fetch(`${(await other.getUrl()).replace("[::1]", "127.0.0.1")}/v1/providers/znet/balance`);
      assert.equal(res.status, 502);
      const body = (await res.json()) as { error: { code: string; message: string } };
      assert.equal(body.error.code, "unavailable");
      assert.match(body.error.message, /znet balance failed: empty body/);
      assert.ok(!body.error.message.includes("not-it"));
      assert.match(await wrongRegistry.getSingleMetricAsString("pinflow_provider_errors_total"), /kind="balance_failed"/);
      assert.match(await wrongRegistry.getSingleMetricAsString("pinflow_provider_errors_total"), /kind="access_denied"/);
      // The provider's status says it shuts us out, with the (masked) cause.
      const status = await fetch(`${(await other.getUrl()).replace("[::1]", "127.0.0.1")}/v1/providers/znet/status`);
      const shown = (await status.json()) as { shutOut: { cause: string; message: string; deniedReplies: number } | null };
      assert.match(shown.shutOut?.cause ?? "", /empty body/);
      assert.match(shown.shutOut?.message ?? "", /znet shuts us out/);
      assert.equal(shown.shutOut?.deniedReplies, 1);
      assert.ok(!JSON.stringify(shown).includes("not-it"));
    } finally {
      await other.close();
    }
  });

  it("readiness fails with 503 when a dependency is down", async () => {
    dbUp = false;
    try {
      const res = await fetch(`${base}/readyz`);
      assert.equal(res.status, 503);
    } finally {
      dbUp = true;
    }
    assert.equal((await fetch(`${base}/readyz`)).status, 200);
  });
});
