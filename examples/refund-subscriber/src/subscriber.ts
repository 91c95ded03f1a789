/**
 * The refund subscriber, wired from made connections (main.ts and the tests): its durable consumer
 * on the order stream, its event handlers as a Nest microservice on the bus's JetStream transport,
 * and its refund table.
 */
import "reflect-metadata";
import type { INestMicroservice, LoggerService } from "@nestjs/common";
import { NestFactory } from "@nestjs/core";
import { ensureWorkConsumer, JetStreamServer, type NatsConnection, type WorkConsumerOptions } from "@pinflow/bus";
import type { EventNames } from "@pinflow/contracts";
import { isTransientDbError, recordDeadLetter, type Pool } from "@pinflow/pg";
import type { Logger } from "pino";
import { RefundEventsModule } from "./refund-events.js";
import { PgRefundStore } from "./refund-store.js";

/** The subscriber's durable: `names.durable(CONSUMER)`; its NATS user (`<env>-refunds`) may use only this one. */
export const CONSUMER = "refunds";

export interface RefundSubscriber {
  store: PgRefundStore;
  events: INestMicroservice;
  /** Start taking messages. */
  start(): Promise<void>;
  /** Stop taking messages and settle those in hand; `drain` (stopping for good): let the open pull end and handle its last messages too. */
  stop(opts?: { drain?: boolean }): Promise<void>;
}

export interface RefundSubscriberOptions {
  nc: NatsConnection;
  names: EventNames;
  pool: Pool;
  logger: Logger;
  ackWaitMs?: number;
  /** Failures of one message (not outages) before it is dead-lettered (default 5). */
  maxFailures?: number;
  failureBackoffMs?: number;
  /** Wrap the store (tests: a crash between the commit and the ack). */
  wrapStore?: (store: PgRefundStore) => Pick<PgRefundStore, "record">;
}

export async function createRefundSubscriber(opts: RefundSubscriberOptions): Promise<RefundSubscriber> {
  const store = await PgRefundStore.prepare(opts.pool);
  const options: WorkConsumerOptions = {
    durable: opts.names.durable(CONSUMER),
    // Every event of the stream (2.9: one filter subject); the handlers take the failures and the rest is acked.
    filterSubject: opts.names.allEvents,
    ackWaitMs: opts.ackWaitMs ?? 30_000,
    batch: 10,
    concurrency: 4,
    maxAckPending: 1_000,
    ...(opts.maxFailures !== undefined ? { maxFailures: opts.maxFailures } : {}),
    ...(opts.failureBackoffMs !== undefined ? { failureBackoffMs: opts.failureBackoffMs } : {}),
  };
  await ensureWorkConsumer(opts.nc, opts.names, options);
  const transport = new JetStreamServer(
    opts.nc,
    opts.names,
    [{ options, unhandled: "ack", hooks: { deadLetters: { record: async (letter) => void (await recordDeadLetter(opts.pool, letter)) }, isTransient: isTransientDbError } }],
    opts.logger,
  );
  const events = await NestFactory.createMicroservice(RefundEventsModule.register(opts.wrapStore ? opts.wrapStore(store) : store), {
    strategy: transport,
    logger: nestLogger(opts.logger),
  });
  await events.init();
  return {
    store,
    events,
    start: () => events.listen(),
    stop: async (how = {}) => {
      if (how.drain) await transport.drain();
      await events.close();
    },
  };
}

function nestLogger(logger: Logger): LoggerService {
  return {
    log: (message: unknown, context?: string) => logger.info({ context }, String(message)),
    error: (message: unknown, trace?: string, context?: string) => logger.error({ context, trace }, String(message)),
    warn: (message: unknown, context?: string) => logger.warn({ context }, String(message)),
    debug: (message: unknown, context?: string) => logger.debug({ context }, String(message)),
    verbose: (message: unknown, context?: string) => logger.trace({ context }, String(message)),
  };
}
