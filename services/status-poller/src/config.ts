import { hostname } from "node:os";
import { ProviderName } from "@pinflow/contracts";
import type { ProviderLimits } from "@pinflow/limits";
import { checkProviderAccounts, providerAccounts as sharedProviderAccounts, providerAccountSettings, providerLimits as sharedProviderLimits, providerLimitSettings, type ProviderAccounts } from "@pinflow/provider-config";
import { BaseConfig, KeyStoreConfig, msSetting } from "@pinflow/service-kit";
import { z } from "zod";
import { DEFAULT_ADAPTIVE, POLL_MODES, pollingPlan, providerPolling, SEED_POLICY, type PollingPlan, type PollMode, type PollPolicy } from "./policy.js";

const delayList = z
  .string()
  .transform((s) =>
    s
      .split(",")
      .map((p) => p.trim())
      .filter((p) => p !== "")
      .map(Number),
  )
  .pipe(z.array(z.number().int().positive("each delay must be a positive whole number of ms")));

const pollMode = z.enum(POLL_MODES as [PollMode, ...PollMode[]]);
const optionalMs = z.coerce.number().int().min(0).optional();

/** The env name of a provider's own mode. */
export function providerPresetVar(provider: ProviderName): `POLL_PRESET_${string}` {
  return `POLL_PRESET_${provider.toUpperCase()}`;
}

function providerPresetSettings(): Record<`POLL_PRESET_${string}`, z.ZodOptional<typeof pollMode>> {
  const shape: Record<`POLL_PRESET_${string}`, z.ZodOptional<typeof pollMode>> = {};
  for (const provider of ProviderName.options) shape[providerPresetVar(provider)] = pollMode.optional();
  return shape;
}

export const PollerConfig = BaseConfig.extend({
  ...KeyStoreConfig.shape,
  // Provider accounts (the dispatcher's names): a provider is checked when its account is configured.
  // A status check is a read: shorter timeouts than the dispatcher's placements.
  ...providerAccountSettings({ znetMs: 10_000, xstorMs: 10_000 }),
  /** `keyId:base64(32 bytes)[,…]`, the first one seals. */
  PIN_KEYS: z.string().min(1),

  // Per-provider limits of the poller's status calls, shared by every poller replica through its database
  // (the poller's share of each account; the dispatcher has the rest).
  ...providerLimitSettings({ znet: 2, xstor: 5 }),
  /** The OrderSent consumer's ack wait (redelivery after a crash waits this long). */
  CONSUMER_ACK_WAIT_MS: msSetting(30_000).pipe(z.number().min(1_000)),
  /** OrderSent messages one replica handles at once (each records a watch row; no provider call). */
  CONSUMER_CONCURRENCY: z.coerce.number().int().min(1).max(1_000).default(8),
  /** Failures of one OrderSent (not database outages) before it is dead-lettered and its order reviewed. */
  CONSUMER_MAX_FAILURES: z.coerce.number().int().min(1).max(100).default(5),
  /** The OrderSent consumer's max_deliver (a backstop: the handler never waits, so only failures and crashes count). */
  CONSUMER_MAX_DELIVER: z.coerce.number().int().min(10).default(20_000),

  /** seed | default | adaptive, for every provider without its own POLL_PRESET_<PROVIDER>. */
  POLL_PRESET: pollMode.default("default"),
  ...providerPresetSettings(),
  // Overrides, applied on top of whichever preset a provider uses (unset: the preset's value).
  POLL_FIRST_DELAY_MS: optionalMs,
  POLL_DELAYS_MS: delayList.optional(),
  POLL_GROWTH: z.coerce.number().min(1).max(10).optional(),
  POLL_MAX_DELAY_MS: optionalMs.pipe(z.number().min(1).optional()),
  POLL_JITTER: z.coerce.number().min(0).max(0.5).optional(),
  POLL_DEADLINE_MS: optionalMs.pipe(z.number().min(1).optional()),
  MAX_UNCLEAR_IN_ROW: z.coerce.number().int().min(1).optional(),
  // Adaptive mode (adaptive.ts).
  POLL_ADAPTIVE_FALLBACK: z.enum(["seed", "default"]).default("default"),
  POLL_ADAPTIVE_MIN_SAMPLES: z.coerce.number().int().min(1).default(DEFAULT_ADAPTIVE.minSamples),
  POLL_ADAPTIVE_WINDOW: z.coerce.number().int().min(10).max(100_000).default(DEFAULT_ADAPTIVE.window),
  POLL_ADAPTIVE_BUDGET: z.coerce.number().min(0.5).max(20).default(DEFAULT_ADAPTIVE.budget),
  POLL_ADAPTIVE_MAX_FIRST_HOUR: z.coerce.number().int().min(1).max(1000).default(DEFAULT_ADAPTIVE.maxChecksFirstHour),
  /** Hard, per watch (check-budget.ts): at most this many checks in an order's first hour (≤ 30, the promise) … */
  POLL_ADAPTIVE_FIRST_HOUR_LIMIT: z.coerce.number().int().min(1).max(30).default(DEFAULT_ADAPTIVE.firstHourLimit),
  /** … and in its first day. */
  POLL_ADAPTIVE_DAY_LIMIT: z.coerce.number().int().min(1).max(10_000).default(DEFAULT_ADAPTIVE.dayLimit),
  POLL_ADAPTIVE_MIN_GAP_MS: msSetting(DEFAULT_ADAPTIVE.minGapMs).pipe(z.number().min(100)),
  POLL_ADAPTIVE_REFRESH_MS: msSetting(60_000).pipe(z.number().min(1000)),

  SCHEDULER_TICK_MS: msSetting(1000).pipe(z.number().min(10)),
  CLAIM_BATCH: z.coerce.number().int().min(1).max(100).default(10),
  CHECK_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(4),
  LEASE_MS: msSetting(60_000).pipe(z.number().min(1000)),
  POLLER_ID: z
    .string()
    .regex(/^[A-Za-z0-9_.:-]{1,128}$/)
    .default(`${hostname()}-${process.pid}`),
}).superRefine((c, ctx) => {
  checkProviderAccounts(c, ctx);
  const timeout = checkTimeoutMs(c);
  if (c.LEASE_MS < 2 * timeout) {
    ctx.addIssue({
      code: "custom",
      path: ["LEASE_MS"],
      message: "must be at least twice the longest check timeout (ZNET_TIMEOUT_MS, XSTOR_TIMEOUT_MS), so a check ends well within its lease",
    });
  }
  if (c.LEASE_MS < timeout + c.GATE_MAX_WAIT_MS + 2000) {
    ctx.addIssue({
      code: "custom",
      path: ["LEASE_MS"],
      message: "must leave room for GATE_MAX_WAIT_MS plus the longest check timeout plus 2 s, or no claim could ever be checked",
    });
  }
});
export type PollerConfig = z.infer<typeof PollerConfig>;

/** The longest a status call of a configured provider may take. */
export function checkTimeoutMs(c: Pick<PollerConfig, "ZNET_BASE_URL" | "ZNET_TIMEOUT_MS" | "XSTOR_BASE_URL" | "XSTOR_TIMEOUT_MS">): number {
  return Math.max(c.ZNET_BASE_URL !== undefined ? c.ZNET_TIMEOUT_MS : 0, c.XSTOR_BASE_URL !== undefined ? c.XSTOR_TIMEOUT_MS : 0);
}

/** The configured provider accounts, secrets read from the environment or their files. */
export function providerAccounts(c: PollerConfig): ProviderAccounts {
  return sharedProviderAccounts(c);
}

/** Each configured provider's limits for the poller's ProviderGate. */
export function providerLimits(c: PollerConfig): Partial<Record<ProviderName, ProviderLimits>> {
  // A slot whose holder died is free again when the holder's claim would have run out.
  return sharedProviderLimits(c, providerAccounts(c), () => c.LEASE_MS);
}

function pollingChoice(c: PollerConfig): Parameters<typeof pollingPlan>[0] {
  const byProvider: Partial<Record<ProviderName, PollMode>> = {};
  const own = c as unknown as Record<string, PollMode | undefined>;
  for (const provider of ProviderName.options) {
    const mode = own[providerPresetVar(provider)];
    if (mode !== undefined) byProvider[provider] = mode;
  }
  return {
    mode: c.POLL_PRESET,
    byProvider,
    overrides: {
      firstDelayMs: c.POLL_FIRST_DELAY_MS,
      delaysMs: c.POLL_DELAYS_MS,
      growth: c.POLL_GROWTH,
      maxDelayMs: c.POLL_MAX_DELAY_MS,
      jitter: c.POLL_JITTER,
      deadlineMs: c.POLL_DEADLINE_MS,
      maxUnclearInRow: c.MAX_UNCLEAR_IN_ROW,
    },
    adaptive: {
      ...DEFAULT_ADAPTIVE,
      minSamples: c.POLL_ADAPTIVE_MIN_SAMPLES,
      window: c.POLL_ADAPTIVE_WINDOW,
      budget: c.POLL_ADAPTIVE_BUDGET,
      maxChecksFirstHour: Math.min(c.POLL_ADAPTIVE_MAX_FIRST_HOUR, c.POLL_ADAPTIVE_FIRST_HOUR_LIMIT),
      firstHourLimit: c.POLL_ADAPTIVE_FIRST_HOUR_LIMIT,
      dayLimit: c.POLL_ADAPTIVE_DAY_LIMIT,
      minGapMs: c.POLL_ADAPTIVE_MIN_GAP_MS,
      reference: SEED_POLICY,
    },
    adaptiveFallback: c.POLL_ADAPTIVE_FALLBACK,
  };
}

/** Per provider: its preset (with the POLL_* overrides) or adaptive mode. */
export function pollPlan(c: PollerConfig): PollingPlan {
  return pollingPlan(pollingChoice(c), ProviderName.options);
}

/** The policy of a provider without its own mode: POLL_PRESET's preset (adaptive: its fallback) with the POLL_* overrides. */
export function pollPolicy(c: PollerConfig): PollPolicy {
  return providerPolling(c.POLL_PRESET, pollingChoice(c)).policy;
}
