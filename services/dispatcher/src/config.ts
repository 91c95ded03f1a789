import { readFileSync } from "node:fs";
import type { ProviderName } from "@pinflow/contracts";
import type { ProviderLimits } from "@pinflow/limits";
import type { XstorClientConfig, ZnetClientConfig } from "@pinflow/providers";
import { BaseConfig, ConfigError, loadConfig, msSetting } from "@pinflow/service-kit";
import { z } from "zod";

const optionalText = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === "" ? undefined : v));

const httpUrl = optionalText.pipe(z.url({ protocol: /^https?$/ }).optional());
const rate = (fallback: number) => z.coerce.number().positive().max(10_000).default(fallback);
const count = (fallback: number) => z.coerce.number().int().min(1).max(1_000).default(fallback);

/** Provider accounts and their limits: shared by the service and the catalog import command. */
export const ProviderEnv = z.object({
  ZNET_BASE_URL: httpUrl,
  ZNET_CODE: optionalText,
  ZNET_PASSWORD: optionalText,
  ZNET_PASSWORD_FILE: optionalText,
  ZNET_TIMEOUT_MS: msSetting(15_000).pipe(z.number().min(100)),
  XSTOR_BASE_URL: httpUrl,
  XSTOR_TOKEN: optionalText,
  XSTOR_TOKEN_FILE: optionalText,
  /** x-stor says 15–30 s is normal for a placement. */
  XSTOR_TIMEOUT_MS: msSetting(30_000).pipe(z.number().min(100)),
});

function checkProviders(env: z.infer<typeof ProviderEnv>, ctx: z.RefinementCtx): void {
  if (env.ZNET_BASE_URL !== undefined) {
    if (env.ZNET_CODE === undefined) ctx.addIssue({ code: "custom", path: ["ZNET_CODE"], message: "required when ZNET_BASE_URL is set" });
    if ((env.ZNET_PASSWORD === undefined) === (env.ZNET_PASSWORD_FILE === undefined)) {
      ctx.addIssue({ code: "custom", path: ["ZNET_PASSWORD"], message: "set exactly one of ZNET_PASSWORD and ZNET_PASSWORD_FILE" });
    }
  }
  if (env.XSTOR_BASE_URL !== undefined && (env.XSTOR_TOKEN === undefined) === (env.XSTOR_TOKEN_FILE === undefined)) {
    ctx.addIssue({ code: "custom", path: ["XSTOR_TOKEN"], message: "set exactly one of XSTOR_TOKEN and XSTOR_TOKEN_FILE" });
  }
}

export const DispatcherEnv = BaseConfig.extend({
  ...ProviderEnv.shape,
  CATALOG_FILE: z.string().min(1),
  RECONCILE_MAX_TRIES: z.coerce.number().int().min(1).max(100).default(8),
  /** First reconcile delay after an ambiguous placement; doubles per unclear answer. */
  RECONCILE_BASE_MS: msSetting(2_000),
  RECONCILE_MAX_DELAY_MS: msSetting(60_000),
  /** How long the row stays held past a provider call's timeout before another replica may take over. */
  LEASE_MARGIN_MS: msSetting(15_000),
  CONSUMER_ACK_WAIT_MS: msSetting(30_000).pipe(z.number().min(1_000)),
  CONSUMER_BATCH: z.coerce.number().int().min(1).max(10).default(5),
  // Per-provider limits, shared by every replica through the dispatcher's database.
  ZNET_RATE_PER_SEC: rate(3),
  ZNET_BURST: z.coerce.number().positive().max(10_000).optional(),
  ZNET_CONCURRENCY: count(4),
  XSTOR_RATE_PER_SEC: rate(8),
  XSTOR_BURST: z.coerce.number().positive().max(10_000).optional(),
  XSTOR_CONCURRENCY: count(8),
  /** Unclear calls in a row that open a provider's circuit (its orders wait, they do not fail). */
  BREAKER_THRESHOLD: count(5),
  BREAKER_COOLDOWN_MS: msSetting(10_000).pipe(z.number().min(100)),
  BREAKER_MAX_COOLDOWN_MS: msSetting(300_000).pipe(z.number().min(100)),
  /** The pause after an HTTP 429 without a Retry-After header. */
  PROVIDER_RETRY_AFTER_MS: msSetting(10_000),
  /** How long one handler waits in-process for a rate/concurrency permit before the order is retried later. */
  GATE_MAX_WAIT_MS: msSetting(2_000),
  /** How often the provider balances are read for the pinflow_provider_balance gauge (0 = never). */
  BALANCE_REFRESH_MS: msSetting(60_000),
})
  .superRefine(checkProviders)
  .refine((env) => env.ZNET_BASE_URL !== undefined || env.XSTOR_BASE_URL !== undefined, {
    message: "no provider configured (set ZNET_BASE_URL, ZNET_CODE, ZNET_PASSWORD[_FILE] and/or XSTOR_BASE_URL, XSTOR_TOKEN[_FILE])",
  });

export type DispatcherEnv = z.infer<typeof DispatcherEnv>;

export interface ProviderConfigs {
  /** null when znet is not configured. */
  znet: ZnetClientConfig | null;
  /** null when x-stor is not configured. */
  xstor: XstorClientConfig | null;
}

export interface DispatcherConfig extends ProviderConfigs {
  natsUrl: string;
  databaseUrl: string;
  httpPort: number;
  httpHost: string;
  catalogFile: string;
  reconcileMaxTries: number;
  reconcileBaseMs: number;
  reconcileMaxDelayMs: number;
  leaseMarginMs: number;
  ackWaitMs: number;
  batch: number;
  /** For every configured provider. */
  limits: Partial<Record<ProviderName, ProviderLimits>>;
  defaultRetryAfterMs: number;
  gateMaxWaitMs: number;
  balanceRefreshMs: number;
}

/** Read and check the environment; passwords and tokens come from the env or a file (trimmed), never echoed. */
export function loadDispatcherConfig(env: NodeJS.ProcessEnv = process.env): DispatcherConfig {
  const e = loadConfig(DispatcherEnv, env);
  const providers = providerConfigs(e);
  const circuit = { threshold: e.BREAKER_THRESHOLD, cooldownMs: e.BREAKER_COOLDOWN_MS, maxCooldownMs: Math.max(e.BREAKER_COOLDOWN_MS, e.BREAKER_MAX_COOLDOWN_MS) };
  const limits: Partial<Record<ProviderName, ProviderLimits>> = {};
  if (providers.znet !== null) {
    limits.znet = {
      ratePerSec: e.ZNET_RATE_PER_SEC,
      burst: e.ZNET_BURST ?? Math.max(1, e.ZNET_RATE_PER_SEC),
      concurrency: e.ZNET_CONCURRENCY,
      circuit,
      // A slot whose holder died is free again once its call would have timed out.
      slotLeaseMs: providers.znet.timeoutMs + e.LEASE_MARGIN_MS,
    };
  }
  if (providers.xstor !== null) {
    limits.xstor = {
      ratePerSec: e.XSTOR_RATE_PER_SEC,
      burst: e.XSTOR_BURST ?? Math.max(1, e.XSTOR_RATE_PER_SEC),
      concurrency: e.XSTOR_CONCURRENCY,
      circuit,
      slotLeaseMs: providers.xstor.timeoutMs + e.LEASE_MARGIN_MS,
    };
  }
  return {
    natsUrl: e.NATS_URL,
    databaseUrl: e.DATABASE_URL,
    httpPort: e.HTTP_PORT,
    httpHost: e.HTTP_HOST,
    catalogFile: e.CATALOG_FILE,
    ...providers,
    reconcileMaxTries: e.RECONCILE_MAX_TRIES,
    reconcileBaseMs: e.RECONCILE_BASE_MS,
    reconcileMaxDelayMs: e.RECONCILE_MAX_DELAY_MS,
    leaseMarginMs: e.LEASE_MARGIN_MS,
    ackWaitMs: e.CONSUMER_ACK_WAIT_MS,
    batch: e.CONSUMER_BATCH,
    limits,
    defaultRetryAfterMs: e.PROVIDER_RETRY_AFTER_MS,
    gateMaxWaitMs: e.GATE_MAX_WAIT_MS,
    balanceRefreshMs: e.BALANCE_REFRESH_MS,
  };
}

/** The provider accounts of an already-checked environment (secrets read from their files). */
export function providerConfigs(e: z.infer<typeof ProviderEnv>): ProviderConfigs {
  let znet: ZnetClientConfig | null = null;
  if (e.ZNET_BASE_URL !== undefined && e.ZNET_CODE !== undefined) {
    znet = {
      baseUrl: e.ZNET_BASE_URL,
      code: e.ZNET_CODE,
      password: secret("ZNET_PASSWORD", e.ZNET_PASSWORD, e.ZNET_PASSWORD_FILE),
      timeoutMs: e.ZNET_TIMEOUT_MS,
    };
  }
  let xstor: XstorClientConfig | null = null;
  if (e.XSTOR_BASE_URL !== undefined) {
    xstor = { baseUrl: e.XSTOR_BASE_URL, token: secret("XSTOR_TOKEN", e.XSTOR_TOKEN, e.XSTOR_TOKEN_FILE), timeoutMs: e.XSTOR_TIMEOUT_MS };
  }
  return { znet, xstor };
}

/** Just the provider accounts (the catalog import command): `DATABASE_URL` plus the provider settings. */
export function loadProviderConfigs(env: NodeJS.ProcessEnv = process.env): ProviderConfigs & { databaseUrl: string } {
  const e = loadConfig(ProviderEnv.extend({ DATABASE_URL: z.string().min(1) }).superRefine(checkProviders), env);
  return { ...providerConfigs(e), databaseUrl: e.DATABASE_URL };
}

/** A secret from `NAME` or the file named by `NAME_FILE` (trimmed); errors never contain the value. */
function secret(name: string, value: string | undefined, file: string | undefined): string {
  if (value !== undefined) return value;
  const path = file ?? "";
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new ConfigError(`invalid configuration: ${name}_FILE: cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? "error"})`);
  }
  const trimmed = text.trim();
  if (trimmed === "") throw new ConfigError(`invalid configuration: ${name}_FILE: ${path} is empty`);
  return trimmed;
}
