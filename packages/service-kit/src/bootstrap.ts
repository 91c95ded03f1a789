import "reflect-metadata";
import { NestFactory } from "@nestjs/core";
import type { NestExpressApplication } from "@nestjs/platform-express";
import type { NatsConnection } from "@pinflow/bus";
import type { RequestHandler } from "express";
import type { Logger } from "pino";
import { PinoNestLogger } from "./nest-logger.js";
import { loadConfig, ShutdownConfig } from "./config.js";
import { jsonBody } from "./json-body.js";
import { rejectWrongMethod, type RouteLayer } from "./method-guard.js";

export interface ServiceRuntime {
  app: NestExpressApplication;
  url: string;
}

/**
 * Start the Nest HTTP shell, and stop the whole process cleanly on SIGTERM/SIGINT,
 * or hard when the NATS connection closes for good (the orchestrator restarts us).
 */
export async function startService(
  module: unknown,
  opts: {
    host: string;
    port: number;
    logger: Logger;
    nc: NatsConnection;
    /**
     * On SIGTERM, beside closing HTTP: stop taking messages, settle those in hand (finished and
     * acked, or handed back) and publish the outbox.
     */
    stopWork?: () => Promise<void>;
    /** After HTTP and the work have stopped: close what is left (pools, tracing). */
    onShutdown?: () => Promise<void>;
    /** Runs before the body is read (authentication: an unauthenticated body is never parsed). */
    beforeBody?: RequestHandler;
    /**
     * The bound on a clean stop (SHUTDOWN_TIMEOUT_MS, default 25 s; keep it below the orchestrator's
     * grace period): past it the process exits with status 1, and whatever it still held comes back
     * to the other replicas after its ack wait.
     */
    shutdownTimeoutMs?: number;
  },
): Promise<ServiceRuntime> {
  const app = await NestFactory.create<NestExpressApplication>(module as never, {
    logger: new PinoNestLogger(opts.logger),
    abortOnError: false,
    bodyParser: false,
  });
  const express = app.getHttpAdapter().getInstance() as unknown as { router: { stack: RouteLayer[] } };
  app.use(rejectWrongMethod(() => express.router.stack));
  if (opts.beforeBody) app.use(opts.beforeBody);
  app.use(...jsonBody("16kb"));
  await app.listen(opts.port, opts.host);
  const url = await app.getUrl();
  opts.logger.info({ url }, "service listening");

  const shutdownTimeoutMs = opts.shutdownTimeoutMs ?? loadConfig(ShutdownConfig).SHUTDOWN_TIMEOUT_MS;
  let closing = false;
  /**
   * Stop taking work and settle it, within the bound: the HTTP server stops accepting and finishes
   * the requests in flight while `stopWork` stops the consumers (no new message; those in hand are
   * finished and acked, or handed back) and publishes the outbox; then `onShutdown` closes the
   * pools, and NATS is drained.
   */
  const shutdown = async (signal: string) => {
    if (closing) return;
    closing = true;
    const started = Date.now();
    opts.logger.info({ signal, shutdownTimeoutMs }, "shutting down");
    const bound = setTimeout(() => {
      opts.logger.error({ signal, shutdownTimeoutMs }, "shutdown took longer than its bound; exiting now");
      process.exit(1);
    }, shutdownTimeoutMs);
    let status = 0;
    try {
      // An HTTP request or a handler still running may need the pools: they close after both.
      const [http, work] = await Promise.allSettled([app.close(), opts.stopWork?.()]);
      const closed = await Promise.allSettled([opts.onShutdown?.()]);
      for (const [what, result] of [["http", http], ["work", work], ["resources", closed[0]]] as const) {
        if (result?.status === "rejected") {
          status = 1;
          opts.logger.error({ err: result.reason, what }, "shutdown step failed");
        }
      }
      await opts.nc.drain().catch(() => undefined);
      opts.logger.info({ signal, tookMs: Date.now() - started }, "stopped");
    } finally {
      clearTimeout(bound);
      process.exit(status);
    }
  };
  process.once("SIGTERM", () => void shutdown("SIGTERM"));
  process.once("SIGINT", () => void shutdown("SIGINT"));
  void opts.nc.closed().then((error) => {
    if (closing) return;
    opts.logger.fatal({ err: error }, "NATS connection closed; exiting");
    process.exit(1);
  });
  return { app, url };
}
