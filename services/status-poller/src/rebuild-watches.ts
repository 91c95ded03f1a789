/**
 * Rebuild the status-poller's watches and completion samples from the order stream (DESIGN.md I5),
 * with the environment of the status-poller (config.ts):
 *   PINFLOW_ENV=… node services/status-poller/dist/rebuild-watches.js
 * Stop every poller replica first. Migrations are applied (an empty database is fine); every watch
 * and completion sample is replaced by the fold of its order's events (watch-fold.ts).
 */
import { fileURLToPath } from "node:url";
import { connectNats, ensureOrderStream } from "@pinflow/bus";
import { eventNames } from "@pinflow/contracts";
import { createPool, ensureOutbox, migrate } from "@pinflow/pg";
import { createLogger, loadConfig, natsAccess, pgTimeouts } from "@pinflow/service-kit";
import { PollerConfig, pollPlan } from "./config.js";
import { rebuildWatchRows } from "./rebuild.js";

const logger = createLogger("status-poller-rebuild");
const config = loadConfig(PollerConfig);
const plan = pollPlan(config);
const pool = createPool(config.DATABASE_URL, { timeouts: pgTimeouts(config) });
const nc = await connectNats({ servers: config.NATS_URL, name: "status-poller-rebuild", logger, ...natsAccess(config) });
try {
  await migrate(pool, fileURLToPath(new URL("../migrations", import.meta.url)));
  await ensureOutbox(pool);
  const names = eventNames(config.PINFLOW_ENV);
  await ensureOrderStream(nc, names);
  const result = await rebuildWatchRows(pool, nc, names, (provider) => plan[provider].policy, logger);
  logger.info(result, "watches rebuilt from the stream");
} finally {
  await nc.close();
  await pool.end();
}
