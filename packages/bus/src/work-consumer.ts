import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, type JsMsg } from "@nats-io/jetstream";
import { nanos, type NatsConnection } from "@nats-io/transport-node";
import type { EventNames, OrderEvent } from "@pinflow/contracts";
import type { Logger } from "pino";
import { decodeEvent } from "./codec.js";
import { isNotFound } from "./stream.js";
import { extractTraceContext, inSpan, SpanKind } from "./tracing.js";

/** What a handler decided about one message; each maps to exactly one JetStream reply. */
export type HandlerOutcome = { ack: true } | { retryAfterMs: number } | { reject: string };
export const ACK: HandlerOutcome = { ack: true };

export interface DeliveryContext {
  seq: number;
  deliveryCount: number;
}

export interface WorkConsumerOptions {
  durable: string;
  filterSubject: string;
  /** How long the server waits for an ack before redelivering; `working()` is sent while a handler runs. */
  ackWaitMs: number;
  /** Messages pulled per request: small, never the default 100 (DESIGN.md §3). */
  batch: number;
  maxAckPending: number;
}

export interface ConsumerHooks {
  /** A malformed or unknown message: logged, counted and terminated, never retried. */
  onRejected?: (reason: string) => void;
  onHandled?: (type: string, outcome: HandlerOutcome) => void;
}

/** Create or update the durable pull consumer (explicit ack). */
export async function ensureWorkConsumer(nc: NatsConnection, names: EventNames, opts: WorkConsumerOptions): Promise<void> {
  const jsm = await jetstreamManager(nc);
  const config = {
    durable_name: opts.durable,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    filter_subject: opts.filterSubject,
    ack_wait: nanos(opts.ackWaitMs),
    max_deliver: -1,
    max_ack_pending: opts.maxAckPending,
  };
  try {
    await jsm.consumers.info(names.stream, opts.durable);
    await jsm.consumers.update(names.stream, opts.durable, {
      ack_wait: config.ack_wait,
      max_ack_pending: config.max_ack_pending,
      max_deliver: config.max_deliver,
    });
  } catch (error) {
    if (!isNotFound(error)) throw error;
    await jsm.consumers.add(names.stream, config);
  }
}

export type WorkHandler = (event: OrderEvent, ctx: DeliveryContext) => Promise<HandlerOutcome>;

/**
 * Pull messages from a durable consumer and hand each to `handler`, one at a time.
 * The handler's outcome becomes ack / nak(delay) / term; a thrown error (an
 * infrastructure fault) becomes a nak with backoff, so the message comes back.
 */
export class WorkConsumer {
  private stopped = false;
  private messages: { close(): Promise<void | Error> } | undefined;
  private loop: Promise<void> | undefined;

  constructor(
    private readonly nc: NatsConnection,
    private readonly names: EventNames,
    private readonly opts: WorkConsumerOptions,
    private readonly handler: WorkHandler,
    private readonly logger: Logger,
    private readonly hooks: ConsumerHooks = {},
  ) {}

  start(): void {
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.messages?.close();
    await this.loop;
  }

  private async run(): Promise<void> {
    const js = jetstream(this.nc);
    while (!this.stopped && !this.nc.isClosed()) {
      try {
        const consumer = await js.consumers.get(this.names.stream, this.opts.durable);
        const messages = await consumer.consume({ max_messages: this.opts.batch });
        this.messages = messages;
        for await (const msg of messages) {
          await this.handle(msg);
          if (this.stopped) break;
        }
      } catch (error) {
        if (this.stopped || this.nc.isClosed()) break;
        this.logger.error({ err: error, durable: this.opts.durable }, "work consumer failed; restarting");
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  }

  private async handle(msg: JsMsg): Promise<void> {
    const decoded = decodeEvent(msg.data, msg.subject);
    if (!decoded.ok) {
      this.logger.error({ subject: msg.subject, seq: msg.seq, reason: decoded.reason }, "rejected malformed event");
      this.hooks.onRejected?.(decoded.reason);
      msg.term(); // no reason argument: 2.9 ignores term-with-reason and redelivers
      return;
    }
    const event = decoded.event;
    const keepAlive = setInterval(() => msg.working(), Math.max(500, Math.floor(this.opts.ackWaitMs / 3)));
    let outcome: HandlerOutcome;
    try {
      outcome = await inSpan(
        `consume ${event.type}`,
        SpanKind.CONSUMER,
        extractTraceContext(msg.headers),
        { "pinflow.order_id": event.orderId, "messaging.consumer.group.name": this.opts.durable },
        () => this.handler(event, { seq: msg.seq, deliveryCount: msg.info.deliveryCount }),
      );
    } catch (error) {
      const delay = Math.min(30_000, 500 * 2 ** Math.min(6, msg.info.deliveryCount - 1));
      this.logger.error({ err: error, orderId: event.orderId, eventId: event.id, type: event.type, retryInMs: delay }, "handler failed; will retry");
      outcome = { retryAfterMs: delay };
    } finally {
      clearInterval(keepAlive);
    }
    if ("ack" in outcome) msg.ack();
    else if ("retryAfterMs" in outcome) msg.nak(outcome.retryAfterMs);
    else {
      this.logger.error({ orderId: event.orderId, eventId: event.id, type: event.type, reason: outcome.reject }, "handler rejected event");
      this.hooks.onRejected?.(outcome.reject);
      msg.term();
    }
    this.hooks.onHandled?.(event.type, outcome);
  }
}
