import { AllTenants, Roles } from "@pinflow/auth";
import { Controller, Get, HttpCode, HttpException, HttpStatus, Inject, Param, Post } from "@nestjs/common";
import { ProviderName, type ErrorBody } from "@pinflow/contracts";
import type { GateStatus } from "@pinflow/limits";
import type { Logger } from "pino";
import type { Balances } from "./balances.js";
import { holdMessage } from "./dispatch.js";
import type { DispatchStore } from "./dispatch-store.js";
import type { ProviderRegistry } from "./providers.js";

export const PROVIDERS = Symbol("PROVIDERS");
export const BALANCES = Symbol("BALANCES");
export const PROVIDER_CONTROL = Symbol("PROVIDER_CONTROL");
export const LOGGER = Symbol("LOGGER");
export const PROVIDER_ACCESS = Symbol("PROVIDER_ACCESS");

/** Whether a provider shuts us out, as the dispatcher's calls last saw it. */
export type ProviderAccessSource = Pick<DispatchStore, "providerAccess">;

/** A provider's status: its gate, and whether it shuts us out (`shutOut`: null while it lets us in). */
export type ProviderStatus = GateStatus & {
  shutOut: { since: string; lastDeniedAt: string; deniedReplies: number; cause: string; message: string } | null;
};

/** Operator control of a provider's calls: the shared ProviderGate (every replica obeys it). */
export interface ProviderControl {
  setPaused(provider: string, paused: boolean): Promise<boolean>;
  status(provider: string): Promise<GateStatus | null>;
}

function error(status: HttpStatus, code: ErrorBody["error"]["code"], message: string): HttpException {
  const body: ErrorBody = { error: { code, message } };
  return new HttpException(body, status);
}

/** Operator endpoints about the configured providers (internal port only). */
@Roles("operator")
@AllTenants()
@Controller("v1/providers")
export class ProvidersController {
  constructor(
    @Inject(PROVIDERS) private readonly providers: ProviderRegistry,
    @Inject(BALANCES) private readonly balances: Balances,
    @Inject(PROVIDER_CONTROL) private readonly control: ProviderControl,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(PROVIDER_ACCESS) private readonly access: ProviderAccessSource,
  ) {}

  /** Every configured provider with its limits' state (paused, circuit, slots in use) and whether it shuts us out. */
  @Get()
  async list(): Promise<{ providers: ProviderStatus[] }> {
    const out: ProviderStatus[] = [];
    for (const name of this.providers.keys()) {
      const gate = (await this.control.status(name)) ?? { provider: name, paused: false, circuitOpenForMs: 0, failuresInRow: 0, slotsInUse: 0 };
      out.push({ ...gate, shutOut: await this.shutOut(name) });
    }
    return { providers: out };
  }

  /**
   * The reseller balance at the provider, read under the provider's limits. A failure (empty body =
   * auth/IP problem, never 0) answers 502; calls held back (paused, circuit open) answer 503.
   */
  @Get(":provider/balance")
  async balance(@Param("provider") name: string): Promise<{ provider: string; balance: string }> {
    const provider = this.configured(name);
    const reading = await this.balances.read(provider);
    switch (reading?.kind) {
      case "ok":
        return { provider: reading.provider, balance: reading.balance };
      case "failed":
        throw error(HttpStatus.BAD_GATEWAY, "unavailable", `${provider} balance failed: ${reading.cause}`);
      case "held":
        throw error(HttpStatus.SERVICE_UNAVAILABLE, "unavailable", `${provider} calls are held back (${reading.reason}); retry in ${reading.retryAfterMs} ms`);
      case undefined:
        throw error(HttpStatus.NOT_FOUND, "not_found", `provider ${provider} is not configured`);
      default: {
        const never: never = reading;
        throw new Error(`unhandled balance reading ${JSON.stringify(never)}`);
      }
    }
  }

  /** The provider's gate state, and `shutOut` when its replies say it does not let us in (znet's empty body). */
  @Get(":provider/status")
  async status(@Param("provider") name: string): Promise<ProviderStatus> {
    const provider = this.configured(name);
    const status = await this.control.status(provider);
    if (status === null) throw error(HttpStatus.NOT_FOUND, "not_found", `provider ${provider} has no limits configured`);
    return { ...status, shutOut: await this.shutOut(provider) };
  }

  private async shutOut(provider: ProviderName): Promise<ProviderStatus["shutOut"]> {
    const a = await this.access.providerAccess(provider);
    if (a === null) return null;
    return {
      since: a.shutOutSince.toISOString(),
      lastDeniedAt: a.lastDeniedAt.toISOString(),
      deniedReplies: a.deniedReplies,
      cause: a.cause,
      message: holdMessage(provider, "provider_shut_out").replace(/; the order waits$/, "; its orders wait"),
    };
  }

  /** Stop new calls to the provider on every replica: its orders wait (they do not fail) until resumed. */
  @Post(":provider/pause")
  @HttpCode(200)
  async pause(@Param("provider") name: string): Promise<{ provider: string; paused: boolean }> {
    return this.setPaused(name, true);
  }

  @Post(":provider/resume")
  @HttpCode(200)
  async resume(@Param("provider") name: string): Promise<{ provider: string; paused: boolean }> {
    return this.setPaused(name, false);
  }

  private async setPaused(name: string, paused: boolean): Promise<{ provider: string; paused: boolean }> {
    const provider = this.configured(name);
    if (!(await this.control.setPaused(provider, paused))) {
      throw error(HttpStatus.NOT_FOUND, "not_found", `provider ${provider} has no limits configured`);
    }
    this.logger.warn({ provider, paused }, paused ? "provider paused by an operator" : "provider resumed by an operator");
    return { provider, paused };
  }

  private configured(name: string): ProviderName {
    const parsed = ProviderName.safeParse(name);
    if (!parsed.success || !this.providers.has(parsed.data)) {
      throw error(HttpStatus.NOT_FOUND, "not_found", `provider ${JSON.stringify(name.slice(0, 40))} is not configured`);
    }
    return parsed.data;
  }
}
