/**
 * The dispatcher's event handlers, Nest-native: `@EventPattern` on the bus's JetStream transport.
 * OrderCreated arrives on the "dispatcher" durable, RedispatchRequested on "dispatcher-redispatch"
 * (runtime.ts binds both); each handler's outcome is its message's ack / nak(delay) / term.
 */
import { Inject, Module, type DynamicModule } from "@nestjs/common";
import { Ctx, EventPattern, Payload } from "@nestjs/microservices";
import { JetStreamContext, JetStreamEvents, type HandlerOutcome, type WorkHandler } from "@pinflow/bus";
import type { OrderEvent } from "@pinflow/contracts";

export const DISPATCH_WORK = Symbol("DISPATCH_WORK");

export interface DispatchWork {
  /** OrderCreated: place the order (dispatch-handler.ts). */
  dispatch: WorkHandler;
  /** RedispatchRequested: place the order's next generation (redispatch-consumer.ts). */
  redispatch: WorkHandler;
}

@JetStreamEvents()
export class DispatchEventHandlers {
  constructor(@Inject(DISPATCH_WORK) private readonly work: DispatchWork) {}

  @EventPattern("OrderCreated")
  orderCreated(@Payload() event: OrderEvent, @Ctx() ctx: JetStreamContext): Promise<HandlerOutcome> {
    return this.work.dispatch(event, ctx.delivery);
  }

  @EventPattern("RedispatchRequested")
  redispatchRequested(@Payload() event: OrderEvent, @Ctx() ctx: JetStreamContext): Promise<HandlerOutcome> {
    return this.work.redispatch(event, ctx.delivery);
  }
}

@Module({})
export class DispatchEventsModule {
  static register(work: DispatchWork): DynamicModule {
    return { module: DispatchEventsModule, controllers: [DispatchEventHandlers], providers: [{ provide: DISPATCH_WORK, useValue: work }] };
  }
}
