import type { Pool } from "@pinflow/pg";
import { ConfigError } from "@pinflow/service-kit";
import type { PinCipher } from "@pinflow/secrets";
import type { Logger } from "pino";
import { Counter, Gauge, type Registry } from "prom-client";
import type { WebhookConfig } from "../config.js";
import { PgWebhookStore } from "./pg-webhook-store.js";
import { WebhookDeliverer } from "./webhook-deliverer.js";
import { WebhookSender } from "./webhook-sender.js";
import { TargetPolicy } from "./webhook-target.js";
import type { WebhookSettings } from "./webhooks.controller.js";

/** The webhook parts of the orders service, wired from its configuration; the deliverer is started. */
export function startWebhooks(
  config: WebhookConfig,
  pool: Pool,
  cipher: PinCipher,
  logger: Logger,
  registry: Registry,
  streamHead: () => Promise<number>,
): { store: PgWebhookStore; settings: WebhookSettings; deliverer: WebhookDeliverer } {
  // A claim must outlive a try, or a slow receiver would get the same delivery from a second sender.
  if (config.WEBHOOK_LEASE_MS <= config.WEBHOOK_TIMEOUT_MS + 1000) throw new ConfigError("WEBHOOK_LEASE_MS must exceed WEBHOOK_TIMEOUT_MS by more than a second");
  const store = new PgWebhookStore(pool);
  const targets = new TargetPolicy(config.WEBHOOK_ALLOWED_PRIVATE_HOSTS);
  const outcomes = new Counter({
    name: "pinflow_webhook_attempts_total",
    help: "Webhook delivery tries by what came next (delivered, retry, failed: given up)",
    labelNames: ["outcome"],
    registers: [registry],
  });
  new Gauge({
    name: "pinflow_webhook_deliveries_waiting",
    help: "Webhook deliveries not yet delivered (state pending), and given up on (failed)",
    labelNames: ["state"],
    registers: [registry],
    async collect() {
      const backlog = await store.backlog();
      this.set({ state: "pending" }, backlog.pending);
      this.set({ state: "failed" }, backlog.failed);
    },
  });
  const deliverer = new WebhookDeliverer(store, new WebhookSender(targets, config.WEBHOOK_TIMEOUT_MS), cipher, logger, outcomes, {
    tickMs: config.WEBHOOK_TICK_MS,
    batch: config.WEBHOOK_BATCH,
    leaseMs: config.WEBHOOK_LEASE_MS,
    retry: { baseMs: config.WEBHOOK_RETRY_BASE_MS, maxDelayMs: config.WEBHOOK_RETRY_MAX_MS, maxAttempts: config.WEBHOOK_MAX_ATTEMPTS },
  });
  deliverer.start();
  return { store, settings: { targets, maxPerTenant: config.WEBHOOK_MAX_PER_TENANT, streamHead }, deliverer };
}
