/**
 * The projection binding of the Nest JetStream transport: a CustomTransportStrategy whose
 * `@EventPattern(<event type>)` handlers are pure — each returns the projection's change for its
 * event — and whose binding commits those changes. It keeps every guarantee of the bus's
 * ProjectionConsumer, which it runs underneath:
 *
 * - an ordered consumer that starts after the projection's own checkpoint (an empty checkpoint is a
 *   replay from the beginning: the rebuild);
 * - the messages that queued up during the last commit are one batch: their changes and the last
 *   sequence as the checkpoint go to `sink.commit` in one transaction (exactly once);
 * - a failed batch is committed again one message at a time, so a message whose handler or commit
 *   keeps failing is told apart, and after `maxTries` it is dead-lettered (`sink.deadLetter`, the
 *   checkpoint past it); failures that `isTransient` calls outages are never counted;
 * - `waitFor(seq)` for read-your-write, consume spans per message (tracing).
 *
 *   const server = new JetStreamProjectionServer(nc, names, { sink, options }, logger);
 *   const app = await NestFactory.createMicroservice(ProjectionModule, { strategy: server });
 *   await app.listen();   // starts reading from the checkpoint
 *   await app.close();    // stops reading; the batch being committed finishes first
 *
 * A malformed message (no event to route) reaches the sink with no change: the sink records it.
 * A handler that throws, or returns nothing, is a failure of its message (as a failed commit is).
 * Handlers run as their messages are queued, ahead of the commits before them (and again after a
 * failure): they must be pure — no I/O, no reading of the projection; the state a change needs is
 * given to it by the sink at commit time (e.g. the orders projection's `OrderChange.fold(row)`).
 */
import "reflect-metadata";
import { BaseRpcContext, Server, type CustomTransportStrategy } from "@nestjs/microservices";
import type { EventNames, OrderEvent } from "@pinflow/contracts";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import { isObservable, lastValueFrom } from "rxjs";
import { ProjectionConsumer, type ProjectionConsumerOptions, type ProjectionMessage, type ProjectionSource } from "./projection-consumer.js";

/** One message of a batch with the change its handler returned (none for a malformed message). */
export type ProjectionEntry<C> =
  | { message: Extract<ProjectionMessage, { ok: true }>; change: C }
  | { message: Extract<ProjectionMessage, { ok: false }>; change: undefined };

/** Where a projection's changes are committed (e.g. a PostgreSQL store). */
export interface ProjectionSink<C> {
  /** The last stream sequence the projection committed (0 for none: replay from the beginning). */
  checkpoint(): Promise<number>;
  /**
   * Commit the entries' changes (consecutive messages, in stream order) and store the last one's
   * `seq` as the checkpoint, in one transaction: all or nothing.
   */
  commit(entries: readonly ProjectionEntry<C>[]): Promise<void>;
  /** Give up on a message that failed `tries` times: record it as a dead letter and store its `seq` as the checkpoint, in one transaction. */
  deadLetter(message: ProjectionMessage, error: string, tries: number): Promise<void>;
}

export interface ProjectionBinding<C> {
  sink: ProjectionSink<C>;
  /** The ordered consumer's settings: filter subject, batch size, tries before a dead letter, what an outage is. */
  options?: ProjectionConsumerOptions;
  /**
   * The event types the projection reads: `listen` fails unless each has a handler (an event with
   * none would be a failure of its message, dead-lettered after `maxTries`).
   */
  eventTypes?: readonly string[];
}

/** What a projection handler receives as `@Ctx()`: the message's stream sequence and subject. */
export class ProjectionContext extends BaseRpcContext<[ProjectionMessage]> {
  get seq(): number {
    return this.args[0].seq;
  }
  get subject(): string {
    return this.args[0].subject;
  }
}

export class JetStreamProjectionServer<C> extends Server implements CustomTransportStrategy {
  private readonly consumer: ProjectionConsumer;
  private state: "new" | "listening" | "closed" = "new";

  constructor(
    private readonly nc: NatsConnection,
    names: EventNames,
    private readonly binding: ProjectionBinding<C>,
    log: Logger,
  ) {
    super();
    this.consumer = new ProjectionConsumer(nc, names, this.source(), log, binding.options);
  }

  /** Start reading after the checkpoint (one handler per event type; each of `eventTypes` must have one). */
  listen(callback: (error?: unknown) => void): void {
    if (this.state === "listening") return callback();
    if (this.state === "closed") return callback(new Error("a closed projection server does not start again; create a new one"));
    for (const pattern of this.messageHandlers.keys()) {
      if (this.messageHandlers.get(pattern)?.next) return callback(new Error(`more than one @EventPattern handler for ${pattern}: one change per event`));
    }
    const missing = (this.binding.eventTypes ?? []).filter((type) => !this.messageHandlers.has(type));
    if (missing.length > 0) return callback(new Error(`no projection handler for ${missing.join(", ")}`));
    this.state = "listening";
    this.consumer.start();
    callback();
  }

  /** Stop reading; resolves once the batch being committed is done. Waiters of `waitFor` are released. */
  async close(): Promise<void> {
    if (this.state !== "listening") {
      this.state = "closed";
      return;
    }
    this.state = "closed";
    await this.consumer.stop();
  }

  /** Resolves once the projection has committed `seq` (or after `timeoutMs`); returns whether it caught up. */
  waitFor(seq: number, timeoutMs: number): Promise<boolean> {
    return this.consumer.waitFor(seq, timeoutMs);
  }

  on(): never {
    throw new Error("JetStreamProjectionServer has no events to listen to");
  }

  unwrap<T>(): T {
    return this.nc as T;
  }

  /**
   * The consumer's source: each message's change from its handler, committed by the sink. The
   * handler runs as the message is queued (`prepare`), while the previous batch commits; its
   * result (or error) is taken when the message's batch is committed.
   */
  private source(): ProjectionSource {
    const sink = this.binding.sink;
    const prepared = new WeakMap<ProjectionMessage, Promise<ProjectionEntry<C>>>();
    const entryOf = (message: ProjectionMessage) => prepared.get(message) ?? this.entry(message);
    return {
      checkpoint: () => sink.checkpoint(),
      prepare: (message) => {
        const entry = this.entry(message);
        entry.catch(() => undefined); // its error is the message's failure when its batch is committed
        prepared.set(message, entry);
      },
      apply: async (message) => sink.commit([await entryOf(message)]),
      applyBatch: async (messages) => {
        const entries: ProjectionEntry<C>[] = [];
        for (const message of messages) entries.push(await entryOf(message));
        await sink.commit(entries);
      },
      deadLetter: (message, error, tries) => sink.deadLetter(message, error, tries),
    };
  }

  private async entry(message: ProjectionMessage): Promise<ProjectionEntry<C>> {
    if (!message.ok) return { message, change: undefined };
    return { message, change: await this.changeOf(message.event, message) };
  }

  /** The change the event's handler returns; no handler, or no change, is a failure of the message. */
  private async changeOf(event: OrderEvent, message: ProjectionMessage): Promise<C> {
    // The handlers by event type, read directly: `getHandlerByPattern` first tries JSON.parse on the
    // pattern, and a string pattern makes it throw, per message (most of the transport's cost).
    const handler = this.messageHandlers.get(event.type);
    if (!handler) throw new Error(`no projection handler for ${event.type}`);
    let change: unknown = await handler(event, new ProjectionContext([message]));
    if (isObservable(change)) change = await lastValueFrom(change, { defaultValue: undefined });
    if (change === undefined) throw new Error(`the ${event.type} projection handler returned no change`);
    return change as C;
  }
}
