import { WEBHOOK_SIGNATURE_HEADER, signWebhook, type PinCipher } from "@pinflow/secrets";
import type { Logger } from "pino";
import type { Counter } from "prom-client";
import { retryDelayMs, type RetryPolicy } from "./retry-policy.js";
import type { DueDelivery, NextStep, PgWebhookStore } from "./pg-webhook-store.js";
import type { SendResult, WebhookSender } from "./webhook-sender.js";
import { openWebhookSecret } from "./webhook-secrets.js";

export interface DelivererOptions {
  tickMs: number;
  batch: number;
  leaseMs: number;
  retry: RetryPolicy;
}

/**
 * Works through the delivery outbox: claims due deliveries (replicas share the work: SKIP LOCKED with
 * a lease), signs and POSTs each, records the try, and schedules the next one with backoff. A 2xx is
 * delivered; anything else (another status, no answer) is tried again, at least once per delivery.
 */
export class WebhookDeliverer {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private stopped = false;

  constructor(
    private readonly store: PgWebhookStore,
    private readonly sender: WebhookSender,
    private readonly secrets: PinCipher,
    private readonly logger: Logger,
    private readonly outcomes: Counter<"outcome">,
    private readonly opts: DelivererOptions,
  ) {}

  start(): void {
    this.stopped = false;
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running;
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.tick()
        .catch((error: unknown) => {
          this.logger.warn({ err: error }, "webhook delivery round failed; trying again");
          return 0;
        })
        .then((claimed) => this.schedule(claimed === this.opts.batch ? 0 : this.opts.tickMs));
    }, ms);
  }

  /** One round: claim a batch, send them all; how many were claimed. */
  async tick(): Promise<number> {
    const due = await this.store.claimDue(this.opts.batch, this.opts.leaseMs);
    await Promise.all(due.map((d) => this.deliver(d)));
    return due.length;
  }

  private async deliver(delivery: DueDelivery): Promise<void> {
    const result = await this.send(delivery);
    const ok = result.statusCode !== null && result.statusCode >= 200 && result.statusCode < 300;
    const delay = ok ? null : retryDelayMs(this.opts.retry, delivery.attempt);
    const next: NextStep = ok ? { kind: "delivered" } : delay === null ? { kind: "failed" } : { kind: "retry", at: new Date(Date.now() + delay) };
    await this.store.recordAttempt(delivery, result, next);
    this.outcomes.inc({ outcome: next.kind });
    const fields = { webhookId: delivery.webhookId, deliveryId: delivery.deliveryId, eventId: delivery.eventId, orderId: delivery.payload.orderId, attempt: delivery.attempt, statusCode: result.statusCode, error: result.error };
    if (next.kind === "failed") this.logger.error(fields, "webhook delivery given up after its last try");
    else if (next.kind === "retry") this.logger.info({ ...fields, retryInMs: delay }, "webhook delivery failed; will retry");
    else this.logger.debug(fields, "webhook delivered");
  }

  /** Sign and POST; a secret that cannot be opened (its key left PIN_KEYS) is a failed try like any other, recorded. */
  private async send(delivery: DueDelivery): Promise<SendResult> {
    const body = JSON.stringify(delivery.payload);
    let secret: string;
    try {
      secret = openWebhookSecret(this.secrets, delivery.secretSealed, delivery);
    } catch {
      return { statusCode: null, error: "the signing secret cannot be opened (its key is not in PIN_KEYS)", durationMs: 0 };
    }
    return this.sender.send(delivery.url, body, {
      [WEBHOOK_SIGNATURE_HEADER]: signWebhook(secret, body),
      "pinflow-event-id": delivery.eventId,
      "pinflow-order-version": String(delivery.version),
      "pinflow-delivery-attempt": String(delivery.attempt),
    });
  }
}
