/**
 * Provider-neutral results of the three calls every adapter offers.
 * Adapters never throw for provider behaviour: every outcome is one of these unions.
 */

/** Why a provider refused an order (a subset of the contracts' ReasonCode, kept local on purpose). */
export type ReasonCode =
  | "insufficient_balance"
  | "product_unavailable"
  | "invalid_player"
  | "auth_failed"
  | "duplicate_reference"
  | "provider_error";

export interface PlaceRequest {
  /** Our unique id for the order; stored before the call and reused on every retry. */
  reference: string;
  /** Provider-specific product coordinates (znet: `{ oyun, kupur }`). */
  productCode: Record<string, string>;
  playerId: string;
  extra: string | null;
}

export type PlaceResult =
  | { kind: "accepted"; cost: string; balance: string | null; providerOrderId: string | null; pin: string | null }
  /** The provider definitely refused: nothing was charged. */
  | { kind: "refused"; providerCode: string; message: string; reasonCode: ReasonCode }
  /** The order may or may not exist (timeout, dropped connection, empty/HTML body, 5xx, unparseable). */
  | { kind: "ambiguous"; cause: string; retryAfterMs?: number; accessDenied?: true };

export type CheckResult =
  | { kind: "pending"; note: string | null }
  | { kind: "done"; pin: string; note: string | null }
  | { kind: "cancelled"; note: string | null }
  /** The provider definitely does not know this reference. */
  | { kind: "not_found"; message: string }
  /** Could not find out (empty body, HTML, 5xx, timeout, garbage, unknown state). */
  | { kind: "unknown"; cause: string; retryAfterMs?: number; accessDenied?: true };

export type BalanceResult = { kind: "ok"; balance: string } | { kind: "failed"; cause: string; retryAfterMs?: number; accessDenied?: true };

/*
 * `accessDenied` on an ambiguous/unknown/failed result: the provider shut us out (znet answers a wrong
 * password, API access switched off or a source IP it does not allow with an empty body). The call
 * says nothing about any order; every call of the account will get the same until someone fixes it.
 */

/**
 * `retryAfterMs` on an ambiguous/unknown/failed result: the provider answered with a `Retry-After`
 * header (typically HTTP 429 or 503); callers should leave the provider alone that long.
 */
export function withRetryAfter<T extends PlaceResult | CheckResult | BalanceResult>(result: T, retryAfterMs: number | undefined): T {
  if (retryAfterMs === undefined) return result;
  if (result.kind === "ambiguous" || result.kind === "unknown" || result.kind === "failed") return { ...result, retryAfterMs };
  return result;
}
