import { Environment } from "@pinflow/contracts";
import { z } from "zod";
import { NatsSettings } from "./nats-settings.js";

export class ConfigError extends Error {
  override name = "ConfigError";
}

/** Parse configuration from the environment; a bad value stops the service with a clear message (never echoing secrets). */
export function loadConfig<T extends z.ZodType>(schema: T, env: NodeJS.ProcessEnv = process.env): z.infer<T> {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
    throw new ConfigError(`invalid configuration: ${problems}`);
  }
  return parsed.data;
}

export const msSetting = (fallback: number) => z.coerce.number().int().min(0).default(fallback);

/** Settings every service has. */
export const BaseConfig = z.object({
  NATS_URL: z.string().default("nats://127.0.0.1:4222"),
  /** The process's own NATS user, its password (or a file holding it) and TLS: see natsAccess(). */
  ...NatsSettings,
  /**
   * The environment (staging, production, …): the stream name, subject prefix and durable consumer names
   * derive from it (eventNames), so environments sharing a NATS server never cross. Required: no default
   * that two environments could both fall back to.
   */
  PINFLOW_ENV: Environment,
  DATABASE_URL: z.string().min(1),
  HTTP_PORT: z.coerce.number().int().min(0).max(65535),
  HTTP_HOST: z.string().default("127.0.0.1"),
  // PostgreSQL limits (0 = off): connecting, one statement (server side), one query without any answer
  // (client side; default: the statement limit + 5 s), a session idle inside a transaction.
  PG_CONNECT_TIMEOUT_MS: msSetting(5_000),
  PG_STATEMENT_TIMEOUT_MS: msSetting(30_000),
  PG_QUERY_TIMEOUT_MS: z.coerce.number().int().min(0).optional(),
  PG_IDLE_IN_TRANSACTION_TIMEOUT_MS: msSetting(60_000),
  /** Failed authentications per client, and per key id, within the window before further ones answer 429. */
  AUTH_MAX_FAILURES: z.coerce.number().int().min(1).default(20),
  AUTH_FAILURE_WINDOW_MS: msSetting(60_000),
});

/** How long a service may take to stop cleanly on SIGTERM (startService): below the orchestrator's grace period. */
export const ShutdownConfig = z.object({ SHUTDOWN_TIMEOUT_MS: z.coerce.number().int().min(1).default(25_000) });

/**
 * The dispatcher's and the status-poller's way to the API keys: the orders service's database
 * (its tables `api_key`, `tenant`), ideally through a role that may only SELECT them.
 */
export const KeyStoreConfig = z.object({ AUTH_DATABASE_URL: z.string().min(1) });

/** The PostgreSQL limits of a service's configuration, for `createPool(url, { timeouts })`. */
export function pgTimeouts(c: Pick<z.infer<typeof BaseConfig>, "PG_CONNECT_TIMEOUT_MS" | "PG_STATEMENT_TIMEOUT_MS" | "PG_QUERY_TIMEOUT_MS" | "PG_IDLE_IN_TRANSACTION_TIMEOUT_MS">): {
  connectMs: number;
  statementMs: number;
  queryMs: number;
  idleInTransactionMs: number;
} {
  return {
    connectMs: c.PG_CONNECT_TIMEOUT_MS,
    statementMs: c.PG_STATEMENT_TIMEOUT_MS,
    queryMs: c.PG_QUERY_TIMEOUT_MS ?? (c.PG_STATEMENT_TIMEOUT_MS > 0 ? c.PG_STATEMENT_TIMEOUT_MS + 5_000 : 0),
    idleInTransactionMs: c.PG_IDLE_IN_TRANSACTION_TIMEOUT_MS,
  };
}
