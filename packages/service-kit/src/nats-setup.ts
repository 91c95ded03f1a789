/**
 * The set-up step of an environment on NATS: create its order stream (or check the one there), as
 * the environment's admin user. With least privilege (the bus's nats-access.ts) the services' users
 * may only find the stream, not create it, so this runs before the services (a Kubernetes Job, see
 * deploy/):
 *   PINFLOW_ENV=… NATS_URL=… NATS_USER=<env>-admin NATS_PASSWORD_FILE=… node packages/service-kit/dist/nats-setup.js
 */
import { connectNats, ensureOrderStream } from "@pinflow/bus";
import { Environment, eventNames } from "@pinflow/contracts";
import { z } from "zod";
import { loadConfig } from "./config.js";
import { createLogger } from "./logger.js";
import { natsAccess, NatsSettings } from "./nats-settings.js";

const SetupConfig = z.object({ NATS_URL: z.string().default("nats://127.0.0.1:4222"), PINFLOW_ENV: Environment, ...NatsSettings });

const logger = createLogger("nats-setup");
try {
  const config = loadConfig(SetupConfig);
  const names = eventNames(config.PINFLOW_ENV);
  const nc = await connectNats({ servers: config.NATS_URL, name: "nats-setup", logger, ...natsAccess(config) });
  try {
    await ensureOrderStream(nc, names);
    logger.info({ stream: names.stream, subjects: names.allEvents }, "order stream ready");
  } finally {
    await nc.close();
  }
} catch (error) {
  logger.fatal({ err: error }, "nats set-up failed");
  process.exitCode = 1;
}
