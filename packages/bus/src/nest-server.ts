/**
 * A JetStream transport for Nest (`@nestjs/microservices`): a CustomTransportStrategy whose
 * `@EventPattern(<event type>)` handlers return a HandlerOutcome, which the bus's WorkConsumer maps
 * to ack / nak(delay) / term. Each binding is one durable pull consumer with the WorkConsumer's
 * settings and guarantees (ack after the handler returned — i.e. after its commit —, concurrency,
 * `working()` for held messages, dead-letter after max failures, rejected/malformed counting).
 *
 *   const server = new JetStreamServer(nc, names, [{ options, hooks }], logger);
 *   const app = await NestFactory.createMicroservice(EventsModule, { strategy: server });
 *   await app.listen();   // starts pulling
 *   await app.close();    // stops pulling, waits for the handlers in flight to settle their messages
 *
 * A handler that throws is a failure of that message (nak with backoff, dead-lettered after
 * `maxFailures`, or retried uncounted when `isTransient`): controllers must keep Nest from turning
 * the error into `{ status: "error" }`, with `@UseFilters(KEEP_HANDLER_ERRORS)` (see `JetStreamEvents`).
 */
import "reflect-metadata";
import { applyDecorators, Catch, Controller, UseFilters, type RpcExceptionFilter } from "@nestjs/common";
import { BaseRpcContext, Server, type CustomTransportStrategy } from "@nestjs/microservices";
import type { EventNames, OrderEvent } from "@pinflow/contracts";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import { lastValueFrom, throwError, type Observable } from "rxjs";
import { WorkConsumer, type ConsumerHooks, type DeliveryContext, type HandlerOutcome, type WorkConsumerOptions } from "./work-consumer.js";

/** One durable consumer the server runs: its settings, and where dead letters and counts go. */
export interface JetStreamBinding {
  options: WorkConsumerOptions;
  hooks: ConsumerHooks;
  /**
   * An event no handler takes: "reject" (default: dead-lettered, a service's consumer filters on
   * what it handles) or "ack" (a subscriber reading the whole stream for a few types lets the
   * others pass; nats-server 2.9 has one filter subject per consumer).
   */
  unhandled?: "reject" | "ack";
}

/** What a handler receives as `@Ctx()`: the delivery (stream sequence, delivery count) and the durable. */
export class JetStreamContext extends BaseRpcContext<[DeliveryContext, string]> {
  get delivery(): DeliveryContext {
    return this.args[0];
  }
  get durable(): string {
    return this.args[1];
  }
}

/** Whether a handler's result is one of the three outcomes. */
export function isHandlerOutcome(value: unknown): value is HandlerOutcome {
  if (typeof value !== "object" || value === null) return false;
  const v = value as Record<string, unknown>;
  return v.ack === true || (typeof v.retryAfterMs === "number" && Number.isFinite(v.retryAfterMs) && v.retryAfterMs >= 0) || typeof v.reject === "string";
}

/** Hands a handler's own error back to the transport (Nest's default filter would replace it with `{ status: "error" }`). */
@Catch()
export class KeepHandlerErrors implements RpcExceptionFilter {
  catch(exception: unknown): Observable<never> {
    return throwError(() => exception);
  }
}
export const KEEP_HANDLER_ERRORS = new KeepHandlerErrors();

/** A controller of JetStream event handlers: `@JetStreamEvents() class X { @EventPattern("OrderCreated") … }`. */
export function JetStreamEvents(): ClassDecorator {
  return applyDecorators(Controller(), UseFilters(KEEP_HANDLER_ERRORS));
}

export class JetStreamServer extends Server implements CustomTransportStrategy {
  private readonly consumers: WorkConsumer[] = [];
  private listening = false;

  constructor(
    private readonly nc: NatsConnection,
    private readonly names: EventNames,
    private readonly bindings: readonly JetStreamBinding[],
    private readonly log: Logger,
  ) {
    super();
  }

  /** Start one WorkConsumer per binding (each durable must already exist: `ensureWorkConsumer`). */
  listen(callback: (error?: unknown) => void): void {
    if (this.listening) return callback();
    for (const pattern of this.messageHandlers.keys()) {
      if (this.messageHandlers.get(pattern)?.next) return callback(new Error(`more than one @EventPattern handler for ${pattern}: one outcome per message`));
    }
    this.listening = true;
    for (const binding of this.bindings) {
      const consumer = new WorkConsumer(this.nc, this.names, binding.options, (event, ctx) => this.route(event, ctx, binding), this.log, binding.hooks);
      consumer.start();
      this.consumers.push(consumer);
    }
    callback();
  }

  /** Stop taking messages; resolves once every message in hand is settled (acked, naked or termed). */
  async close(): Promise<void> {
    this.listening = false;
    await Promise.all(this.consumers.splice(0).map((c) => c.stop()));
  }

  /**
   * Stop for good (a process's shutdown, before `close()`): as `close()`, but each open pull is left
   * to end (at most a few seconds) and what it still brings is handled and acked, so no message is
   * left to come back only after the ack wait (WorkConsumer.stop's `drain`).
   */
  async drain(): Promise<void> {
    this.listening = false;
    await Promise.all(this.consumers.splice(0).map((c) => c.stop({ drain: true })));
  }

  /** Messages being handled now, over all bindings. */
  get handling(): number {
    return this.consumers.reduce((sum, c) => sum + c.handling, 0);
  }

  on(): never {
    throw new Error("JetStreamServer has no events to listen to");
  }

  unwrap<T>(): T {
    return this.nc as T;
  }

  /** The handler of the event's type decides; no handler, or no outcome, is the handler's failure to decide. */
  private async route(event: OrderEvent, delivery: DeliveryContext, binding: JetStreamBinding): Promise<HandlerOutcome> {
    const durable = binding.options.durable;
    const handler = this.getHandlerByPattern(event.type);
    if (!handler) return binding.unhandled === "ack" ? { ack: true } : { reject: `no handler for ${event.type} on ${durable}` };
    const result = await handler(event, new JetStreamContext([delivery, durable]));
    const outcome: unknown = await lastValueFrom(this.transformToObservable(result), { defaultValue: undefined });
    if (!isHandlerOutcome(outcome)) throw new Error(`the ${event.type} handler on ${durable} returned no outcome (ack, retryAfterMs or reject)`);
    return outcome;
  }
}
