import type { EventType } from "./events.js";
import { ORDER_ID_PATTERN } from "./ids.js";

export const ORDER_EVENTS_STREAM = "ORDER_EVENTS";
export const ORDER_SUBJECT_ROOT = "orders";
/** Every order event: `orders.<orderId>.<type>`. */
export const ALL_ORDER_EVENTS = `${ORDER_SUBJECT_ROOT}.>`;

export function orderEventSubject(orderId: string, type: EventType): string {
  if (!ORDER_ID_PATTERN.test(orderId)) throw new Error(`order id is not subject-safe: ${JSON.stringify(orderId)}`);
  return `${ORDER_SUBJECT_ROOT}.${orderId}.${type}`;
}

/** Every event of one order, for a consumer filter (the order's own history). */
export function orderEventsFilter(orderId: string): string {
  if (!ORDER_ID_PATTERN.test(orderId)) throw new Error(`order id is not subject-safe: ${JSON.stringify(orderId)}`);
  return `${ORDER_SUBJECT_ROOT}.${orderId}.>`;
}

/** One event type across all orders, for a consumer filter. */
export function eventTypeFilter(type: EventType): string {
  return `${ORDER_SUBJECT_ROOT}.*.${type}`;
}

/** Header names every published event carries. */
export const HEADERS = {
  type: "Pf-Event-Type",
  schemaVersion: "Pf-Schema-Version",
  correlationId: "Pf-Correlation-Id",
  traceparent: "traceparent",
} as const;
