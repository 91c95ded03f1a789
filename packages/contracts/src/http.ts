import { z } from "zod";
import { PackageId } from "./ids.js";
import { OrderReasonCode } from "./reasons.js";

export const CreateOrderRequest = z.strictObject({
  packageId: PackageId,
  playerId: z.string().trim().min(1).max(128),
  extra: z.string().trim().max(128).optional(),
});
export type CreateOrderRequest = z.infer<typeof CreateOrderRequest>;

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
});
export type OrderView = z.infer<typeof OrderView>;

export const CreateOrderResponse = z.object({ orderId: z.string(), status: OrderStatus });
export type CreateOrderResponse = z.infer<typeof CreateOrderResponse>;

export const ErrorCode = z.enum([
  "validation_failed",
  "invalid_json",
  "unknown_package",
  "not_found",
  "idempotency_conflict",
  "payload_too_large",
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
});
export type ErrorBody = z.infer<typeof ErrorBody>;
