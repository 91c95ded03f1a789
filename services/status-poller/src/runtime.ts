/**
 * The poller's moving parts, wired from already-made connections: the OrderSent
 * consumer, the scheduler and the outbox relay. main.ts builds one from the
 * environment; integration tests build several on one database.
 */
import { randomUUID } from "node:crypto";
import { consumerBacklogs, EventPublisher, JetStreamServer, ensureWorkConsumer, type NatsConnection, type WorkConsumerOptions } from "@pinflow/bus";
import type { INestMicroservice } from "@nestjs/common";
import type { EventNames } from "@pinflow/contracts";
import { isTransientDbError, listDeadLetters, OutboxDeadLetters, OutboxRelay, type Pool } from "@pinflow/pg";
import { consumerLagGauges, createEventHandlers, createMetricsRegistry, redeliveredEventsCounter, type DeadLetterList } from "@pinflow/service-kit";
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import { OPEN_GATE, type CallGate, type ProviderControl } from "./gate.js";
import { PollerEventsModule } from "./event-handlers.js";
import { PollerMetrics } from "./metrics.js";
import { orderSentHandler } from "./order-sent-handler.js";
import { PgWatchStore } from "./pg-watch-store.js";
import { PollPlanner } from "./planner.js";
import type { Clock, PollingPlan, PollPolicy } from "./poll.js";
import { Scheduler } from "./scheduler.js";
import type { StatusChecker } from "./status-checker.js";
import type { WatchStore } from "./watch-store.js";

/** The OrderSent consumer; its durable name is `names.durable(CONSUMER)`. */
export const CONSUMER = "status-poller";

export interface PollerSettings {
  pollerId: string;
  /** Every provider's policy when `polling` is not given (a preset, checks by attempt). */
  policy: PollPolicy;
  /** Per provider: preset or adaptive (see policy.ts); overrides `policy`. */
  polling?: PollingPlan;
  /** How often adaptive schedules are learnt again (default 60 s). */
  planRefreshMs?: number;
  tickMs: number;
  claimBatch: number;
  concurrency: number;
  leaseMs: number;
  /** The longest a provider call can take (its timeout): a claim needs at least this much lease left. */
  checkTimeoutMs: number;
  relayIntervalMs?: number;
  /** How long a call waits in-process for a rate/concurrency permit before its watches are rescheduled (default 0). */
  gateWaitMs?: number;
  /** The pause after an HTTP 429 without a Retry-After header (default 10 s). */
  defaultRetryAfterMs?: number;
  /** The OrderSent consumer's ack wait (default 30 s). */
  ackWaitMs?: number;
  /** OrderSent messages this replica handles at once (CONSUMER_CONCURRENCY, default 8): each only records a watch row. */
  consumerConcurrency?: number;
  /** Failures of one OrderSent before it is dead-lettered (default 5), see WorkConsumer. */
  maxFailures?: number;
  /** The OrderSent consumer's max_deliver (default 20 000). */
  maxDeliver?: number;
  failureBackoffMs?: number;
}

export interface PollerRuntime {
  store: WatchStore;
  gate: CallGate & ProviderControl;
  scheduler: Scheduler;
  planner: PollPlanner;
  relay: OutboxRelay;
  /** The OrderSent handler (event-handlers.ts) as a Nest microservice on the JetStream transport ("status-poller" durable). */
  events: INestMicroservice;
  /** The transport under `events`: messages in hand now. */
  transport: JetStreamServer;
  metrics: PollerMetrics;
  registry: Registry;
  /** The dead-letter record (GET /v1/dead-letters). */
  deadLetters: DeadLetterList;
  start(): void;
  /**
   * Stop taking work, settle what is in flight, publish what was committed. `drain` (the process
   * stops for good): open pulls are left to end and their last messages handled too.
   */
  stop(opts?: { drain?: boolean }): Promise<void>;
}

export function consumerOptions(
  names: EventNames,
  ackWaitMs = 30_000,
  bounds: Pick<PollerSettings, "maxFailures" | "maxDeliver" | "failureBackoffMs" | "consumerConcurrency"> = {},
): WorkConsumerOptions {
  return {
    durable: names.durable(CONSUMER),
    filterSubject: names.eventType("OrderSent"),
    ackWaitMs,
    batch: 5,
    concurrency: bounds.consumerConcurrency ?? 8,
    maxAckPending: 50,
    ...(bounds.maxFailures !== undefined ? { maxFailures: bounds.maxFailures } : {}),
    ...(bounds.maxDeliver !== undefined ? { maxDeliver: bounds.maxDeliver } : {}),
    ...(bounds.failureBackoffMs !== undefined ? { failureBackoffMs: bounds.failureBackoffMs } : {}),
  };
}

export async function createPollerRuntime(deps: {
  pool: Pool;
  nc: NatsConnection;
  /** The environment's stream, subjects and durable names. */
  names: EventNames;
  logger: Logger;
  clock: Clock;
  checkers: readonly StatusChecker[];
  /**
   * The providers' shared limits (a ProviderGate on the poller's database, `ensure()`d): every
   * status call runs under it, and the admin API pauses/resumes through it. Default: no limits.
   */
  gate?: CallGate & ProviderControl;
  settings: PollerSettings;
  random?: () => number;
  registry?: Registry;
}): Promise<PollerRuntime> {
  const { pool, nc, names, logger, clock, settings } = deps;
  const random = deps.random ?? Math.random;
  const registry = deps.registry ?? createMetricsRegistry("status-poller");
  const store = new PgWatchStore(pool);
  const planner = settings.polling ? new PollPlanner(settings.polling, store, logger) : PollPlanner.fixed(settings.policy, store, logger);
  const gate = deps.gate ?? OPEN_GATE;
  const gated = deps.checkers.map((c) => c.provider);
  const metrics = new PollerMetrics(registry, (now) => store.backlog(now), clock, async () => {
    const out: Array<{ provider: string; paused: boolean; circuitOpenForMs: number }> = [];
    for (const provider of gated) {
      const status = await gate.status(provider);
      if (status) out.push(status);
    }
    return out;
  });
  const relay = new OutboxRelay(pool, new EventPublisher(nc, names), logger, settings.relayIntervalMs ?? 250);
  const scheduler = new Scheduler(
    {
      store,
      checkers: deps.checkers,
      gate,
      planner,
      clock,
      random,
      newId: randomUUID,
      committed: () => relay.kick(),
      logger,
      observer: metrics,
    },
    {
      owner: settings.pollerId,
      tickMs: settings.tickMs,
      claimBatch: settings.claimBatch,
      concurrency: settings.concurrency,
      leaseMs: settings.leaseMs,
      // A call may first wait for its permit, then take up to its timeout.
      minLeaseLeftMs: (settings.gateWaitMs ?? 0) + settings.checkTimeoutMs + 1000,
      planRefreshMs: settings.planRefreshMs ?? 60_000,
      gateWaitMs: settings.gateWaitMs ?? 0,
      defaultRetryAfterMs: settings.defaultRetryAfterMs ?? 10_000,
    },
  );
  const options = consumerOptions(names, settings.ackWaitMs, settings);
  await ensureWorkConsumer(nc, names, options);
  consumerLagGauges(registry, () => consumerBacklogs(nc, names.stream, [options.durable]));
  const redelivered = redeliveredEventsCounter(registry);
  // An OrderSent the poller gives up on is recorded, and its order gets ReviewRequired (outbox): it is never watched.
  const deadLetters = new OutboxDeadLetters(pool, { stage: "monitoring", committed: () => relay.kick(), clock: () => clock.now() });
  const transport = new JetStreamServer(nc, names, [{
    options,
    hooks: {
      deadLetters,
      isTransient: isTransientDbError,
      onRedelivered: () => redelivered.inc({ durable: options.durable }),
      onRejected: (reason) => metrics.eventRejected(reason),
      onDeadLettered: (letter) => metrics.deadLettered(letter),
    },
  }], logger);
  const events = await createEventHandlers(PollerEventsModule.register(orderSentHandler({ store, planner, clock, random, logger })), transport, logger);

  return {
    store,
    gate,
    scheduler,
    planner,
    relay,
    events,
    transport,
    metrics,
    registry,
    deadLetters: { list: (query) => listDeadLetters(pool, query) },
    start() {
      relay.start();
      events.listen().catch((error: unknown) => logger.fatal({ err: error }, "event handlers could not start"));
      scheduler.start();
    },
    async stop(how = {}) {
      if (how.drain) await transport.drain();
      await events.close();
      await scheduler.stop();
      await relay.stop();
      // Whatever the last checks committed leaves now rather than at the next start.
      await relay.drain().catch((error) => logger.warn({ err: error }, "final outbox drain failed; the next start publishes it"));
    },
  };
}
