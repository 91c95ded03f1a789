import { DeliverPolicy, jetstream } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import type { EventNames, OrderEvent } from "@pinflow/contracts";
import type { Logger } from "pino";
import { decodeEvent } from "./codec.js";

/** One stream message as a projection sees it: a valid event, or a malformed one it must skip (and count). */
export type ProjectionMessage =
  | { seq: number; ok: true; event: OrderEvent }
  | { seq: number; ok: false; subject: string; reason: string };

export interface ProjectionSource {
  /** The last stream sequence the projection committed (0 for none). */
  checkpoint(): Promise<number>;
  /** Apply one message and store `seq` as the checkpoint in the same transaction. */
  apply(message: ProjectionMessage): Promise<void>;
}

export interface ProjectionConsumerOptions {
  filterSubject?: string;
  retryDelayMs?: number;
}

/**
 * Feed a projection from an ordered consumer that starts after the
 * projection's own checkpoint. If applying fails (the database is down), the
 * consumer is dropped and recreated from the checkpoint: nothing is skipped.
 */
export class ProjectionConsumer {
  private stopped = false;
  private messages: { close(): Promise<void | Error> } | undefined;
  private loop: Promise<void> | undefined;
  private lastApplied = 0;
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
        for await (const msg of messages) {
          if (msg.seq <= this.lastApplied) continue;
          const decoded = decodeEvent(msg.data, msg.subject);
          const message: ProjectionMessage = decoded.ok
            ? { seq: msg.seq, ok: true, event: decoded.event }
            : { seq: msg.seq, ok: false, subject: msg.subject, reason: decoded.reason };
          await this.source.apply(message);
          this.lastApplied = msg.seq;
          for (const w of this.waiters) if (w.seq <= msg.seq) w.resolve();
          if (this.stopped) break;
        }
      } catch (error) {
        if (this.stopped || this.nc.isClosed()) break;
        this.logger.error({ err: error }, "projection consumer failed; resuming from checkpoint");
        await this.messages?.close().catch(() => undefined);
        await new Promise((r) => setTimeout(r, this.opts.retryDelayMs ?? 1000));
      }
    }
  }
}
