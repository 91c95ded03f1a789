import "reflect-metadata";
import { fileURLToPath } from "node:url";
import { keyAccess } from "@pinflow/auth";
import { connectNats, ensureOrderStream, EventPublisher, streamLastSeq } from "@pinflow/bus";
import { eventNames } from "@pinflow/contracts";
import { createPool, isTransientDbError, migrate } from "@pinflow/pg";
import { PinCipher } from "@pinflow/secrets";
import {
  countDeadLetter,
  createLogger,
  createMetricsRegistry,
  deadLettersCounter,
  loadConfig,
  natsAccess,
  pgTimeouts,
  rejectedEventsCounter,
  startService,
} from "@pinflow/service-kit";
import { stopTelemetry } from "@pinflow/telemetry";
import { AppModule } from "./app.module.js";
import { PackageCatalog } from "./catalog.js";
import { OrdersConfig } from "./config.js";
import { OrderIntake } from "./order-intake.js";
import { OperatorActions } from "./operator-actions.js";
import { PgDecisionClaims } from "./pg-decision-claims.js";
import { PgOrderStore } from "./pg-order-store.js";
import { OrderProjectionSink } from "./projection-sink.js";
import { startOrderProjection } from "./order-projection.js";
import { registerOrderMetrics } from "./metrics.js";
import { startWebhooks } from "./webhooks/start-webhooks.js";
import { ordersDoor } from "./door.js";
import { liveStreams } from "./live-setup.js";
import { OrderChanges } from "./order-changes.js";
import type { PinCheck } from "./order.js";
import { verifyStreamToken } from "./stream-token.js";

const logger = createLogger("orders");

async function main(): Promise<void> {
  const config = loadConfig(OrdersConfig);
  const catalog = PackageCatalog.fromFile(config.CATALOG_FILE);
  const pins = new PinCipher(config.PIN_KEYS);
  const pool = createPool(config.DATABASE_URL, { timeouts: pgTimeouts(config) });
  await migrate(pool, fileURLToPath(new URL("../migrations", import.meta.url)));
  const nc = await connectNats({ servers: config.NATS_URL, name: "orders", logger, ...natsAccess(config) });
  const names = eventNames(config.PINFLOW_ENV);
  await ensureOrderStream(nc, names);

  const registry = createMetricsRegistry("orders");
  const changes = new OrderChanges();
  const pinOpens: PinCheck = (pin, binding) => pins.opens(pin, binding);
  const store = new PgOrderStore(pool, pinOpens, (commit) => changes.announce(commit));
  const sink = new OrderProjectionSink(store, logger, rejectedEventsCounter(registry), countDeadLetter(deadLettersCounter(registry)));
  // The projection's @EventPattern handlers on the bus's projection transport; reading starts now.
  const projection = await startOrderProjection({ nc, names, sink, pinOpens, logger, options: { maxTries: config.PROJECTION_MAX_TRIES, isTransient: isTransientDbError } });
  registerOrderMetrics(registry, pool);
  const publisher = new EventPublisher(nc, names);
  const intake = new OrderIntake(catalog, store, publisher, projection, logger, config.PROJECTION_WAIT_MS);
  const actions = new OperatorActions(new PgDecisionClaims(pool), publisher, pins, projection, logger, config.PROJECTION_WAIT_MS);
  const access = keyAccess({ pool, logger, registry, maxFailures: config.AUTH_MAX_FAILURES, windowMs: config.AUTH_FAILURE_WINDOW_MS });
  const live = liveStreams(config, store, pins, changes, registry, logger);
  const webhooks = startWebhooks(config, pool, pins, logger, registry, () => streamLastSeq(nc, names));

  await startService(
    AppModule.register({
      intake,
      actions,
      store,
      pins,
      catalog,
      registry,
      logger,
      webhooks,
      live,
      serviceUrls: { dispatcher: config.DISPATCHER_URL, statusPoller: config.STATUS_POLLER_URL },
      readiness: {
        nats: async () => {
          if (nc.isClosed()) throw new Error("closed");
          await nc.flush();
        },
        postgres: () => store.ping(),
      },
    }),
    {
      host: config.HTTP_HOST,
      port: config.HTTP_PORT,
      logger,
      nc,
      beforeBody: ordersDoor(access.middleware, (token) => verifyStreamToken(token, live.tokens.secret, Date.now() / 1000), logger),
      stopWork: async () => {
        await webhooks.deliverer.stop();
        await projection.stop();
      },
      onShutdown: async () => {
        await pool.end();
        await stopTelemetry();
      },
    },
  );
}

main().catch((error: unknown) => {
  logger.fatal({ err: error }, "orders failed to start");
  process.exit(1);
});
