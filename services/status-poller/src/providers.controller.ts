import { AllTenants, Roles } from "@pinflow/auth";
import { Controller, Get, HttpCode, HttpException, HttpStatus, Inject, Param, Post } from "@nestjs/common";
import { ProviderName, type ErrorBody, type ErrorCode } from "@pinflow/contracts";
import type { GateStatus } from "@pinflow/limits";
import type { Logger } from "pino";
import type { ProviderControl } from "./gate.js";
import type { Clock, HoldReason } from "./poll.js";
import type { ProviderHold } from "./scheduler.js";

export const PROVIDER_ADMIN = Symbol("PROVIDER_ADMIN");

export interface ProviderAdmin {
  /** The shared ProviderGate: pausing there stops every replica's checks of the provider. */
  control: ProviderControl;
  /** This process's scheduler: which providers it checks, and what it is holding back right now. */
  scheduler: {
    providers(): ProviderName[];
    holdOf(provider: ProviderName): ProviderHold | null;
    releaseHold(provider: ProviderName): void;
  };
  clock: Clock;
  logger: Logger;
}

export interface ProviderStatusResponse extends GateStatus {
  /** Whether this replica is holding the provider's checks back right now, why and for how long. */
  heldHere: { reason: HoldReason; forMs: number } | null;
}

function error(status: HttpStatus, code: ErrorCode, message: string): HttpException {
  const body: ErrorBody = { error: { code, message } };
  return new HttpException(body, status);
}

/**
 * Operator control of the poller's checks per provider (internal port only). Pause and resume act
 * on the shared gate, so every replica obeys: while paused, due checks of the provider are not
 * made; its watches wait (they never fail) and past their deadline go to review as always.
 */
@Roles("operator")
@AllTenants()
@Controller("v1/providers")
export class ProvidersController {
  constructor(@Inject(PROVIDER_ADMIN) private readonly admin: ProviderAdmin) {}

  @Get(":provider")
  async status(@Param("provider") name: string): Promise<ProviderStatusResponse> {
    const provider = this.configured(name);
    const status = await this.admin.control.status(provider);
    if (status === null) throw error(HttpStatus.NOT_FOUND, "not_found", `provider ${provider} has no limits configured`);
    const hold = this.admin.scheduler.holdOf(provider);
    return { ...status, heldHere: hold ? { reason: hold.reason, forMs: Math.max(0, Math.round(hold.untilMs - this.admin.clock.now().getTime())) } : null };
  }

  @Post(":provider/pause")
  @HttpCode(HttpStatus.OK)
  pause(@Param("provider") name: string): Promise<{ provider: string; paused: boolean }> {
    return this.setPaused(name, true);
  }

  @Post(":provider/resume")
  @HttpCode(HttpStatus.OK)
  resume(@Param("provider") name: string): Promise<{ provider: string; paused: boolean }> {
    return this.setPaused(name, false);
  }

  private async setPaused(name: string, paused: boolean): Promise<{ provider: string; paused: boolean }> {
    const provider = this.configured(name);
    if (!(await this.admin.control.setPaused(provider, paused))) {
      throw error(HttpStatus.NOT_FOUND, "not_found", `provider ${provider} has no limits configured`);
    }
    // This replica looks again at once; the others when their own hold (at most a few seconds) runs out.
    if (!paused) this.admin.scheduler.releaseHold(provider);
    this.admin.logger.warn({ provider, paused }, paused ? "provider checks paused by an operator" : "provider checks resumed by an operator");
    return { provider, paused };
  }

  private configured(name: string): ProviderName {
    const parsed = ProviderName.safeParse(name);
    if (!parsed.success || !this.admin.scheduler.providers().includes(parsed.data)) {
      throw error(HttpStatus.NOT_FOUND, "not_found", `provider ${JSON.stringify(name.slice(0, 40))} is not checked by this poller`);
    }
    return parsed.data;
  }
}
