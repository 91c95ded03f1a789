/**
 * Replicas start together: two dispatchers run main.ts's start-up steps at the same moment on a
 * fresh database and a fresh nats-server (migrations, outbox, provider gate, stream, routes,
 * durable consumer), many rounds; both must come up every time.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { connectNats, ensureOrderStream, type NatsConnection } from "@pinflow/bus";
import { ProviderGate } from "@pinflow/limits";
import { createPool, type Pool } from "@pinflow/pg";
import { ZnetClient } from "@pinflow/providers";
import { generatePinKeyring, PinCipher } from "@pinflow/secrets";
import { raceStartUps } from "@pinflow/testkit";
import { Registry } from "prom-client";
import { readCatalogFile } from "./catalog.js";
import { DEFAULT_POLICY } from "./dispatch.js";
import { CATALOG, logger, TEST_NAMES } from "./dispatcher.test-harness.js";
import { providerRegistry, ZnetProvider } from "./providers.js";
import { createDispatcher, prepareDatabase } from "./runtime.js";

const ROUNDS = 12;
const limits = { ratePerSec: 2, burst: 2, concurrency: 4, slotLeaseMs: 10_000, circuit: { threshold: 5, cooldownMs: 10_000, maxCooldownMs: 60_000 } };

test(`two dispatchers started at the same moment on a fresh database both start (${ROUNDS} rounds)`, async () => {
  const failures = await raceStartUps<{ pool: Pool; nc: NatsConnection }>("dispatcher_startup", ROUNDS, {
    connect: async (infra, replica) => ({
      pool: createPool(infra.databaseUrl),
      nc: await connectNats({ servers: infra.natsUrl, name: `dispatcher-startup-${replica}`, logger }),
    }),
    startUp: async ({ pool, nc }) => {
      await prepareDatabase(pool);
      const gate = new ProviderGate(pool, { znet: limits });
      await gate.ensure();
      await ensureOrderStream(nc, TEST_NAMES);
      await createDispatcher({
        pool,
        nc,
        names: TEST_NAMES,
        pins: new PinCipher(generatePinKeyring()),
        providers: providerRegistry([new ZnetProvider(new ZnetClient({ baseUrl: "http://127.0.0.1:9", code: "1", password: "x", timeoutMs: 1000 }))]),
        catalog: readCatalogFile(CATALOG),
        logger,
        registry: new Registry(),
        gate,
        policy: DEFAULT_POLICY,
      });
    },
    close: async ({ pool, nc }) => {
      await nc.close();
      await pool.end();
    },
  });
  assert.deepEqual(failures, []);
});
