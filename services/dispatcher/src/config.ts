import { readFileSync } from "node:fs";
import { BaseConfig, ConfigError, loadConfig, msSetting } from "@pinflow/service-kit";
import type { ZnetClientConfig } from "@pinflow/providers";
import { z } from "zod";

const optionalText = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === "" ? undefined : v));

export const DispatcherEnv = BaseConfig.extend({
  CATALOG_FILE: z.string().min(1),
  ZNET_BASE_URL: optionalText.pipe(z.url({ protocol: /^https?$/ }).optional()),
  ZNET_CODE: optionalText,
  ZNET_PASSWORD: optionalText,
  ZNET_PASSWORD_FILE: optionalText,
  ZNET_TIMEOUT_MS: msSetting(15_000).pipe(z.number().min(100)),
  RECONCILE_MAX_TRIES: z.coerce.number().int().min(1).max(100).default(8),
  /** First reconcile delay after an ambiguous placement; doubles per unclear answer. */
  RECONCILE_BASE_MS: msSetting(2_000),
  RECONCILE_MAX_DELAY_MS: msSetting(60_000),
  /** How long the row stays held past a provider call's timeout before another replica may take over. */
  LEASE_MARGIN_MS: msSetting(15_000),
  CONSUMER_ACK_WAIT_MS: msSetting(30_000).pipe(z.number().min(1_000)),
  CONSUMER_BATCH: z.coerce.number().int().min(1).max(10).default(5),
})
  .superRefine((env, ctx) => {
    if (env.ZNET_BASE_URL === undefined) return;
    if (env.ZNET_CODE === undefined) ctx.addIssue({ code: "custom", path: ["ZNET_CODE"], message: "required when ZNET_BASE_URL is set" });
    if ((env.ZNET_PASSWORD === undefined) === (env.ZNET_PASSWORD_FILE === undefined)) {
      ctx.addIssue({ code: "custom", path: ["ZNET_PASSWORD"], message: "set exactly one of ZNET_PASSWORD and ZNET_PASSWORD_FILE" });
    }
  })
  .refine((env) => env.ZNET_BASE_URL !== undefined, { message: "no provider configured (set ZNET_BASE_URL, ZNET_CODE, ZNET_PASSWORD[_FILE])" });

export type DispatcherEnv = z.infer<typeof DispatcherEnv>;

export interface DispatcherConfig {
  natsUrl: string;
  databaseUrl: string;
  httpPort: number;
  httpHost: string;
  catalogFile: string;
  /** null when znet is not configured. */
  znet: ZnetClientConfig | null;
  reconcileMaxTries: number;
  reconcileBaseMs: number;
  reconcileMaxDelayMs: number;
  leaseMarginMs: number;
  ackWaitMs: number;
  batch: number;
}

/** Read and check the environment; the password comes from the env or a file (trimmed), never echoed. */
export function loadDispatcherConfig(env: NodeJS.ProcessEnv = process.env): DispatcherConfig {
  const e = loadConfig(DispatcherEnv, env);
  let znet: ZnetClientConfig | null = null;
  if (e.ZNET_BASE_URL !== undefined && e.ZNET_CODE !== undefined) {
    znet = { baseUrl: e.ZNET_BASE_URL, code: e.ZNET_CODE, password: readPassword(e), timeoutMs: e.ZNET_TIMEOUT_MS };
  }
  return {
    natsUrl: e.NATS_URL,
    databaseUrl: e.DATABASE_URL,
    httpPort: e.HTTP_PORT,
    httpHost: e.HTTP_HOST,
    catalogFile: e.CATALOG_FILE,
    znet,
    reconcileMaxTries: e.RECONCILE_MAX_TRIES,
    reconcileBaseMs: e.RECONCILE_BASE_MS,
    reconcileMaxDelayMs: e.RECONCILE_MAX_DELAY_MS,
    leaseMarginMs: e.LEASE_MARGIN_MS,
    ackWaitMs: e.CONSUMER_ACK_WAIT_MS,
    batch: e.CONSUMER_BATCH,
  };
}

function readPassword(e: DispatcherEnv): string {
  if (e.ZNET_PASSWORD !== undefined) return e.ZNET_PASSWORD;
  const file = e.ZNET_PASSWORD_FILE ?? "";
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    throw new ConfigError(`invalid configuration: ZNET_PASSWORD_FILE: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? "error"})`);
  }
  const password = text.trim();
  if (password === "") throw new ConfigError(`invalid configuration: ZNET_PASSWORD_FILE: ${file} is empty`);
  return password;
}
