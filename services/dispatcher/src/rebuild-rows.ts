/**
 * Rebuild the dispatcher's rows from the order stream (DESIGN.md I5), with the environment of the
 * dispatcher (config.ts):
 *   PINFLOW_ENV=… node services/dispatcher/dist/rebuild-rows.js
 * Stop every dispatcher replica first. Migrations are applied (an empty database is fine); every
 * dispatch row is replaced by the fold of its order's events. Routes, imported prices, provider
 * access and references already stored are kept.
 */
import { connectNats, ensureOrderStream } from "@pinflow/bus";
import { eventNames } from "@pinflow/contracts";
import { createPool } from "@pinflow/pg";
import { createLogger } from "@pinflow/service-kit";
import { dispatchPolicy, loadDispatcherConfig } from "./config.js";
import { rebuildDispatchRows } from "./rebuild.js";
import { prepareDatabase } from "./runtime.js";

const logger = createLogger("dispatcher-rebuild");
const config = loadDispatcherConfig();
const pool = createPool(config.databaseUrl, { timeouts: config.pgTimeouts });
const nc = await connectNats({ servers: config.natsUrl, name: "dispatcher-rebuild", logger, ...config.nats });
try {
  await prepareDatabase(pool);
  const names = eventNames(config.environment);
  await ensureOrderStream(nc, names);
  const result = await rebuildDispatchRows(pool, nc, names, dispatchPolicy(config), logger);
  logger.info(result, "dispatch rows rebuilt from the stream");
} finally {
  await nc.close();
  await pool.end();
}
