import type { OrderView } from "@pinflow/contracts";
import type { PinCipher } from "@pinflow/secrets";
import type { OrderRecord } from "./order.js";

/** What the API shows of an order; the PIN only when `withPin` (the owner's single read or live stream) and completed. */
export function toOrderView(o: OrderRecord, pins: PinCipher, withPin: boolean): OrderView {
  return {
    orderId: o.orderId,
    packageId: o.packageId,
    playerId: o.playerId,
    status: o.status,
    provider: o.provider,
    providerNote: o.providerNote,
    reasonCode: o.reasonCode,
    reviewReason: o.reviewReason,
    pin: withPin && o.status === "completed" && o.pinSealed ? pins.open(o.pinSealed, { orderId: o.orderId, reference: o.reference ?? "" }) : null,
    createdAt: o.createdAt,
    updatedAt: o.updatedAt,
  };
}
