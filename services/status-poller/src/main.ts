import "reflect-metadata";
import { fileURLToPath } from "node:url";
import { connectNats, ensureOrderStream } from "@pinflow/bus";
import { createPool, ensureOutbox, migrate } from "@pinflow/pg";
import { ZnetClient } from "@pinflow/providers";
import { PinCipher } from "@pinflow/secrets";
import { createLogger, initTracing, loadConfig, startService } from "@pinflow/service-kit";
import { AppModule } from "./app.module.js";
import { PollerConfig, pollPlan, pollPolicy, znetPassword } from "./config.js";
import { systemClock, type PollingPlan } from "./poll.js";
import { createPollerRuntime } from "./runtime.js";
import { ZnetStatusChecker } from "./status-checker.js";

initTracing("status-poller");
const logger = createLogger("status-poller");

async function main(): Promise<void> {
  const config = loadConfig(PollerConfig);
  const cipher = new PinCipher(config.PIN_KEYS);
  const znet = new ZnetClient({
    baseUrl: config.ZNET_BASE_URL,
    code: config.ZNET_CODE,
    password: znetPassword(config),
    timeoutMs: config.ZNET_TIMEOUT_MS,
  });

  const pool = createPool(config.DATABASE_URL);
  const applied = await migrate(pool, fileURLToPath(new URL("../migrations", import.meta.url)));
  await ensureOutbox(pool);
  if (applied.length > 0) logger.info({ applied }, "migrations applied");

  const nc = await connectNats({ servers: config.NATS_URL, name: `status-poller:${config.POLLER_ID}`, logger });
  await ensureOrderStream(nc);

  const clock = systemClock;
  const runtime = await createPollerRuntime({
    pool,
    nc,
    logger,
    clock,
    checkers: [new ZnetStatusChecker(znet, cipher)],
    settings: {
      pollerId: config.POLLER_ID,
      policy: pollPolicy(config),
      polling: pollPlan(config),
      planRefreshMs: config.POLL_ADAPTIVE_REFRESH_MS,
      tickMs: config.SCHEDULER_TICK_MS,
      claimBatch: config.CLAIM_BATCH,
      concurrency: config.CHECK_CONCURRENCY,
      leaseMs: config.LEASE_MS,
      checkTimeoutMs: config.ZNET_TIMEOUT_MS,
    },
  });

  let stopping: Promise<void> | undefined;
  const stopWork = (): Promise<void> => (stopping ??= runtime.stop().then(() => logger.info("status poller stopped")));

  const module = AppModule.register({
    registry: runtime.registry,
    readiness: {
      postgres: async () => {
        await pool.query("SELECT 1");
      },
      nats: async () => {
        if (nc.isClosed()) throw new Error("NATS connection closed");
        await nc.flush();
      },
    },
    admin: { store: runtime.store, clock, kick: () => runtime.scheduler.kick(), logger },
    stopWork,
  });

  runtime.start();
  logger.info({ pollerId: config.POLLER_ID, polling: describePlan(pollPlan(config)) }, "status poller started");
  await startService(module, {
    host: config.HTTP_HOST,
    port: config.HTTP_PORT,
    logger,
    nc,
    onShutdown: async () => {
      await stopWork();
      await pool.end();
    },
  });
}

/** The plan for the start-up log: per provider its mode and policy (adaptive settings without the reference preset). */
function describePlan(plan: PollingPlan): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [provider, polling] of Object.entries(plan)) {
    out[provider] =
      polling.mode === "adaptive"
        ? { mode: "adaptive", fallback: polling.policy, adaptive: { ...polling.adaptive, reference: undefined } }
        : { mode: polling.preset, policy: polling.policy };
  }
  return out;
}

main().catch((error) => {
  logger.fatal({ err: error }, "status poller failed to start");
  process.exit(1);
});
