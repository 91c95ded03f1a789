import "reflect-metadata";
import { NestFactory } from "@nestjs/core";
import type { NestExpressApplication } from "@nestjs/platform-express";
import type { NatsConnection } from "@pinflow/bus";
import type { RequestHandler } from "express";
import type { Logger } from "pino";
import { PinoNestLogger } from "./nest-logger.js";
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
    onShutdown?: () => Promise<void>;
    /** Runs before the body is read (authentication: an unauthenticated body is never parsed). */
    beforeBody?: RequestHandler;
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

  let closing = false;
  const shutdown = async (signal: string) => {
    if (closing) return;
    closing = true;
    opts.logger.info({ signal }, "shutting down");
    try {
      await app.close();
      await opts.onShutdown?.();
      await opts.nc.drain().catch(() => undefined);
    } finally {
      process.exit(0);
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
