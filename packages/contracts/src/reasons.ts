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

/** Why an order needs a person. */
export const ReviewReason = z.enum([
  "placement_unknown",
  "deadline_exceeded",
  "unknown_status",
  "provider_unreachable",
]);
export type ReviewReason = z.infer<typeof ReviewReason>;
