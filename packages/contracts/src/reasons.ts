import { z } from "zod";

/** Why an order failed: a closed set, mapped from each provider's own codes. */
export const ReasonCode = z.enum([
  "insufficient_balance",
  "product_unavailable",
  "invalid_player",
  "auth_failed",
  "duplicate_reference",
  "provider_error",
  "provider_cancelled",
  "no_route",
  "cost_above_maximum",
  /** No known price for any offer (its list never imported, or older than the configured age): not placed. */
  "price_unknown",
  "operator_failed",
]);
export type ReasonCode = z.infer<typeof ReasonCode>;

/**
 * Why an order waits before dispatch (DispatchHeld): not a failure, the order is still pending.
 * provider_shut_out: the provider answers with an empty body (wrong password, API access off, our IP not allowed).
 */
export const HoldReason = z.enum(["provider_paused", "circuit_open", "provider_shut_out", "provider_not_configured"]);
export type HoldReason = z.infer<typeof HoldReason>;

/** The reason code an order shows: why it failed, or, while it is pending, why it waits. */
export const OrderReasonCode = z.enum([...ReasonCode.options, ...HoldReason.options]);
export type OrderReasonCode = z.infer<typeof OrderReasonCode>;

/** Why an order needs a person. */
export const ReviewReason = z.enum([
  "placement_unknown",
  "deadline_exceeded",
  "unknown_status",
  "provider_unreachable",
  /** An event about the order could not be processed after bounded tries; it is in a dead-letter record. */
  "unprocessable_event",
  /** A PIN arrived that does not belong to the order (another reference, or sealed for another order). */
  "pin_mismatch",
]);
export type ReviewReason = z.infer<typeof ReviewReason>;
