import { JetStreamProjectionServer, type NatsConnection, type ProjectionConsumerOptions, type ProjectionSink } from "@pinflow/bus";
import { EVENT_TYPES, type EventNames } from "@pinflow/contracts";
import { createEventHandlers } from "@pinflow/service-kit";
import type { Logger } from "pino";
import type { OrderChange } from "./order-change.js";
import type { PinCheck } from "./order.js";
import { OrderProjectionModule } from "./projection-handlers.js";

/** The running orders projection: read-your-write for the API, and its stop. */
export interface OrderProjection {
  /** Resolves once the projection has committed `seq` (or after `timeoutMs`); returns whether it caught up. */
  waitFor(seq: number, timeoutMs: number): Promise<boolean>;
  /** Stop reading; resolves once the batch being committed is done. */
  stop(): Promise<void>;
}

/**
 * Start the orders projection: its `@EventPattern` handlers (projection-handlers.ts) as a Nest
 * microservice on the bus's projection transport, reading its environment's stream after the
 * projection's checkpoint (from the beginning on an empty database: the rebuild) and committing
 * into `sink` (OrderProjectionSink over the store; tests may wrap it).
 */
export async function startOrderProjection(deps: {
  nc: NatsConnection;
  names: EventNames;
  sink: ProjectionSink<OrderChange>;
  pinOpens: PinCheck;
  logger: Logger;
  options?: ProjectionConsumerOptions;
}): Promise<OrderProjection> {
  const server = new JetStreamProjectionServer<OrderChange>(deps.nc, deps.names, { sink: deps.sink, eventTypes: EVENT_TYPES, ...(deps.options ? { options: deps.options } : {}) }, deps.logger);
  const app = await createEventHandlers(OrderProjectionModule.register(deps.pinOpens), server, deps.logger);
  await app.listen();
  return { waitFor: (seq, timeoutMs) => server.waitFor(seq, timeoutMs), stop: () => app.close() };
}
