/**
 * The subscriber's event handlers: `@EventPattern` on the bus's JetStream transport. A refund is
 * committed before the handler returns ACK, so the message is acked only after the commit; a
 * redelivery finds the row and acks again without a second refund.
 */
import { Inject, Logger, Module, type DynamicModule } from "@nestjs/common";
import { Ctx, EventPattern, Payload } from "@nestjs/microservices";
import { ACK, JetStreamContext, JetStreamEvents, type HandlerOutcome } from "@pinflow/bus";
import type { OrderEvent } from "@pinflow/contracts";
import type { PgRefundStore } from "./refund-store.js";
import { refundFor } from "./refunds.js";

export const REFUND_STORE = Symbol("REFUND_STORE");

@JetStreamEvents()
export class RefundEvents {
  private readonly log = new Logger("refunds");

  constructor(@Inject(REFUND_STORE) private readonly store: Pick<PgRefundStore, "record">) {}

  @EventPattern("DispatchFailed")
  dispatchFailed(@Payload() event: OrderEvent, @Ctx() ctx: JetStreamContext): Promise<HandlerOutcome> {
    return this.refund(event, ctx);
  }

  @EventPattern("OrderFailed")
  orderFailed(@Payload() event: OrderEvent, @Ctx() ctx: JetStreamContext): Promise<HandlerOutcome> {
    return this.refund(event, ctx);
  }

  @EventPattern("FailedByOperator")
  failedByOperator(@Payload() event: OrderEvent, @Ctx() ctx: JetStreamContext): Promise<HandlerOutcome> {
    return this.refund(event, ctx);
  }

  private async refund(event: OrderEvent, ctx: JetStreamContext): Promise<HandlerOutcome> {
    const refund = refundFor(event);
    if (refund === null) return { reject: `not a failure: ${event.type}` };
    const recorded = await this.store.record(refund, ctx.delivery.seq);
    this.log.log(`${recorded ? "refund recorded" : "already refunded"}: order ${event.orderId} (${event.type}, delivery ${ctx.delivery.deliveryCount})`);
    return ACK;
  }
}

@Module({})
export class RefundEventsModule {
  static register(store: Pick<PgRefundStore, "record">): DynamicModule {
    return { module: RefundEventsModule, controllers: [RefundEvents], providers: [{ provide: REFUND_STORE, useValue: store }] };
  }
}
