import type { RequestHandler } from "express";
import type { Pool } from "pg";
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import { Authenticator } from "./authenticator.js";
import { authenticate, authFailuresCounter } from "./http.js";
import { PgKeyStore } from "./key-store.js";

/** A service's door: the authentication middleware over the key table, and a readiness probe for it. */
export interface KeyAccess {
  middleware: RequestHandler;
  /** Resolves once the key table can be read (the orders service's migration has run). */
  ready(): Promise<void>;
}

export function keyAccess(opts: { pool: Pool; logger: Logger; registry: Registry; maxFailures: number; windowMs: number }): KeyAccess {
  const authenticator = new Authenticator(new PgKeyStore(opts.pool), { maxFailures: opts.maxFailures, windowMs: opts.windowMs });
  return {
    middleware: authenticate({ authenticator, logger: opts.logger, failures: authFailuresCounter(opts.registry) }),
    ready: async () => {
      await opts.pool.query("SELECT 1 FROM api_key LIMIT 0");
    },
  };
}
