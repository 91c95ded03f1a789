/**
 * The poller's event handler, Nest-native: `@EventPattern("OrderSent")` on the bus's JetStream
 * transport (the "status-poller" durable, runtime.ts); its outcome is the message's ack / nak / term.
 */
import { Inject, Module, type DynamicModule } from "@nestjs/common";
import { Ctx, EventPattern, Payload } from "@nestjs/microservices";
import { JetStreamContext, JetStreamEvents, type HandlerOutcome, type WorkHandler } from "@pinflow/bus";
import type { OrderEvent } from "@pinflow/contracts";

export const ORDER_SENT_WORK = Symbol("ORDER_SENT_WORK");

@JetStreamEvents()
export class PollerEventHandlers {
  constructor(@Inject(ORDER_SENT_WORK) private readonly orderSentWork: WorkHandler) {}

  /** OrderSent → a watch row (order-sent-handler.ts). */
  @EventPattern("OrderSent")
  orderSent(@Payload() event: OrderEvent, @Ctx() ctx: JetStreamContext): Promise<HandlerOutcome> {
    return this.orderSentWork(event, ctx.delivery);
  }
}

@Module({})
export class PollerEventsModule {
  static register(orderSent: WorkHandler): DynamicModule {
    return { module: PollerEventsModule, controllers: [PollerEventHandlers], providers: [{ provide: ORDER_SENT_WORK, useValue: orderSent }] };
  }
}
