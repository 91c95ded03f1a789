import type { WebhookPayload } from "@pinflow/contracts";
import type { OrderRecord } from "../order.js";

/** The event that moved an order. */
export interface ChangeCause {
  eventId: string;
  type: string;
  occurredAt: string;
}

/**
 * What a tenant's webhooks are told when folding an event changed an order's status (a new order
 * counts as a change from nothing), or null when the status stayed. Made from the event and the
 * rows only, so a replay makes the same payload. Never carries a PIN (README "Webhooks").
 */
export function statusChangePayload(before: OrderRecord | null, after: OrderRecord, cause: ChangeCause, seq: number): WebhookPayload | null {
  if (before !== null && before.status === after.status) return null;
  return {
    id: cause.eventId,
    type: "order.status_changed",
    event: cause.type,
    occurredAt: cause.occurredAt,
    orderId: after.orderId,
    tenantId: after.tenantId,
    version: seq,
    status: after.status,
    previousStatus: before?.status ?? null,
    packageId: after.packageId,
    reasonCode: after.reasonCode,
    reviewReason: after.reviewReason,
  };
}
