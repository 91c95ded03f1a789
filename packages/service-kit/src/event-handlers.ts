import "reflect-metadata";
import type { INestMicroservice } from "@nestjs/common";
import { NestFactory } from "@nestjs/core";
import type { CustomTransportStrategy } from "@nestjs/microservices";
import type { Logger } from "pino";
import { PinoNestLogger } from "./nest-logger.js";

/**
 * A service's event handlers as a Nest microservice on a transport (the bus's JetStreamServer):
 * built and initialised here; `listen()` starts taking messages, `close()` stops and settles them.
 */
export async function createEventHandlers(module: unknown, strategy: CustomTransportStrategy, logger: Logger): Promise<INestMicroservice> {
  const app = await NestFactory.createMicroservice(module as never, { strategy, logger: new PinoNestLogger(logger), abortOnError: false });
  await app.init();
  return app;
}
