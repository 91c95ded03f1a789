import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, type JsMsg } from "@nats-io/jetstream";
import { nanos, type NatsConnection } from "@nats-io/transport-node";
import type { EventNames, OrderEvent } from "@pinflow/contracts";
import type { Logger } from "pino";
import { decodeEvent } from "./codec.js";
import { deadLetterOf, describeError, type DeadLetter, type DeadLetterKind, type DeadLetterSink } from "./dead-letter.js";
import { isNotFound } from "./stream.js";
import { extractTraceContext, inSpan, SpanKind } from "./tracing.js";

/** What a handler decided about one message; each maps to exactly one JetStream reply. */
export type HandlerOutcome = { ack: true } | { retryAfterMs: number } | { reject: string };
export const ACK: HandlerOutcome = { ack: true };

export interface DeliveryContext {
  seq: number;
  deliveryCount: number;
  /** How many messages of the consumer's filter follow this one, not yet delivered (the backlog behind it), when known. */
  pending?: number;
}

export interface WorkConsumerOptions {
  durable: string;
  filterSubject: string;
  /** How long the server waits for an ack before redelivering; `working()` is sent while a handler runs. */
  ackWaitMs: number;
  /** Messages pulled per request: small, never the default 100 (DESIGN.md §3); never more than there are free handler slots. */
  batch: number;
  /**
   * Messages this process handles at once (default 1). The consumer pulls only as many messages as
   * it has free slots, so every message it holds is being handled (and kept alive with `working()`):
   * none waits in a client-side buffer while its ack deadline runs out.
   */
  concurrency?: number;
  /**
   * The server's bound on delivered, unacknowledged messages across every replica. Messages handed
   * back to wait (`retryAfterMs`, a nak with delay) count towards it, so it must be far above what
   * may legitimately wait (e.g. a paused provider's orders), or waiting work stops new work.
   */
  maxAckPending: number;
  /**
   * Handler failures (thrown errors that are not transient) of one message before it is
   * dead-lettered (default 5). Waiting (`retryAfterMs`) never counts as a failure.
   */
  maxFailures?: number;
  /**
   * The server's delivery bound (`max_deliver`, default 20 000), counting every delivery: waits
   * (naks), failures and ack-wait expiries. A backstop, far above any legitimate wait; a message on
   * its last delivery that would be retried once more is dead-lettered instead of being dropped.
   */
  maxDeliver?: number;
  /** First retry delay after a failure, doubling per failure (per delivery for outages) up to 30 s (default 500 ms). */
  failureBackoffMs?: number;
}

export const DEFAULT_MAX_FAILURES = 5;
/** How long one pull request waits at the server for messages before the next one is made. */
const PULL_EXPIRES_MS = 5_000;
export const DEFAULT_MAX_DELIVER = 20_000;

export interface ConsumerHooks {
  /** Where messages the consumer gives up on are recorded (the service's dead-letter table). */
  deadLetters: DeadLetterSink;
  /**
   * Whether a thrown error is an outage (database unreachable, connection lost) rather than
   * something about the message: such failures are retried without counting towards `maxFailures`.
   */
  isTransient?: (error: unknown) => boolean;
  /** A malformed or refused message: logged, counted, dead-lettered and terminated, never retried. */
  onRejected?: (reason: string) => void;
  /** A message was dead-lettered (after it was recorded): count it. */
  onDeadLettered?: (letter: DeadLetter) => void;
  onHandled?: (type: string, outcome: HandlerOutcome) => void;
  /**
   * A message came again (delivery count above 1): handed back to wait, failed before, or not
   * acknowledged in time (a crash, or a handler past its ack wait). Count it: redeliveries that no
   * wait or failure explains are work done twice.
   */
  onRedelivered?: (event: OrderEvent, deliveryCount: number) => void;
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
    max_deliver: opts.maxDeliver ?? DEFAULT_MAX_DELIVER,
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
 * Pull messages from a durable consumer and hand each to `handler`, up to `concurrency` at once.
 * The handler's outcome becomes ack / nak(delay) / term; a thrown error (an
 * infrastructure fault) becomes a nak with backoff, so the message comes back.
 *
 * Pull only what can start: each pull asks for at most the number of free handler slots, and a
 * pull is made only when a slot is free, so a message is either being handled (its handler's
 * `working()` keeps it alive past the ack wait) or still on the server; nothing sits in a buffer
 * while its ack deadline passes. A slow handler holds one slot, never the others: what one
 * message waits for (a slow provider) does not delay the messages beside it.
 *
 * No single message stops the consumer (DESIGN I7). A message is dead-lettered — recorded in the
 * service's dead-letter table through `deadLetters`, logged (ids and error, never the payload),
 * counted, and `term()`ed — when it is malformed, when the handler refuses it, when the handler
 * failed on it `maxFailures` times, or when its last allowed delivery (`maxDeliver`) would be
 * retried again. Failures and waiting are told apart on purpose: a handler that answers "later"
 * (a paused provider, an open circuit, a busy row) is waiting legitimately, possibly for many
 * minutes, and is never dead-lettered for it; only `maxDeliver`, set far above any real wait,
 * bounds it. Transient failures (`isTransient`: the database is down) do not count either: an
 * outage must not dead-letter good events. Failures are counted per message in this process, so
 * with several replicas (or after a restart) a poison message may be tried a few more times, still
 * a bounded number. If the dead letter cannot be stored, the message is retried, never dropped.
 */
export class WorkConsumer {
  private stopped = false;
  private messages: { close(): Promise<void | Error> } | undefined;
  private loop: Promise<void> | undefined;
  /** Failures per stream sequence of messages still in play (bounded: the oldest entries go first). */
  private readonly failures = new Map<number, number>();
  /** Handlers running now. */
  private readonly inFlight = new Set<Promise<void>>();
  /** Resolves the pull loop's wait for a free slot. */
  private slotFreed: (() => void) | undefined;
  private readonly concurrency: number;

  constructor(
    private readonly nc: NatsConnection,
    private readonly names: EventNames,
    private readonly opts: WorkConsumerOptions,
    private readonly handler: WorkHandler,
    private readonly logger: Logger,
    private readonly hooks: ConsumerHooks,
  ) {
    this.concurrency = Math.max(1, Math.floor(opts.concurrency ?? 1));
  }

  start(): void {
    this.loop = this.run();
  }

  /**
   * Stop pulling, then wait for the handlers in flight to settle their messages.
   *
   * `drain` (a process stopping for good): the pull request still open at the server is not cut
   * off but left to end (at most PULL_EXPIRES_MS), and what it still brings (no more than the free
   * slots) is handled and acked like any message. Cutting it off (the default, quick) unsubscribes
   * its inbox while the server may be delivering into it: such a message is lost to this process and
   * comes back to another only after the ack wait (a redelivery no handler asked for).
   */
  async stop(opts: { drain?: boolean } = {}): Promise<void> {
    this.stopped = true;
    this.slotFreed?.();
    if (!opts.drain) await this.messages?.close();
    await this.loop;
  }

  /** Messages being handled now. */
  get handling(): number {
    return this.inFlight.size;
  }

  private async run(): Promise<void> {
    const js = jetstream(this.nc);
    while (!this.stopped && !this.nc.isClosed()) {
      try {
        const consumer = await js.consumers.get(this.names.stream, this.opts.durable);
        while (!this.stopped && !this.nc.isClosed()) {
          await this.freeSlot();
          if (this.stopped) break;
          const want = Math.min(Math.max(1, this.opts.batch), this.concurrency - this.inFlight.size);
          const messages = await consumer.fetch({ max_messages: want, expires: PULL_EXPIRES_MS });
          this.messages = messages;
          // stop() may have run while the pull was being made: it closed the previous one only.
          // Close this one too, without waiting: the library finishes a close when the iterator is read.
          if (this.stopped) {
            void messages.close();
            break;
          }
          // Every message of this pull has a free slot (the pull asked for no more): start it at once,
          // even while stopping (a drained pull's last messages are handled and acked like the others).
          for await (const msg of messages) this.begin(msg);
        }
      } catch (error) {
        if (this.stopped || this.nc.isClosed()) break;
        this.logger.error({ err: error, durable: this.opts.durable }, "work consumer failed; restarting");
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
    await Promise.allSettled([...this.inFlight]);
  }

  /** Wait until fewer than `concurrency` messages are being handled (or the consumer stops). */
  private async freeSlot(): Promise<void> {
    while (!this.stopped && this.inFlight.size >= this.concurrency) {
      await new Promise<void>((resolve) => (this.slotFreed = resolve));
    }
  }

  private begin(msg: JsMsg): void {
    const handling: Promise<void> = this.handle(msg)
      .catch((error: unknown) => {
        // handle() settles every message itself; this is a bug guard, and the message comes back after the ack wait.
        this.logger.error({ err: error, seq: msg.seq, subject: msg.subject }, "work consumer could not settle a message");
      })
      .finally(() => {
        this.inFlight.delete(handling);
        const wake = this.slotFreed;
        this.slotFreed = undefined;
        wake?.();
      });
    this.inFlight.add(handling);
  }

  private async handle(msg: JsMsg): Promise<void> {
    const decoded = decodeEvent(msg.data, msg.subject);
    if (!decoded.ok) {
      this.logger.error({ subject: msg.subject, seq: msg.seq, reason: decoded.reason }, "rejected malformed event");
      if (await this.giveUp(msg, null, "malformed", decoded.reason)) this.hooks.onRejected?.(decoded.reason);
      return;
    }
    const event = decoded.event;
    if (msg.info.deliveryCount > 1) {
      this.logger.info({ orderId: event.orderId, eventId: event.id, type: event.type, seq: msg.seq, deliveryCount: msg.info.deliveryCount, durable: this.opts.durable }, "event delivered again");
      this.hooks.onRedelivered?.(event, msg.info.deliveryCount);
    }
    const keepAlive = setInterval(() => msg.working(), Math.max(500, Math.floor(this.opts.ackWaitMs / 3)));
    let outcome: HandlerOutcome;
    try {
      outcome = await inSpan(
        `consume ${event.type}`,
        SpanKind.CONSUMER,
        extractTraceContext(msg.headers),
        { "pinflow.order_id": event.orderId, "messaging.consumer.group.name": this.opts.durable },
        () => this.handler(event, { seq: msg.seq, deliveryCount: msg.info.deliveryCount, pending: msg.info.pending }),
      );
    } catch (error) {
      await this.failed(msg, event, error);
      return;
    } finally {
      clearInterval(keepAlive);
    }
    if ("ack" in outcome) {
      msg.ack();
      this.failures.delete(msg.seq);
    } else if ("retryAfterMs" in outcome) {
      if (this.lastDelivery(msg)) {
        await this.giveUp(msg, event, "delivery_limit", `still waiting after ${msg.info.deliveryCount} deliveries (the consumer's max_deliver)`);
      } else msg.nak(outcome.retryAfterMs);
    } else {
      this.logger.error({ orderId: event.orderId, eventId: event.id, type: event.type, reason: outcome.reject }, "handler rejected event");
      if (await this.giveUp(msg, event, "rejected", outcome.reject)) this.hooks.onRejected?.(outcome.reject);
    }
    this.hooks.onHandled?.(event.type, outcome);
  }

  /** The handler threw: retry later, or dead-letter after `maxFailures` failures that were not outages. */
  private async failed(msg: JsMsg, event: OrderEvent, error: unknown): Promise<void> {
    const transient = this.hooks.isTransient?.(error) ?? false;
    const failures = transient ? (this.failures.get(msg.seq) ?? 0) : this.countFailure(msg.seq);
    const maxFailures = this.opts.maxFailures ?? DEFAULT_MAX_FAILURES;
    const log = { orderId: event.orderId, eventId: event.id, type: event.type, seq: msg.seq, failures, transient };
    if ((!transient && failures >= maxFailures) || this.lastDelivery(msg)) {
      this.logger.error({ ...log, err: error }, "handler failed; giving up on the event");
      await this.giveUp(msg, event, failures >= maxFailures ? "failed" : "delivery_limit", describeError(error));
      return;
    }
    // An outage backs off by deliveries (it may last); a failure about the message by its failures.
    const step = transient ? msg.info.deliveryCount : failures;
    const delay = Math.min(30_000, (this.opts.failureBackoffMs ?? 500) * 2 ** Math.min(6, Math.max(0, step - 1)));
    this.logger.error({ ...log, err: error, retryInMs: delay }, "handler failed; will retry");
    msg.nak(delay);
  }

  /** Record the message as a dead letter, then terminate it (true); if it cannot be recorded, retry it later (false). */
  private async giveUp(msg: JsMsg, event: OrderEvent | null, kind: DeadLetterKind, error: string): Promise<boolean> {
    const letter = deadLetterOf({
      consumer: this.opts.durable,
      kind,
      seq: msg.seq,
      subject: msg.subject,
      data: msg.data,
      event,
      error,
      attempts: msg.info.deliveryCount,
    });
    try {
      await this.hooks.deadLetters.record(letter);
    } catch (recordError) {
      const delay = Math.min(30_000, 500 * 2 ** Math.min(6, msg.info.deliveryCount - 1));
      this.logger.error({ err: recordError, seq: msg.seq, subject: letter.subject, kind, retryInMs: delay }, "could not store the dead letter; the message will come back");
      msg.nak(delay);
      return false;
    }
    this.logger.error(
      { consumer: letter.consumer, seq: letter.seq, subject: letter.subject, orderId: letter.orderId, eventId: letter.eventId, type: letter.eventType, kind, attempts: letter.attempts, error: letter.error },
      "event dead-lettered; the consumer goes on",
    );
    this.hooks.onDeadLettered?.(letter);
    msg.term(); // no reason argument: 2.9 ignores term-with-reason and redelivers
    this.failures.delete(msg.seq);
    return true;
  }

  private lastDelivery(msg: JsMsg): boolean {
    return msg.info.deliveryCount >= (this.opts.maxDeliver ?? DEFAULT_MAX_DELIVER);
  }

  private countFailure(seq: number): number {
    const n = (this.failures.get(seq) ?? 0) + 1;
    this.failures.delete(seq);
    this.failures.set(seq, n);
    if (this.failures.size > 10_000) this.failures.delete(this.failures.keys().next().value!);
    return n;
  }
}
