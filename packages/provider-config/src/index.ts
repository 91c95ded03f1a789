import type { ProviderName } from "@pinflow/contracts";
import type { ProviderLimits } from "@pinflow/limits";
import type { XstorClientConfig, ZnetClientConfig } from "@pinflow/providers";
import { msSetting, readSecret } from "@pinflow/service-kit";

export { readSecret };
import { z } from "zod";

/**
 * The provider accounts and per-provider limits, read from the environment the
 * same way by every service that calls providers (dispatcher, status-poller,
 * the catalog import). Secrets come from `NAME` or a file named by `NAME_FILE`.
 */
const optionalText = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === "" ? undefined : v));
const httpUrl = optionalText.pipe(z.url({ protocol: /^https?$/ }).optional());
const rate = (fallback: number) => z.coerce.number().positive().max(10_000).default(fallback);
const count = (fallback: number) => z.coerce.number().int().min(1).max(1_000).default(fallback);
const burst = z.coerce.number().positive().max(10_000).optional();

/** Account settings; the timeouts differ per service (a placement may take longer than a status read). */
export function providerAccountSettings(timeouts: { znetMs: number; xstorMs: number }) {
  return {
    ZNET_BASE_URL: httpUrl,
    ZNET_CODE: optionalText,
    ZNET_PASSWORD: optionalText,
    ZNET_PASSWORD_FILE: optionalText,
    ZNET_TIMEOUT_MS: msSetting(timeouts.znetMs).pipe(z.number().min(100)),
    XSTOR_BASE_URL: httpUrl,
    XSTOR_TOKEN: optionalText,
    XSTOR_TOKEN_FILE: optionalText,
    XSTOR_TIMEOUT_MS: msSetting(timeouts.xstorMs).pipe(z.number().min(100)),
  };
}

/**
 * Limit settings. One provider account is shared by the dispatcher and the
 * poller, so each service gets its own share of the account's budget
 * (znet: "a few calls a second at most"; x-stor: about 10 a second).
 */
export function providerLimitSettings(rates: { znet: number; xstor: number }) {
  return {
    ZNET_RATE_PER_SEC: rate(rates.znet),
    ZNET_BURST: burst,
    ZNET_CONCURRENCY: count(4),
    XSTOR_RATE_PER_SEC: rate(rates.xstor),
    XSTOR_BURST: burst,
    XSTOR_CONCURRENCY: count(8),
    /** Failed calls in a row that open a provider's circuit (its work waits, nothing fails). */
    BREAKER_THRESHOLD: count(5),
    BREAKER_COOLDOWN_MS: msSetting(10_000).pipe(z.number().min(100)),
    BREAKER_MAX_COOLDOWN_MS: msSetting(300_000).pipe(z.number().min(100)),
    /** The pause after an HTTP 429 without a Retry-After header. */
    PROVIDER_RETRY_AFTER_MS: msSetting(10_000),
    /** How long a call waits in-process for a rate/concurrency permit before its work is retried later. */
    GATE_MAX_WAIT_MS: msSetting(2_000),
  };
}

/** "true"/"false" (also 1/0, yes/no, on/off), default false: an operator's explicit allowance. */
const allowance = z
  .enum(["true", "false", "1", "0", "yes", "no", "on", "off"], { message: "must be true or false" })
  .default("false")
  .transform((v) => v === "true" || v === "1" || v === "yes" || v === "on");

/**
 * The dispatcher's price guard: an offer is placed only at a known price (its provider's list
 * imported less than PRICE_MAX_AGE_MS ago), unless the operator allows unknown prices for that
 * provider (ZNET_ALLOW_UNKNOWN_PRICE / XSTOR_ALLOW_UNKNOWN_PRICE).
 */
export function priceGuardSettings() {
  return {
    PRICE_MAX_AGE_MS: msSetting(7 * 24 * 60 * 60 * 1000).pipe(z.number().min(1_000)),
    ZNET_ALLOW_UNKNOWN_PRICE: allowance,
    XSTOR_ALLOW_UNKNOWN_PRICE: allowance,
  };
}
export const PriceGuardEnv = z.object(priceGuardSettings());
export type PriceGuardEnv = z.infer<typeof PriceGuardEnv>;

/** The price guard of a checked environment. */
export function priceGuard(e: PriceGuardEnv): { maxAgeMs: number; unknownPriceAllowed: ProviderName[] } {
  const unknownPriceAllowed: ProviderName[] = [];
  if (e.ZNET_ALLOW_UNKNOWN_PRICE) unknownPriceAllowed.push("znet");
  if (e.XSTOR_ALLOW_UNKNOWN_PRICE) unknownPriceAllowed.push("xstor");
  return { maxAgeMs: e.PRICE_MAX_AGE_MS, unknownPriceAllowed };
}

/** The checked account settings (the defaults do not change their types). */
export const AccountEnv = z.object(providerAccountSettings({ znetMs: 15_000, xstorMs: 30_000 }));
export type AccountEnv = z.infer<typeof AccountEnv>;
export const LimitEnv = z.object(providerLimitSettings({ znet: 2, xstor: 4 }));
export type LimitEnv = z.infer<typeof LimitEnv>;

/** For `superRefine`: a configured provider has all it needs, each secret exactly once. */
export function checkProviderAccounts(env: AccountEnv, ctx: z.RefinementCtx): void {
  if (env.ZNET_BASE_URL !== undefined) {
    if (env.ZNET_CODE === undefined) ctx.addIssue({ code: "custom", path: ["ZNET_CODE"], message: "required when ZNET_BASE_URL is set" });
    if ((env.ZNET_PASSWORD === undefined) === (env.ZNET_PASSWORD_FILE === undefined)) {
      ctx.addIssue({ code: "custom", path: ["ZNET_PASSWORD"], message: "set exactly one of ZNET_PASSWORD and ZNET_PASSWORD_FILE" });
    }
  }
  if (env.XSTOR_BASE_URL !== undefined && (env.XSTOR_TOKEN === undefined) === (env.XSTOR_TOKEN_FILE === undefined)) {
    ctx.addIssue({ code: "custom", path: ["XSTOR_TOKEN"], message: "set exactly one of XSTOR_TOKEN and XSTOR_TOKEN_FILE" });
  }
  if (env.ZNET_BASE_URL === undefined && env.XSTOR_BASE_URL === undefined) {
    ctx.addIssue({
      code: "custom",
      path: ["ZNET_BASE_URL"],
      message: "no provider configured (set ZNET_BASE_URL, ZNET_CODE, ZNET_PASSWORD[_FILE] and/or XSTOR_BASE_URL, XSTOR_TOKEN[_FILE])",
    });
  }
}

export interface ProviderAccounts {
  /** null when znet is not configured. */
  znet: ZnetClientConfig | null;
  /** null when x-stor is not configured. */
  xstor: XstorClientConfig | null;
}

/** The configured accounts of a checked environment, secrets read from the env or their files. */
export function providerAccounts(e: AccountEnv): ProviderAccounts {
  const znet =
    e.ZNET_BASE_URL !== undefined && e.ZNET_CODE !== undefined
      ? { baseUrl: e.ZNET_BASE_URL, code: e.ZNET_CODE, password: readSecret("ZNET_PASSWORD", e.ZNET_PASSWORD, e.ZNET_PASSWORD_FILE), timeoutMs: e.ZNET_TIMEOUT_MS }
      : null;
  const xstor =
    e.XSTOR_BASE_URL !== undefined
      ? { baseUrl: e.XSTOR_BASE_URL, token: readSecret("XSTOR_TOKEN", e.XSTOR_TOKEN, e.XSTOR_TOKEN_FILE), timeoutMs: e.XSTOR_TIMEOUT_MS }
      : null;
  return { znet, xstor };
}

/** Each configured provider's limits; `slotLeaseMs` frees the slot of a caller that died mid-call. */
export function providerLimits(
  e: LimitEnv,
  accounts: ProviderAccounts,
  slotLeaseMs: (callTimeoutMs: number) => number,
): Partial<Record<ProviderName, ProviderLimits>> {
  const circuit = { threshold: e.BREAKER_THRESHOLD, cooldownMs: e.BREAKER_COOLDOWN_MS, maxCooldownMs: Math.max(e.BREAKER_COOLDOWN_MS, e.BREAKER_MAX_COOLDOWN_MS) };
  const limits: Partial<Record<ProviderName, ProviderLimits>> = {};
  if (accounts.znet) {
    limits.znet = { ratePerSec: e.ZNET_RATE_PER_SEC, burst: e.ZNET_BURST ?? Math.max(1, e.ZNET_RATE_PER_SEC), concurrency: e.ZNET_CONCURRENCY, circuit, slotLeaseMs: slotLeaseMs(accounts.znet.timeoutMs) };
  }
  if (accounts.xstor) {
    limits.xstor = { ratePerSec: e.XSTOR_RATE_PER_SEC, burst: e.XSTOR_BURST ?? Math.max(1, e.XSTOR_RATE_PER_SEC), concurrency: e.XSTOR_CONCURRENCY, circuit, slotLeaseMs: slotLeaseMs(accounts.xstor.timeoutMs) };
  }
  return limits;
}

