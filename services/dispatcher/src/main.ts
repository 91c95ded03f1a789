/**
 * The dispatcher process: `node services/dispatcher/dist/main.js` with the environment of config.ts.
 * Consumes OrderCreated, places orders along the package's route (znet, x-stor) under each provider's
 * limits, appends OrderSent / DispatchFailed / ReviewRequired through the outbox.
 */
import "reflect-metadata";
import { connectNats, ensureOrderStream, type NatsConnection } from "@pinflow/bus";
import { eventNames, type ProviderName } from "@pinflow/contracts";
import { keyAccess } from "@pinflow/auth";
import { createGatePool, createPool } from "@pinflow/pg";
import { ProviderGate } from "@pinflow/limits";
import { XstorClient, ZnetClient } from "@pinflow/providers";
import { PinCipher } from "@pinflow/secrets";
import { createLogger, createMetricsRegistry, startService } from "@pinflow/service-kit";
import { stopTelemetry } from "@pinflow/telemetry";
import { AppModule } from "./app.module.js";
import { readCatalogFile } from "./catalog.js";
import { dispatchPolicy, loadDispatcherConfig } from "./config.js";
import { providerRegistry, XstorProvider, ZnetProvider, type DispatchProvider } from "./providers.js";
import { createDispatcher, prepareDatabase } from "./runtime.js";

const logger = createLogger("dispatcher");

async function main(): Promise<void> {
  const config = loadDispatcherConfig();
  const catalog = readCatalogFile(config.catalogFile);
  const cipher = new PinCipher(config.pinKeys);
  const adapters: DispatchProvider[] = [];
  if (config.znet !== null) adapters.push(new ZnetProvider(new ZnetClient(config.znet)));
  if (config.xstor !== null) adapters.push(new XstorProvider(new XstorClient(config.xstor)));
  const providers = providerRegistry(adapters);

  const pool = createPool(config.databaseUrl, { timeouts: config.pgTimeouts });
  const applied = await prepareDatabase(pool);
  if (applied.length > 0) logger.info({ applied }, "migrations applied");
  // Its own pool, committing without waiting for the disk (see the poller's main.ts and ProviderGate).
  const gatePool = createGatePool(config.databaseUrl, { timeouts: config.pgTimeouts });
  const gate = new ProviderGate(gatePool, config.limits);
  await gate.ensure();

  const nc: NatsConnection = await connectNats({ servers: config.natsUrl, name: "dispatcher", logger, ...config.nats });
  const names = eventNames(config.environment);
  await ensureOrderStream(nc, names);

  const registry = createMetricsRegistry("dispatcher");
  const dispatcher = await createDispatcher({
    pool,
    nc,
    names,
    providers,
    catalog,
    // Adapter until PinCipher.seal binds a PIN to its order (then: `pins: cipher`).
    pins: cipher,
    logger,
    registry,
    gate,
    gateWaitMs: config.gateMaxWaitMs,
    defaultRetryAfterMs: config.defaultRetryAfterMs,
    ackWaitMs: config.ackWaitMs,
    batch: config.batch,
    concurrency: config.concurrency,
    maxAckPending: config.maxAckPending,
    providerSlots: (provider) => config.limits[provider as ProviderName]?.concurrency,
    maxFailures: config.maxFailures,
    maxDeliver: config.maxDeliver,
    policy: dispatchPolicy(config),
  });
  logger.info(
    { providers: [...providers.keys()], packages: catalog.packages.length, catalogFile: config.catalogFile },
    "routes seeded from catalog",
  );

  const authPool = createPool(config.authDatabaseUrl, { max: 4, timeouts: config.pgTimeouts });
  const access = keyAccess({ pool: authPool, logger, registry, maxFailures: config.authMaxFailures, windowMs: config.authFailureWindowMs });

  dispatcher.start();
  dispatcher.balances.start(config.balanceRefreshMs);
  await startService(
    AppModule.register({
      readiness: {
        nats: async () => {
          if (nc.isClosed()) throw new Error("NATS connection closed");
          await withTimeout(nc.flush(), 2_000, "NATS flush");
        },
        postgres: async () => {
          await withTimeout(pool.query("SELECT 1"), 2_000, "SELECT 1");
        },
        apiKeys: () => withTimeout(access.ready(), 2_000, "api_key"),
      },
      registry,
      providers,
      balances: dispatcher.balances,
      control: gate,
      access: dispatcher.store,
      logger,
      deadLetters: dispatcher.deadLetters,
      redispatch: { history: (orderId) => dispatcher.history(orderId), redispatcher: dispatcher.redispatcher },
    }),
    {
      host: config.httpHost,
      port: config.httpPort,
      logger,
      nc,
      beforeBody: access.middleware,
      stopWork: async () => {
        await dispatcher.stop({ drain: true });
        logger.info("consumer and outbox relay stopped");
      },
      onShutdown: async () => {
        await pool.end();
        await gatePool.end();
        await authPool.end();
        await stopTelemetry();
      },
    },
  );
}

/** A readiness probe must answer quickly, even while a dependency hangs. */
function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

main().catch((error: unknown) => {
  logger.fatal({ err: error }, "dispatcher failed to start");
  process.exit(1);
});
