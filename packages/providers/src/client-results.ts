/**
 * How the provider clients (znet, x-stor) turn an HTTP outcome into a result union and keep their
 * secret out of every text a result carries.
 */
import type { HttpGetOutcome } from "./http-get.js";
import { withRetryAfter, type BalanceResult, type CheckResult, type PlaceResult, type ReasonCode } from "./provider.js";
import { maskProviderText } from "./redact.js";

type Parse<T> = (body: string, status: number) => T;
type Scrub = (text: string) => string;

/** A place reply parsed (with its Retry-After); a failed call is ambiguous: the order may have been placed. */
export function placeOutcome(reply: HttpGetOutcome, parse: Parse<PlaceResult>): PlaceResult {
  return reply.ok ? withRetryAfter(parse(reply.body, reply.status), reply.retryAfterMs) : { kind: "ambiguous", cause: reply.cause };
}

/** A balance reply parsed (with its Retry-After), its cause scrubbed when it failed. */
export function balanceOutcome(reply: HttpGetOutcome, parse: Parse<BalanceResult>, scrub: Scrub): BalanceResult {
  const result: BalanceResult = reply.ok ? withRetryAfter(parse(reply.body, reply.status), reply.retryAfterMs) : { kind: "failed", cause: reply.cause };
  return result.kind === "failed" ? { ...result, cause: scrub(result.cause) } : result;
}

/** A product list reply parsed, its error scrubbed when it failed. */
export function productsOutcome<T extends { ok: true } | { ok: false; error: string }>(reply: HttpGetOutcome, parse: Parse<T>, scrub: Scrub): T | { ok: false; error: string } {
  const result: T | { ok: false; error: string } = reply.ok ? parse(reply.body, reply.status) : { ok: false, error: reply.cause };
  return result.ok ? result : { ok: false, error: scrub(result.error) };
}

/** A refusal made before anything was sent (providerCode "local"). */
export function localRefusal(reasonCode: ReasonCode, message: string): PlaceResult {
  return { kind: "refused", providerCode: "local", message, reasonCode };
}

/** Scrubs the provider texts of a place result (`providerCode` too when asked). */
export function scrubPlaceResult(r: PlaceResult, scrub: Scrub, opts: { providerCode: boolean }): PlaceResult {
  switch (r.kind) {
    case "accepted":
      return r;
    case "refused":
      return opts.providerCode ? { ...r, providerCode: scrub(r.providerCode), message: scrub(r.message) } : { ...r, message: scrub(r.message) };
    case "ambiguous":
      return { ...r, cause: scrub(r.cause) };
  }
}

/** Scrubs the provider texts of a check result. */
export function scrubCheckResult(r: CheckResult, scrub: Scrub): CheckResult {
  const note = (n: string | null): string | null => (n === null ? null : scrub(n));
  switch (r.kind) {
    case "pending":
    case "cancelled":
      return { ...r, note: note(r.note) };
    case "done":
      return { ...r, note: note(r.note) };
    case "not_found":
      return { ...r, message: scrub(r.message) };
    case "unknown":
      return { ...r, cause: scrub(r.cause) };
  }
}

/** Every provider text of a place result through the one masking function (maskProviderText); the PIN of an acceptance is untouched. */
export function maskPlaceResult(r: PlaceResult): PlaceResult {
  return scrubPlaceResult(r, maskProviderText, { providerCode: true });
}

/** Every provider text of a check result through the one masking function (maskProviderText); the PIN of a done result is untouched. */
export function maskCheckResult(r: CheckResult): CheckResult {
  return scrubCheckResult(r, maskProviderText);
}
