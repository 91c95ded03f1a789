/**
 * Provider balances: read through the provider's limits (never per order), exposed as the
 * pinflow_provider_balance gauge (refreshed periodically) and on GET /v1/providers/:provider/balance.
 */
import type { ProviderName } from "@pinflow/contracts";
import type { Logger } from "pino";
import type { DispatchStore } from "./dispatch-store.js";
import { balanceAccess, classifyBalance, gated, type CallGate } from "./gate.js";
import type { DispatchMetrics } from "./metrics.js";
import type { ProviderRegistry } from "./providers.js";

export type BalanceReading =
  | { kind: "ok"; provider: ProviderName; balance: string }
  /** The provider answered without a balance (an empty body is an auth/IP problem, never balance 0). */
  | { kind: "failed"; provider: ProviderName; cause: string }
  /** The provider's limits held the call back (paused, circuit open, rate, concurrency). */
  | { kind: "held"; provider: ProviderName; reason: string; retryAfterMs: number };

export class Balances {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(
    private readonly providers: ProviderRegistry,
    private readonly gate: CallGate,
    private readonly metrics: DispatchMetrics,
    private readonly logger: Logger,
    private readonly opts: {
      gateWaitMs: number;
      defaultRetryAfterMs: number;
      /** Where the provider's access state is kept (a balance call shows a shut-out even when no order comes). */
      access?: Pick<DispatchStore, "recordAccess">;
    },
  ) {}

  /** Read one provider's balance now (under its limits); a successful reading updates the gauge. */
  async read(name: ProviderName): Promise<BalanceReading | null> {
    const provider = this.providers.get(name);
    if (provider === undefined) return null;
    const r = await gated(this.gate, name, this.opts.gateWaitMs, () => provider.balance(), (b) => classifyBalance(b, this.opts.defaultRetryAfterMs));
    if (r.kind === "blocked") return { kind: "held", provider: name, reason: r.reason, retryAfterMs: r.retryAfterMs };
    const result = r.result;
    await this.noteAccess(name, balanceAccess(result));
    if (result.kind === "ok") {
      this.metrics.balance(name, result.balance);
      return { kind: "ok", provider: name, balance: result.balance };
    }
    this.metrics.providerError(name, "balance_failed");
    // The cause comes from the adapter, which masks every secret in it.
    this.logger.warn({ provider: name, cause: result.cause }, "balance call failed");
    return { kind: "failed", provider: name, cause: result.cause };
  }

  private async noteAccess(name: ProviderName, access: ReturnType<typeof balanceAccess>): Promise<void> {
    if (access === "unclear" || this.opts.access === undefined) return;
    if (access !== "let_in") this.metrics.providerError(name, "access_denied");
    try {
      await this.opts.access.recordAccess(name, access === "let_in" ? null : { cause: access.denied }, new Date());
    } catch (error) {
      this.logger.warn({ err: error, provider: name }, "could not record the provider's access state");
    }
  }

  /** Refresh every configured provider's balance now and then every `intervalMs` (0 = never). */
  start(intervalMs: number): void {
    if (intervalMs <= 0) return;
    const tick = (): void => {
      if (this.running) return;
      this.running = this.refreshAll().finally(() => (this.running = undefined));
    };
    this.timer = setInterval(tick, intervalMs);
    this.timer.unref();
    tick();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }

  private async refreshAll(): Promise<void> {
    for (const name of this.providers.keys()) {
      try {
        const r = await this.read(name);
        if (r?.kind === "held") this.logger.debug({ provider: name, reason: r.reason }, "balance refresh held back");
      } catch (error) {
        this.logger.warn({ err: error, provider: name }, "balance refresh failed");
      }
    }
  }
}
