import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import { ProviderName } from "@pinflow/contracts";
import { BaseConfig, ConfigError, msSetting } from "@pinflow/service-kit";
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
  ZNET_BASE_URL: z.url(),
  ZNET_CODE: z.string().min(1),
  ZNET_PASSWORD: z.string().min(1).optional(),
  ZNET_PASSWORD_FILE: z.string().min(1).optional(),
  ZNET_TIMEOUT_MS: msSetting(10_000).pipe(z.number().min(100)),
  /** `keyId:base64(32 bytes)[,…]`, the first one seals. */
  PIN_KEYS: z.string().min(1),

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
  if (c.ZNET_PASSWORD === undefined && c.ZNET_PASSWORD_FILE === undefined) {
    ctx.addIssue({ code: "custom", path: ["ZNET_PASSWORD"], message: "set ZNET_PASSWORD or ZNET_PASSWORD_FILE" });
  }
  if (c.LEASE_MS < 2 * c.ZNET_TIMEOUT_MS) {
    ctx.addIssue({ code: "custom", path: ["LEASE_MS"], message: "must be at least twice ZNET_TIMEOUT_MS, so a check ends well within its lease" });
  }
});
export type PollerConfig = z.infer<typeof PollerConfig>;

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
      maxChecksFirstHour: c.POLL_ADAPTIVE_MAX_FIRST_HOUR,
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

/** The znet password: from the variable, or from the file (trailing newline dropped). */
export function znetPassword(c: PollerConfig): string {
  if (c.ZNET_PASSWORD !== undefined) return c.ZNET_PASSWORD;
  let text: string;
  try {
    text = readFileSync(c.ZNET_PASSWORD_FILE!, "utf8");
  } catch (error) {
    throw new ConfigError(`ZNET_PASSWORD_FILE: cannot read ${c.ZNET_PASSWORD_FILE} (${(error as NodeJS.ErrnoException).code ?? "error"})`);
  }
  const password = text.replace(/\r?\n$/, "");
  if (password === "") throw new ConfigError("ZNET_PASSWORD_FILE: the file is empty");
  return password;
}
