/**
 * The refund subscriber process: `node examples/refund-subscriber/dist/main.js`.
 *
 *   PINFLOW_ENV      the environment (stream and durable names derive from it)
 *   NATS_URL         default nats://127.0.0.1:4222
 *   NATS_USER        its own read-only user, `<env>-refunds` (packages/bus/src/nats-access.ts)
 *   NATS_PASSWORD
 *   DATABASE_URL     its own database (the `refund` table)
 *   SHUTDOWN_TIMEOUT_MS  the bound on a clean stop (default 25 000)
 *
 * On SIGTERM it stops taking messages, settles those in hand, and exits.
 */
import "reflect-metadata";
import { connectNats, ensureOrderStream } from "@pinflow/bus";
import { eventNames } from "@pinflow/contracts";
import { createPool } from "@pinflow/pg";
import pino from "pino";
import { createRefundSubscriber } from "./subscriber.js";

const logger = pino({ base: { service: "refund-subscriber" }, level: process.env.LOG_LEVEL ?? "info" });

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is required`);
  return value;
}

async function main(): Promise<void> {
  const names = eventNames(required("PINFLOW_ENV"));
  const pool = createPool(required("DATABASE_URL"));
  const user = process.env.NATS_USER;
  const nc = await connectNats({
    servers: process.env.NATS_URL ?? "nats://127.0.0.1:4222",
    name: "refund-subscriber",
    logger,
    ...(user ? { credentials: { user, password: required("NATS_PASSWORD") } } : {}),
  });
  await ensureOrderStream(nc, names);
  const subscriber = await createRefundSubscriber({ nc, names, pool, logger });
  await subscriber.start();
  logger.info({ durable: names.durable("refunds") }, "refund subscriber started");

  const bound = Number(process.env.SHUTDOWN_TIMEOUT_MS ?? 25_000);
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "shutting down");
    setTimeout(() => process.exit(1), bound).unref();
    await subscriber.stop({ drain: true });
    await nc.drain().catch(() => undefined);
    await pool.end();
    process.exit(0);
  };
  process.once("SIGTERM", () => void stop("SIGTERM"));
  process.once("SIGINT", () => void stop("SIGINT"));
}

main().catch((error: unknown) => {
  logger.fatal({ err: error }, "refund subscriber failed to start");
  process.exit(1);
});
