import { z } from "zod";
import { BaseConfig, msSetting } from "@pinflow/service-kit";

/** Webhooks (README "Webhooks"): delivery timing, retries, and which internal hosts may be targets. */
export const WebhookConfig = z.object({
  /** Comma-separated host names or addresses a webhook may target although internal (e.g. `127.0.0.1` in tests); default none. */
  WEBHOOK_ALLOWED_PRIVATE_HOSTS: z.string().default("").transform((s) => s.split(",").map((h) => h.trim()).filter(Boolean)),
  WEBHOOK_TIMEOUT_MS: msSetting(5_000),
  /** Delay before the 2nd try; each next one ×3, capped at WEBHOOK_RETRY_MAX_MS, ±10 % jitter. */
  WEBHOOK_RETRY_BASE_MS: msSetting(10_000),
  WEBHOOK_RETRY_MAX_MS: msSetting(3_600_000),
  /** Tries before a delivery is given up on (`failed`: listed, and sent again on request). Default: about a day of retries. */
  WEBHOOK_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(1000).default(30),
  WEBHOOK_TICK_MS: msSetting(500),
  WEBHOOK_LEASE_MS: msSetting(60_000),
  WEBHOOK_BATCH: z.coerce.number().int().min(1).max(500).default(20),
  WEBHOOK_MAX_PER_TENANT: z.coerce.number().int().min(1).max(1000).default(10),
});


export const OrdersConfig = BaseConfig.extend({
  CATALOG_FILE: z.string().min(1),
  PIN_KEYS: z.string().min(1),
  /** How long POST waits for its own order to reach the read side, so a GET right after finds it. */
  PROJECTION_WAIT_MS: msSetting(2000),
  /** Failed applies of one event (not counting database outages) before it is dead-lettered. */
  PROJECTION_MAX_TRIES: z.coerce.number().int().min(1).max(100).default(5),
}).extend(WebhookConfig.shape);

export type OrdersConfig = z.infer<typeof OrdersConfig>;
export type WebhookConfig = z.infer<typeof WebhookConfig>;
