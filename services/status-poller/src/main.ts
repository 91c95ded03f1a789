import "reflect-metadata";
import { fileURLToPath } from "node:url";
import { connectNats, ensureOrderStream } from "@pinflow/bus";
import { eventNames } from "@pinflow/contracts";
import { ProviderGate } from "@pinflow/limits";
import { keyAccess } from "@pinflow/auth";
import { createGatePool, createPool, ensureOutbox, migrate } from "@pinflow/pg";
import { XstorClient, ZnetClient } from "@pinflow/providers";
import { PinCipher } from "@pinflow/secrets";
import { createLogger, loadConfig, natsAccess, pgTimeouts, startService } from "@pinflow/service-kit";
import { stopTelemetry } from "@pinflow/telemetry";
import { AppModule } from "./app.module.js";
import { checkTimeoutMs, PollerConfig, pollPlan, pollPolicy, providerAccounts, providerLimits } from "./config.js";
import { systemClock, type PollingPlan } from "./poll.js";
import { createPollerRuntime } from "./runtime.js";
import { XstorStatusChecker, ZnetStatusChecker, type StatusChecker } from "./status-checker.js";

const logger = createLogger("status-poller");

async function main(): Promise<void> {
  const config = loadConfig(PollerConfig);
  const cipher = new PinCipher(config.PIN_KEYS);
  const accounts = providerAccounts(config);
  // Only configured providers get a checker; watches of any other provider are never claimed for a check.
  const checkers: StatusChecker[] = [];
  if (accounts.znet) checkers.push(new ZnetStatusChecker(new ZnetClient(accounts.znet), cipher));
  if (accounts.xstor) checkers.push(new XstorStatusChecker(new XstorClient(accounts.xstor), cipher));

  const pool = createPool(config.DATABASE_URL, { timeouts: pgTimeouts(config) });
  const applied = await migrate(pool, fileURLToPath(new URL("../migrations", import.meta.url)));
  await ensureOutbox(pool);
  if (applied.length > 0) logger.info({ applied }, "migrations applied");
  const clock = systemClock;
  // Every status call runs under its provider's limits, shared by the poller's replicas (its own tables here).
  // Its own pool, committing without waiting for the disk: each call's acquisition and release are commits on one
  // hot row, and waiting for the disk there (with the row lock held) capped the checks a second (BENCHMARKS.md).
  const gatePool = createGatePool(config.DATABASE_URL, { timeouts: pgTimeouts(config) });
  const gate = new ProviderGate(gatePool, providerLimits(config), () => clock.now());
  await gate.ensure();

  const nc = await connectNats({ servers: config.NATS_URL, name: `status-poller:${config.POLLER_ID}`, logger, ...natsAccess(config) });
  const names = eventNames(config.PINFLOW_ENV);
  await ensureOrderStream(nc, names);

  const runtime = await createPollerRuntime({
    pool,
    nc,
    names,
    logger,
    clock,
    checkers,
    gate,
    settings: {
      pollerId: config.POLLER_ID,
      policy: pollPolicy(config),
      polling: pollPlan(config),
      planRefreshMs: config.POLL_ADAPTIVE_REFRESH_MS,
      tickMs: config.SCHEDULER_TICK_MS,
      claimBatch: config.CLAIM_BATCH,
      concurrency: config.CHECK_CONCURRENCY,
      leaseMs: config.LEASE_MS,
      checkTimeoutMs: checkTimeoutMs(config),
      gateWaitMs: config.GATE_MAX_WAIT_MS,
      defaultRetryAfterMs: config.PROVIDER_RETRY_AFTER_MS,
      ackWaitMs: config.CONSUMER_ACK_WAIT_MS,
      consumerConcurrency: config.CONSUMER_CONCURRENCY,
      maxFailures: config.CONSUMER_MAX_FAILURES,
      maxDeliver: config.CONSUMER_MAX_DELIVER,
    },
  });

  let stopping: Promise<void> | undefined;
  const stopWork = (): Promise<void> => (stopping ??= runtime.stop({ drain: true }).then(() => logger.info("status poller stopped")));

  const authPool = createPool(config.AUTH_DATABASE_URL, { max: 4, timeouts: pgTimeouts(config) });
  const access = keyAccess({ pool: authPool, logger, registry: runtime.registry, maxFailures: config.AUTH_MAX_FAILURES, windowMs: config.AUTH_FAILURE_WINDOW_MS });

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
      apiKeys: () => access.ready(),
    },
    admin: { store: runtime.store, clock, kick: () => runtime.scheduler.kick(), committed: () => runtime.relay.kick(), logger },
    providers: { control: gate, scheduler: runtime.scheduler, clock, logger },
    deadLetters: runtime.deadLetters,
    stopWork,
  });

  runtime.start();
  logger.info(
    { pollerId: config.POLLER_ID, providers: checkers.map((c) => c.provider), limits: providerLimits(config), polling: describePlan(pollPlan(config)) },
    "status poller started",
  );
  await startService(module, {
    host: config.HTTP_HOST,
    port: config.HTTP_PORT,
    logger,
    nc,
    beforeBody: access.middleware,
    stopWork,
    onShutdown: async () => {
      await pool.end();
      await gatePool.end();
      await authPool.end();
      await stopTelemetry();
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
