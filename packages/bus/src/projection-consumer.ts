import { DeliverPolicy, jetstream } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import type { EventNames, OrderEvent } from "@pinflow/contracts";
import type { Logger } from "pino";
import { decodeEvent } from "./codec.js";
import { describeError } from "./dead-letter.js";

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
   * Give up on a message that failed `tries` times: record it as a dead letter (with `error`) and
   * store `seq` as the checkpoint in the same transaction. Throws if that cannot be stored.
   */
  deadLetter(message: ProjectionMessage, error: string, tries: number): Promise<void>;
}

export interface ProjectionConsumerOptions {
  filterSubject?: string;
  /** Pause before resuming after a failed apply (default 1 s): a poison event holds the projection up for about (maxTries − 1) × this. */
  retryDelayMs?: number;
  /** Failed applies of one message (not counting transient ones) before it is dead-lettered (default 5). */
  maxTries?: number;
  /** Whether an apply error is an outage (database unreachable): retried without counting. */
  isTransient?: (error: unknown) => boolean;
}

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
        const messages = await consumer.consume({ max_messages: 256 });
        this.messages = messages;
        // stop() may have run while the consumer was being (re)created: it closed the previous iterator
        // only. Close this one too, without waiting: the library finishes a close when the iterator is
        // read, and this one never will be (it has unsubscribed already).
        if (this.stopped) {
          void messages.close();
          break;
        }
        for await (const msg of messages) {
          if (msg.seq <= this.lastApplied) continue;
          const decoded = decodeEvent(msg.data, msg.subject);
          const common = { seq: msg.seq, subject: msg.subject, data: msg.data };
          const message: ProjectionMessage = decoded.ok ? { ...common, ok: true, event: decoded.event } : { ...common, ok: false, reason: decoded.reason };
          await this.applyOrGiveUp(message);
          this.lastApplied = msg.seq;
          for (const w of this.waiters) if (w.seq <= msg.seq) w.resolve();
          if (this.stopped) break;
        }
      } catch (error) {
        if (this.stopped || this.nc.isClosed()) break;
        this.logger.error({ err: error, seq: this.failing?.seq, tries: this.failing?.tries ?? 0 }, "projection consumer failed; resuming from checkpoint");
        await this.messages?.close().catch(() => undefined);
        await new Promise((r) => setTimeout(r, this.opts.retryDelayMs ?? 1000));
      }
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
