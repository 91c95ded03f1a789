import { z } from "zod";
import { PackageId } from "./ids.js";
import { OrderReasonCode } from "./reasons.js";

/** C0 controls (NUL included), DEL and C1 controls: PostgreSQL refuses NUL, and none belongs in a player id or a provider URL. */
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f-\u009f]/;
/** A UTF-16 surrogate without its partner: not Unicode text (UTF-8, PostgreSQL jsonb and URL encoding all refuse it). */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/**
 * Text a customer sends that is stored and passed on to a provider: trimmed, at most `max`
 * characters (code points), no control characters, valid Unicode. Checked at the HTTP edge only:
 * the event schemas keep accepting what older events hold, so the stream stays replayable.
 */
export const customerText = (max: number) =>
  z
    .string()
    .trim()
    .max(max)
    .refine((s) => !CONTROL_CHARACTER.test(s), "must not contain control characters (U+0000-U+001F, U+007F-U+009F)")
    .refine((s) => !LONE_SURROGATE.test(s), "is not valid Unicode text (an unpaired surrogate)");

export const CreateOrderRequest = z.strictObject({
  packageId: PackageId,
  playerId: customerText(128).pipe(z.string().min(1)),
  extra: customerText(128).optional(),
}).meta({ id: "CreateOrderRequest" });
export type CreateOrderRequest = z.infer<typeof CreateOrderRequest>;

/** The `Idempotency-Key` header: 1-128 visible ASCII characters. */
export const IdempotencyKey = z.string().regex(/^[\x21-\x7e]{1,128}$/, "Idempotency-Key must be 1-128 visible ASCII characters");

export const OrderStatus = z.enum(["pending", "processing", "completed", "failed", "review"]);
export type OrderStatus = z.infer<typeof OrderStatus>;

export const OrderView = z.object({
  orderId: z.string(),
  packageId: z.string(),
  playerId: z.string(),
  status: OrderStatus,
  provider: z.string().nullable(),
  providerNote: z.string().nullable(),
  /** Why it failed; while pending, why it waits (a HoldReason). */
  reasonCode: OrderReasonCode.nullable(),
  reviewReason: z.string().nullable(),
  pin: z.string().nullable(),
  createdAt: z.string(),
  updatedAt: z.string(),
}).meta({ id: "OrderView" });
export type OrderView = z.infer<typeof OrderView>;

export const CreateOrderResponse = z.object({ orderId: z.string(), status: OrderStatus });
export type CreateOrderResponse = z.infer<typeof CreateOrderResponse>;

/** An operator's "dispatch again" of an order in review (dispatcher: `POST /v1/orders/:id/dispatch-again`). */
export const RedispatchRequestBody = z.strictObject({ reason: z.string().trim().min(1).max(500) });
export type RedispatchRequestBody = z.infer<typeof RedispatchRequestBody>;

/** The new dispatch generation: its first offer's provider and reference (null when no offer could be placed: it failed at once). */
export const RedispatchResponse = z.object({
  orderId: z.string(),
  generation: z.number().int(),
  state: z.string(),
  provider: z.string().nullable(),
  reference: z.string().nullable(),
});
export type RedispatchResponse = z.infer<typeof RedispatchResponse>;

export const ErrorCode = z.enum([
  "validation_failed",
  "invalid_json",
  "unauthenticated",
  "forbidden",
  "too_many_requests",
  "order_not_in_review",
  "redispatch_refused",
  "unknown_package",
  "not_found",
  "idempotency_conflict",
  "payload_too_large",
  "unsupported_media_type",
  "method_not_allowed",
  "target_not_allowed",
  "too_many_webhooks",
  "watch_closed",
  "unavailable",
  "internal",
]);
export type ErrorCode = z.infer<typeof ErrorCode>;

export const ErrorBody = z.object({
  error: z.object({
    code: ErrorCode,
    message: z.string(),
    issues: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
  }),
}).meta({ id: "ErrorBody" });
export type ErrorBody = z.infer<typeof ErrorBody>;
