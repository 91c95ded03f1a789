import { z } from "zod";
import { TenantId } from "./events.js";
import { OrderStatus } from "./http.js";
import { OrderReasonCode } from "./reasons.js";

/** `POST /v1/webhooks`: where to POST the tenant's order changes (an admin names the tenant). */
export const RegisterWebhookRequest = z.strictObject({
  url: z.string().trim().min(1).max(2000),
  description: z.string().trim().max(200).optional(),
  /** Admins only: the tenant the endpoint belongs to (a customer key registers for its own tenant). */
  tenant: TenantId.optional(),
});
export type RegisterWebhookRequest = z.infer<typeof RegisterWebhookRequest>;

export const WebhookView = z.object({
  webhookId: z.string(),
  tenantId: z.string(),
  url: z.string(),
  description: z.string(),
  createdAt: z.string(),
  /** Deliveries waiting (including retries), delivered, and given up on (`failed`). */
  deliveries: z.object({ pending: z.number().int(), delivered: z.number().int(), failed: z.number().int() }),
}).meta({ id: "WebhookView" });
export type WebhookView = z.infer<typeof WebhookView>;

/** The answer to a registration: the signing secret is in it once and can never be read again. */
export const WebhookRegistered = WebhookView.omit({ deliveries: true }).extend({ secret: z.string() });
export type WebhookRegistered = z.infer<typeof WebhookRegistered>;

export const WebhookList = z.object({ webhooks: z.array(WebhookView) });
export type WebhookList = z.infer<typeof WebhookList>;

export const WebhookDeliveryState = z.enum(["pending", "delivered", "failed", "cancelled"]);
export type WebhookDeliveryState = z.infer<typeof WebhookDeliveryState>;

export const WebhookAttemptView = z.object({
  attempt: z.number().int(),
  at: z.string(),
  /** The receiver's HTTP status; null when no answer came (refused connection, timeout, blocked target). */
  statusCode: z.number().int().nullable(),
  error: z.string().nullable(),
  durationMs: z.number().int(),
});
export type WebhookAttemptView = z.infer<typeof WebhookAttemptView>;

export const WebhookDeliveryView = z.object({
  deliveryId: z.string(),
  webhookId: z.string(),
  eventId: z.string(),
  orderId: z.string(),
  version: z.number().int(),
  status: OrderStatus,
  state: WebhookDeliveryState,
  attempts: z.number().int(),
  nextAttemptAt: z.string().nullable(),
  deliveredAt: z.string().nullable(),
  createdAt: z.string(),
  attemptLog: z.array(WebhookAttemptView),
}).meta({ id: "WebhookDeliveryView" });
export type WebhookDeliveryView = z.infer<typeof WebhookDeliveryView>;

export const WebhookDeliveryList = z.object({ deliveries: z.array(WebhookDeliveryView), nextCursor: z.string().nullable() });
export type WebhookDeliveryList = z.infer<typeof WebhookDeliveryList>;

export const WebhookDeliveriesQuery = z.strictObject({
  state: WebhookDeliveryState.optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  /** The `nextCursor` of the previous page. */
  cursor: z.string().regex(/^\d{1,18}$/).optional(),
});

/**
 * The body POSTed to a webhook endpoint on every status change of one of the tenant's orders.
 * No PIN, ever: the receiver fetches the order (`GET /v1/orders/:id` with its customer key) to read it.
 */
export const WebhookPayload = z.object({
  /** The event id: the same on every retry of this delivery; receivers de-duplicate by it. */
  id: z.string(),
  type: z.literal("order.status_changed"),
  /** The event that changed the order (OrderSent, PinReceived, ReviewRequired, …). */
  event: z.string(),
  occurredAt: z.string(),
  orderId: z.string(),
  tenantId: z.string(),
  /** The order's version: the stream sequence of this change; higher is newer (drop an older one arriving late). */
  version: z.number().int(),
  status: OrderStatus,
  previousStatus: OrderStatus.nullable(),
  packageId: z.string(),
  reasonCode: OrderReasonCode.nullable(),
  reviewReason: z.string().nullable(),
}).meta({ id: "WebhookPayload" });
export type WebhookPayload = z.infer<typeof WebhookPayload>;

export const WebhookRetryResponse = z.object({ deliveryId: z.string(), state: z.literal("pending") });
