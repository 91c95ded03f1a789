import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import { BaseConfig, ConfigError, msSetting } from "@pinflow/service-kit";
import { z } from "zod";
import { SEED_POLICY, type PollPolicy } from "./poll.js";

const delayList = z
  .string()
  .default(SEED_POLICY.delaysMs.join(","))
  .transform((s) =>
    s
      .split(",")
      .map((p) => p.trim())
      .filter((p) => p !== "")
      .map(Number),
  )
  .pipe(z.array(z.number().int().positive("each delay must be a positive whole number of ms")));

export const PollerConfig = BaseConfig.extend({
  ZNET_BASE_URL: z.url(),
  ZNET_CODE: z.string().min(1),
  ZNET_PASSWORD: z.string().min(1).optional(),
  ZNET_PASSWORD_FILE: z.string().min(1).optional(),
  ZNET_TIMEOUT_MS: msSetting(10_000).pipe(z.number().min(100)),
  /** `keyId:base64(32 bytes)[,…]`, the first one seals. */
  PIN_KEYS: z.string().min(1),

  POLL_FIRST_DELAY_MS: msSetting(SEED_POLICY.firstDelayMs),
  POLL_DELAYS_MS: delayList,
  POLL_GROWTH: z.coerce.number().min(1).max(10).default(SEED_POLICY.growth),
  POLL_MAX_DELAY_MS: msSetting(SEED_POLICY.maxDelayMs).pipe(z.number().min(1)),
  POLL_JITTER: z.coerce.number().min(0).max(0.5).default(SEED_POLICY.jitter),
  POLL_DEADLINE_MS: msSetting(SEED_POLICY.deadlineMs).pipe(z.number().min(1)),
  MAX_UNCLEAR_IN_ROW: z.coerce.number().int().min(1).default(SEED_POLICY.maxUnclearInRow),

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

export function pollPolicy(c: PollerConfig): PollPolicy {
  return {
    firstDelayMs: c.POLL_FIRST_DELAY_MS,
    delaysMs: c.POLL_DELAYS_MS,
    growth: c.POLL_GROWTH,
    maxDelayMs: c.POLL_MAX_DELAY_MS,
    jitter: c.POLL_JITTER,
    deadlineMs: c.POLL_DEADLINE_MS,
    maxUnclearInRow: c.MAX_UNCLEAR_IN_ROW,
  };
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
