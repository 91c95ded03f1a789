/**
 * The dispatcher's moving parts, wired from already-made connections: used by main.ts and by the
 * integration tests (which run the real handler, consumer and relay in-process).
 */
import { fileURLToPath } from "node:url";
import { consumerBacklogs, ensureWorkConsumer, EventPublisher, JetStreamServer, type ConsumerHooks, type NatsConnection, type WorkConsumerOptions } from "@pinflow/bus";
import type { EventNames, OrderEvent } from "@pinflow/contracts";
import { ensureOutbox, isTransientDbError, listDeadLetters, migrate, OutboxDeadLetters, OutboxRelay, type Pool } from "@pinflow/pg";
import { consumerLagGauges, createEventHandlers, redeliveredEventsCounter, type DeadLetterList } from "@pinflow/service-kit";
import type { INestMicroservice } from "@nestjs/common";
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import { Balances } from "./balances.js";
import type { Catalog } from "./catalog.js";
import { StreamAttemptLog } from "./attempt-log.js";
import { DispatchHandler } from "./dispatch-handler.js";
import type { DispatchPolicy } from "./dispatch.js";
import type { DispatchStore } from "./dispatch-store.js";
import { OPEN_GATE, type CallGate } from "./gate.js";
import { DispatchEventsModule } from "./event-handlers.js";
import { DispatchMetrics } from "./metrics.js";
import { PgDispatchStore } from "./pg-dispatch-store.js";
import { Redispatcher } from "./redispatch-action.js";
import { REDISPATCH_CONSUMER, redispatchHandler } from "./redispatch-consumer.js";
import { ReplicaSlots } from "./replica-slots.js";
import type { PinSealer } from "./pin-sealer.js";
import type { ProviderRegistry } from "./providers.js";

/** The OrderCreated consumer; its durable name is `names.durable(CONSUMER)`. */
export const CONSUMER = "dispatcher";
/** OrderCreated messages a replica handles at once: above every provider's footprint in it (replica-slots.ts). */
export const DEFAULT_CONCURRENCY = 48;
/** Orders waiting for a provider are handed back (nak with delay) and stay pending: far above any backlog. */
export const DEFAULT_MAX_ACK_PENDING = 10_000;
/** RedispatchRequested messages a replica handles at once (operators' actions: few). */
export const REDISPATCH_CONCURRENCY = 8;
export const MIGRATIONS_DIR = fileURLToPath(new URL("../migrations", import.meta.url));

export interface DispatcherOptions {
  pool: Pool;
  nc: NatsConnection;
  /** The environment's stream, subjects and durable names. */
  names: EventNames;
  providers: ProviderRegistry;
  policy: DispatchPolicy;
  logger: Logger;
  registry: Registry;
  catalog: Catalog;
  /** Seals a PIN that arrives in a place reply. */
  pins: PinSealer;
  /** Per-provider limits (a ProviderGate, ensured); default none. */
  gate?: CallGate;
  gateWaitMs?: number;
  defaultRetryAfterMs?: number;
  ackWaitMs?: number;
  batch?: number;
  /** OrderCreated messages this replica handles at once (DISPATCH_CONCURRENCY, default 48). */
  concurrency?: number;
  /**
   * This replica's slots per provider (its configured concurrency): bounds how many of the
   * concurrent handlers one provider may take (replica-slots.ts). Default: not bounded.
   */
  providerSlots?: (provider: string) => number | undefined;
  /** The consumer's max_ack_pending across replicas; orders waiting (handed back) count (default 10 000). */
  maxAckPending?: number;
  /** Handler failures of one OrderCreated before it is dead-lettered (default 5), see WorkConsumer. */
  maxFailures?: number;
  /** The consumer's max_deliver (default 20 000): a backstop far above legitimate waiting. */
  maxDeliver?: number;
  failureBackoffMs?: number;
  /** Wrap the store (tests inject faults). */
  wrapStore?: (store: DispatchStore) => DispatchStore;
  clock?: () => Date;
  relayIntervalMs?: number;
}

export interface Dispatcher {
  handler: DispatchHandler;
  store: DispatchStore;
  relay: OutboxRelay;
  /**
   * The event handlers (event-handlers.ts) as a Nest microservice on the JetStream transport: the
   * "dispatcher" durable (OrderCreated) and "dispatcher-redispatch" (RedispatchRequested, the
   * generations operators' dispatch again opened).
   */
  events: INestMicroservice;
  /** The transport under `events`: messages in hand now. */
  transport: JetStreamServer;
  /** Operators' dispatch again (POST /v1/orders/:orderId/dispatch-again). */
  redispatcher: Redispatcher;
  metrics: DispatchMetrics;
  balances: Balances;
  /** The dead-letter record (GET /v1/dead-letters). */
  deadLetters: DeadLetterList;
  /** The order's events on the stream (what the operators' "dispatch again" check decides from). */
  history(orderId: string): Promise<OrderEvent[]>;
  start(): void;
  /**
   * Stop taking messages, settle those in hand, then publish what the outbox holds. `drain` (the
   * process stops for good): open pulls are left to end and their last messages handled too.
   */
  stop(opts?: { drain?: boolean }): Promise<void>;
}

/** Apply migrations and the outbox table. */
export async function prepareDatabase(pool: Pool): Promise<string[]> {
  const applied = await migrate(pool, MIGRATIONS_DIR);
  await ensureOutbox(pool);
  return applied;
}

/** Seed routes, ensure the durable consumer, and build the handler, consumer and relay (not started). */
export async function createDispatcher(opts: DispatcherOptions): Promise<Dispatcher> {
  const pgStore = new PgDispatchStore(opts.pool);
  await pgStore.seedRoutes(opts.catalog);
  const store = opts.wrapStore ? opts.wrapStore(pgStore) : pgStore;
  const consumerOptions: WorkConsumerOptions = {
    durable: opts.names.durable(CONSUMER),
    filterSubject: opts.names.eventType("OrderCreated"),
    ackWaitMs: opts.ackWaitMs ?? 30_000,
    batch: opts.batch ?? 5,
    concurrency: opts.concurrency ?? DEFAULT_CONCURRENCY,
    maxAckPending: opts.maxAckPending ?? DEFAULT_MAX_ACK_PENDING,
    ...(opts.maxFailures !== undefined ? { maxFailures: opts.maxFailures } : {}),
    ...(opts.maxDeliver !== undefined ? { maxDeliver: opts.maxDeliver } : {}),
    ...(opts.failureBackoffMs !== undefined ? { failureBackoffMs: opts.failureBackoffMs } : {}),
  };
  await ensureWorkConsumer(opts.nc, opts.names, consumerOptions);
  const redispatchOptions: WorkConsumerOptions = {
    ...consumerOptions,
    durable: opts.names.durable(REDISPATCH_CONSUMER),
    filterSubject: opts.names.eventType("RedispatchRequested"),
    concurrency: Math.min(REDISPATCH_CONCURRENCY, consumerOptions.concurrency ?? REDISPATCH_CONCURRENCY),
  };
  await ensureWorkConsumer(opts.nc, opts.names, redispatchOptions);
  const metrics = new DispatchMetrics(opts.registry);
  consumerLagGauges(opts.registry, () => consumerBacklogs(opts.nc, opts.names.stream, [consumerOptions.durable, redispatchOptions.durable]));
  const publisher = new EventPublisher(opts.nc, opts.names);
  const relay = new OutboxRelay(opts.pool, publisher, opts.logger, opts.relayIntervalMs ?? 250);
  const shared = opts.gate ?? OPEN_GATE;
  // A provider takes at most its own slots of the concurrent handlers (replica-slots.ts).
  const gate = opts.providerSlots ? new ReplicaSlots(shared, opts.providerSlots) : shared;
  const gateWaitMs = opts.gateWaitMs ?? 2_000;
  const defaultRetryAfterMs = opts.defaultRetryAfterMs ?? 10_000;
  const facts = new StreamAttemptLog(opts.nc, opts.names, publisher, opts.logger);
  const handler = new DispatchHandler({
    store,
    facts,
    providers: opts.providers,
    policy: opts.policy,
    kick: () => relay.kick(),
    logger: opts.logger,
    metrics,
    pins: opts.pins,
    gate,
    gateWaitMs,
    defaultRetryAfterMs,
    ...(opts.clock ? { clock: opts.clock } : {}),
  });
  // An OrderCreated the dispatcher gives up on is recorded, and its order gets ReviewRequired (outbox).
  const deadLetters = new OutboxDeadLetters(opts.pool, { stage: "dispatch", committed: () => relay.kick(), ...(opts.clock ? { clock: opts.clock } : {}) });
  const redelivered = redeliveredEventsCounter(opts.registry);
  const hooks = (durable: string): ConsumerHooks => ({
    deadLetters,
    onRedelivered: () => redelivered.inc({ durable }),
    isTransient: isTransientDbError,
    onRejected: (reason) => metrics.rejectedEvent(reason),
    onDeadLettered: (letter) => metrics.deadLettered(letter),
  });
  const transport = new JetStreamServer(
    opts.nc,
    opts.names,
    [
      { options: consumerOptions, hooks: hooks(consumerOptions.durable) },
      { options: redispatchOptions, hooks: hooks(redispatchOptions.durable) },
    ],
    opts.logger,
  );
  const events = await createEventHandlers(DispatchEventsModule.register({ dispatch: handler.handle, redispatch: redispatchHandler(handler, facts) }), transport, opts.logger);
  const redispatcher = new Redispatcher({
    store,
    history: (orderId) => facts.history(orderId),
    configured: () => new Set(opts.providers.keys()),
    policy: opts.policy,
    committed: () => relay.kick(),
    logger: opts.logger,
    ...(opts.clock ? { clock: opts.clock } : {}),
  });
  const balances = new Balances(opts.providers, gate, metrics, opts.logger, { gateWaitMs, defaultRetryAfterMs, access: store });
  return {
    handler,
    store,
    relay,
    events,
    transport,
    redispatcher,
    metrics,
    balances,
    deadLetters: { list: (query) => listDeadLetters(opts.pool, query) },
    history: (orderId: string) => facts.history(orderId),
    start() {
      relay.start();
      events.listen().catch((error: unknown) => opts.logger.fatal({ err: error }, "event handlers could not start"));
    },
    async stop(how = {}) {
      if (how.drain) await transport.drain();
      await events.close();
      await relay.stop();
      // What the last handlers committed leaves now rather than at the next start.
      await relay.drain().catch((error: unknown) => opts.logger.warn({ err: error }, "final outbox drain failed; the next start publishes it"));
      await balances.stop();
    },
  };
}
