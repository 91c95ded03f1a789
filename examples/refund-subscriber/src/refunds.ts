/**
 * Which events owe the customer a refund (pure; no I/O): an order that ended failed — the
 * dispatcher could not place it (DispatchFailed), the provider failed it (OrderFailed), or an
 * operator failed it from review (FailedByOperator). Everything else owes nothing.
 */
import { LEGACY_TENANT_ID, type OrderEvent } from "@pinflow/contracts";

/** The event types this subscriber acts on (its handlers' patterns). */
export const REFUND_CAUSES = ["DispatchFailed", "OrderFailed", "FailedByOperator"] as const;
export type RefundCause = (typeof REFUND_CAUSES)[number];

export interface Refund {
  orderId: string;
  tenantId: string;
  cause: RefundCause;
  reasonCode: string;
  eventId: string;
  failedAt: Date;
}

export function refundFor(event: OrderEvent): Refund | null {
  switch (event.type) {
    case "DispatchFailed":
    case "OrderFailed":
    case "FailedByOperator":
      return {
        orderId: event.orderId,
        tenantId: event.tenantId ?? LEGACY_TENANT_ID,
        cause: event.type,
        reasonCode: event.data.reasonCode,
        eventId: event.id,
        failedAt: new Date(event.occurredAt),
      };
    default:
      return null;
  }
}
