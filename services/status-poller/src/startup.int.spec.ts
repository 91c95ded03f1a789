/**
 * Replicas start together: two status-pollers run main.ts's start-up steps at the same moment on a
 * fresh database and a fresh nats-server (migrations, outbox, provider gate, stream, durable
 * consumer), many rounds; both must come up every time.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { connectNats, ensureOrderStream, type NatsConnection } from "@pinflow/bus";
import { ProviderGate } from "@pinflow/limits";
import { createPool, ensureOutbox, migrate, type Pool } from "@pinflow/pg";
import { ZnetClient } from "@pinflow/providers";
import { generatePinKeyring, PinCipher } from "@pinflow/secrets";
import { loadConfig } from "@pinflow/service-kit";
import { raceStartUps } from "@pinflow/testkit";
import { checkTimeoutMs, PollerConfig, pollPlan, pollPolicy, providerLimits } from "./config.js";
import { systemClock } from "./poll.js";
import { logger, MIGRATIONS, TEST_NAMES } from "./poller.test-harness.js";
import { createPollerRuntime, type PollerRuntime } from "./runtime.js";
import { ZnetStatusChecker } from "./status-checker.js";

const ROUNDS = 12;

test(`two status-pollers started at the same moment on a fresh database both start (${ROUNDS} rounds)`, async () => {
  const failures = await raceStartUps<{ pool: Pool; nc: NatsConnection; replica: number; runtime?: PollerRuntime }>("poller_startup", ROUNDS, {
    connect: async (infra, replica) => ({
      replica,
      pool: createPool(infra.databaseUrl),
      nc: await connectNats({ servers: infra.natsUrl, name: `poller-startup-${replica}`, logger }),
    }),
    startUp: async (ctx) => {
      const config = loadConfig(PollerConfig, {
        PINFLOW_ENV: TEST_NAMES.environment,
        DATABASE_URL: "postgres://unused",
        AUTH_DATABASE_URL: "postgres://unused",
        HTTP_PORT: "0",
        PIN_KEYS: generatePinKeyring(),
        ZNET_BASE_URL: "http://127.0.0.1:9",
        ZNET_CODE: "1",
        ZNET_PASSWORD: "x",
      });
      const { pool, nc } = ctx;
      await migrate(pool, MIGRATIONS);
      await ensureOutbox(pool);
      const gate = new ProviderGate(pool, providerLimits(config), () => systemClock.now());
      await gate.ensure();
      await ensureOrderStream(nc, TEST_NAMES);
      ctx.runtime = await createPollerRuntime({
        pool,
        nc,
        names: TEST_NAMES,
        logger,
        clock: systemClock,
        checkers: [new ZnetStatusChecker(new ZnetClient({ baseUrl: "http://127.0.0.1:9", code: "1", password: "x", timeoutMs: 1000 }), new PinCipher(config.PIN_KEYS))],
        gate,
        settings: {
          pollerId: `poller-${ctx.replica}`,
          policy: pollPolicy(config),
          polling: pollPlan(config),
          tickMs: config.SCHEDULER_TICK_MS,
          claimBatch: config.CLAIM_BATCH,
          concurrency: config.CHECK_CONCURRENCY,
          leaseMs: config.LEASE_MS,
          checkTimeoutMs: checkTimeoutMs(config),
        },
      });
    },
    close: async ({ pool, nc, runtime }) => {
      await runtime?.stop();
      await nc.close();
      await pool.end();
    },
  });
  assert.deepEqual(failures, []);
});
