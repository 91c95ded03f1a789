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
  "operator_failed",
]);
export type ReasonCode = z.infer<typeof ReasonCode>;

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
