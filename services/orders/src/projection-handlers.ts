/**
 * The orders projection's event handlers, Nest-native: `@EventPattern` on the bus's projection
 * transport (JetStreamProjectionServer). Each handler is pure: it returns the projection's change
 * for its event (order-change.ts); the transport commits a batch's changes with the checkpoint in
 * one transaction (OrderProjectionSink → PgOrderStore.commit).
 */
import { Inject, Module, type DynamicModule } from "@nestjs/common";
import { EventPattern, Payload } from "@nestjs/microservices";
import { JetStreamEvents } from "@pinflow/bus";
import type { EventType, OrderEvent } from "@pinflow/contracts";
import { admittedChange, evolveChange, PIN_EVENT_TYPES, type OrderChange } from "./order-change.js";
import type { PinCheck } from "./order.js";

export const PIN_CHECK = Symbol("PIN_CHECK");

/** The events that move an order by `evolve` alone, besides OrderCreated. */
export const PROGRESS_EVENT_TYPES = [
  "OrderSent",
  "StatusChecked",
  "DispatchFailed",
  "DispatchHeld",
  "OrderFailed",
  "ReviewRequired",
  "PlacementStarted",
  "PlacementAnswered",
  "ReconcileAnswered",
  "FailedByOperator",
  "RecheckRequested",
  "RedispatchRequested",
] as const satisfies readonly EventType[];

@JetStreamEvents()
export class OrderProjectionHandlers {
  constructor(@Inject(PIN_CHECK) private readonly pinOpens: PinCheck) {}

  /** A new order's row (a second OrderCreated of the same order changes nothing). */
  @EventPattern("OrderCreated")
  created(@Payload() event: OrderEvent): OrderChange {
    return evolveChange(event);
  }

  /** A PIN for the order: folded only if it opens for the order and its reference, else dead letter and review. */
  @EventPattern([...PIN_EVENT_TYPES])
  pinArrived(@Payload() event: OrderEvent): OrderChange {
    return admittedChange(event, this.pinOpens);
  }

  /** Dispatch, status and operator events: the order's status, notes and timeline. */
  @EventPattern([...PROGRESS_EVENT_TYPES])
  progressed(@Payload() event: OrderEvent): OrderChange {
    return evolveChange(event);
  }
}

@Module({})
export class OrderProjectionModule {
  static register(pinOpens: PinCheck): DynamicModule {
    return { module: OrderProjectionModule, controllers: [OrderProjectionHandlers], providers: [{ provide: PIN_CHECK, useValue: pinOpens }] };
  }
}
