import { DeliverPolicy, jetstream, type JsMsg } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import type { EventNames, OrderEvent } from "@pinflow/contracts";
import type { Logger } from "pino";
import { decodeEvent } from "./codec.js";
import { describeError } from "./dead-letter.js";
import { endSpans, extractTraceContext, startConsumeSpan } from "./tracing.js";
import { context, trace, type Context } from "@opentelemetry/api";

/**
 * One stream message as a projection sees it: a valid event, or a malformed one it must not apply
 * (it records it as a dead letter). Both carry the message's subject and bytes.
 */
export type ProjectionMessage =
  | { seq: number; subject: string; data: Uint8Array; ok: true; event: OrderEvent }
  | { seq: number; subject: string; data: Uint8Array; ok: false; reason: string };

export interface ProjectionSource {
  /** The last stream sequence the projection committed (0 for none). */
  checkpoint(): Promise<number>;
  /** Apply one message and store `seq` as the checkpoint in the same transaction. */
  apply(message: ProjectionMessage): Promise<void>;
  /**
   * Optional: apply consecutive messages (in stream order) and store the last one's `seq` as the
   * checkpoint, all in one transaction — all or nothing. When it throws, the consumer applies the
   * same messages one by one with `apply`, so a message that keeps failing is told apart and
   * dead-lettered alone.
   */
  applyBatch?(messages: readonly ProjectionMessage[]): Promise<void>;
  /**
   * Give up on a message that failed `tries` times: record it as a dead letter (with `error`) and
   * store `seq` as the checkpoint in the same transaction. Throws if that cannot be stored.
   */
  deadLetter(message: ProjectionMessage, error: string, tries: number): Promise<void>;
  /**
   * Optional: called as each message is queued, before its batch is applied, so work on it (e.g.
   * computing its change) overlaps the commit in progress. Must not throw; whatever it starts
   * must be safe to do again (after a failure the message is read and prepared once more).
   */
  prepare?(message: ProjectionMessage): void;
}

export interface ProjectionConsumerOptions {
  filterSubject?: string;
  /** Pause before resuming after a failed apply (default 1 s): a poison event holds the projection up for about (maxTries − 1) × this. */
  retryDelayMs?: number;
  /** Failed applies of one message (not counting transient ones) before it is dead-lettered (default 5). */
  maxTries?: number;
  /** Whether an apply error is an outage (database unreachable): retried without counting. */
  isTransient?: (error: unknown) => boolean;
  /** Most messages handed to `applyBatch` at once (default 1,000). */
  maxBatch?: number;
}

export const DEFAULT_PROJECTION_MAX_BATCH = 1_000;

export const DEFAULT_PROJECTION_MAX_TRIES = 5;

/**
 * Feed a projection from an ordered consumer that starts after the
 * projection's own checkpoint. If applying fails (the database is down), the
 * consumer is dropped and recreated from the checkpoint: nothing is skipped.
 * A message that fails `maxTries` times for a reason that is not an outage
 * (e.g. the database refuses its text) is handed to `source.deadLetter`, which
 * records it and moves the checkpoint past it: one event never stops the
 * projection (DESIGN I7). Failures that `isTransient` calls outages never count,
 * so a database outage does not dead-letter good events.
 */
export class ProjectionConsumer {
  private stopped = false;
  private messages: { close(): Promise<void | Error> } | undefined;
  private loop: Promise<void> | undefined;
  private lastApplied = 0;
  /** The message that keeps failing, and how many times it did (survives recreating the consumer). */
  private failing: { seq: number; tries: number } | undefined;
  private readonly waiters = new Set<{ seq: number; resolve: () => void }>();

  constructor(
    private readonly nc: NatsConnection,
    private readonly names: EventNames,
    private readonly source: ProjectionSource,
    private readonly logger: Logger,
    private readonly opts: ProjectionConsumerOptions = {},
  ) {}

  start(): void {
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.messages?.close();
    await this.loop;
    for (const w of this.waiters) w.resolve();
  }

  /** Resolves once the projection has applied `seq` (or after `timeoutMs`); returns whether it caught up. */
  waitFor(seq: number, timeoutMs: number): Promise<boolean> {
    if (this.lastApplied >= seq) return Promise.resolve(true);
    return new Promise((resolve) => {
      const waiter = {
        seq,
        resolve: () => {
          clearTimeout(timer);
          this.waiters.delete(waiter);
          resolve(this.lastApplied >= seq);
        },
      };
      const timer = setTimeout(waiter.resolve, timeoutMs);
      this.waiters.add(waiter);
    });
  }

  private async run(): Promise<void> {
    const js = jetstream(this.nc);
    while (!this.stopped && !this.nc.isClosed()) {
      try {
        const from = (await this.source.checkpoint()) + 1;
        this.lastApplied = from - 1;
        const consumer = await js.consumers.get(this.names.stream, {
          filter_subjects: this.opts.filterSubject ?? this.names.allEvents,
          ...(from > 1 ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: from } : { deliver_policy: DeliverPolicy.All }),
        });
        const messages = await consumer.consume({ max_messages: 4_096 });
        this.messages = messages;
        // stop() may have run while the consumer was being (re)created: it closed the previous iterator
        // only. Close this one too, without waiting: the library finishes a close when the iterator is
        // read, and this one never will be (it has unsubscribed already).
        if (this.stopped) {
          void messages.close();
          break;
        }
        await this.drain(messages);
      } catch (error) {
        if (this.stopped || this.nc.isClosed()) break;
        this.logger.error({ err: error, seq: this.failing?.seq, tries: this.failing?.tries ?? 0 }, "projection consumer failed; resuming from checkpoint");
        await this.messages?.close().catch(() => undefined);
        await new Promise((r) => setTimeout(r, this.opts.retryDelayMs ?? 1000));
      }
    }
  }

  /**
   * Read the consumer into a queue and apply what has queued up whenever the previous apply is done:
   * one message at a time while the stream is quiet (no added latency), many per transaction while
   * it is busy or replaying (the batch is whatever arrived during the last commit, up to `maxBatch`).
   * The reader pauses when the queue holds a few batches, so memory stays bounded.
   */
  private async drain(messages: AsyncIterable<JsMsg> & { close(): Promise<void | Error> }): Promise<void> {
    const maxBatch = this.opts.maxBatch ?? DEFAULT_PROJECTION_MAX_BATCH;
    const queue: ProjectionMessage[] = [];
    let lastQueued = this.lastApplied;
    let readerDone = false;
    let closing = false;
    let readerError: unknown;
    let wakeWriter: (() => void) | undefined;
    let wakeReader: (() => void) | undefined;
    const reader = (async () => {
      try {
        for await (const msg of messages) {
          // Closing: the library ends the iterator only after what it had buffered is read; skip it.
          if (closing || msg.seq <= lastQueued) continue;
          lastQueued = msg.seq;
          const message = toProjectionMessage(msg);
          queue.push(message);
          this.source.prepare?.(message);
          wakeWriter?.();
          if (queue.length >= 4 * maxBatch) await new Promise<void>((resolve) => (wakeReader = resolve));
          // Decoding a long buffered run would hold the event loop: let the database's replies in.
          else if (queue.length % 64 === 0) await new Promise((resolve) => setImmediate(resolve));
        }
      } catch (error) {
        readerError = error;
      } finally {
        readerDone = true;
        wakeWriter?.();
      }
    })();
    try {
      while (!this.stopped) {
        if (queue.length === 0) {
          if (readerDone) break;
          await new Promise<void>((resolve) => (wakeWriter = resolve));
          wakeWriter = undefined;
          continue;
        }
        const batch = queue.splice(0, maxBatch);
        wakeReader?.();
        wakeReader = undefined;
        await this.applyBatchOrOneByOne(batch);
        const last = batch[batch.length - 1]!.seq;
        this.lastApplied = last;
        for (const w of this.waiters) if (w.seq <= last) w.resolve();
      }
    } finally {
      // On a failed apply the consumer is dropped (the caller resumes from the checkpoint); on stop too.
      if (!readerDone) {
        closing = true;
        wakeReader?.();
        await messages.close().catch(() => undefined);
      }
      await reader;
    }
    if (readerError !== undefined && !this.stopped) throw readerError;
  }

  /**
   * Each message is a consume span in its own trace (the context in its headers), open while its
   * batch is applied; a batch of one runs inside its span (its statements join the trace).
   */
  private async applyBatchOrOneByOne(batch: ProjectionMessage[]): Promise<void> {
    const spans = batch.map((m) =>
      startConsumeSpan(`consume ${m.ok ? m.event.type : "malformed"}`, traceContexts.get(m) ?? context.active(), {
        "messaging.destination.name": m.subject,
        ...(m.ok ? { "pinflow.order_id": m.event.orderId } : {}),
      }),
    );
    const only = batch.length === 1 ? spans[0] : undefined;
    try {
      await (only ? context.with(trace.setSpan(traceContexts.get(batch[0]!) ?? context.active(), only), () => this.applyAll(batch)) : this.applyAll(batch));
      endSpans(spans);
    } catch (error) {
      endSpans(spans, error);
      throw error;
    }
  }

  /** The whole batch in one transaction when the source can; else, or when that fails, one message at a time. */
  private async applyAll(batch: ProjectionMessage[]): Promise<void> {
    if (batch.length > 1 && this.source.applyBatch) {
      try {
        await this.source.applyBatch(batch);
        this.failing = undefined;
        return;
      } catch (error) {
        if (this.opts.isTransient?.(error)) throw error;
        this.logger.warn({ err: error, from: batch[0]!.seq, to: batch[batch.length - 1]!.seq }, "batch apply failed; applying its messages one by one");
      }
    }
    for (const message of batch) {
      await this.applyOrGiveUp(message);
      this.lastApplied = message.seq;
    }
  }

  /** Apply; on a failure that is not an outage count it, and at the bound record the message as a dead letter. */
  private async applyOrGiveUp(message: ProjectionMessage): Promise<void> {
    try {
      await this.source.apply(message);
      this.failing = undefined;
      return;
    } catch (error) {
      if (this.opts.isTransient?.(error)) throw error;
      const tries = this.failing?.seq === message.seq ? this.failing.tries + 1 : 1;
      this.failing = { seq: message.seq, tries };
      if (tries < (this.opts.maxTries ?? DEFAULT_PROJECTION_MAX_TRIES)) throw error;
      await this.source.deadLetter(message, describeError(error), tries);
      this.failing = undefined;
    }
  }
}

/** The trace context each message carried (its `traceparent` header), for its consume span. */
const traceContexts = new WeakMap<ProjectionMessage, Context>();

function toProjectionMessage(msg: JsMsg): ProjectionMessage {
  const decoded = decodeEvent(msg.data, msg.subject);
  const common = { seq: msg.seq, subject: msg.subject, data: msg.data };
  const message: ProjectionMessage = decoded.ok ? { ...common, ok: true, event: decoded.event } : { ...common, ok: false, reason: decoded.reason };
  traceContexts.set(message, extractTraceContext(msg.headers));
  return message;
}
