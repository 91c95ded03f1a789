import { Controller, Get, HttpException, HttpStatus, Inject, Param } from "@nestjs/common";
import type { ErrorBody } from "@pinflow/contracts";
import type { Logger } from "pino";
import type { DispatchMetrics } from "./metrics.js";
import type { ProviderRegistry } from "./providers.js";

export const PROVIDERS = Symbol("PROVIDERS");
export const DISPATCH_METRICS = Symbol("DISPATCH_METRICS");
export const LOGGER = Symbol("LOGGER");

function error(status: HttpStatus, code: ErrorBody["error"]["code"], message: string): HttpException {
  const body: ErrorBody = { error: { code, message } };
  return new HttpException(body, status);
}

/** Operator endpoints about the configured providers (internal port only). */
@Controller("v1/providers")
export class ProvidersController {
  constructor(
    @Inject(PROVIDERS) private readonly providers: ProviderRegistry,
    @Inject(DISPATCH_METRICS) private readonly metrics: DispatchMetrics,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  /** The reseller balance at the provider. A failure (empty body = auth/IP problem, never 0) answers 502. */
  @Get(":provider/balance")
  async balance(@Param("provider") name: string): Promise<{ provider: string; balance: string }> {
    const provider = [...this.providers.values()].find((p) => p.name === name);
    if (provider === undefined) throw error(HttpStatus.NOT_FOUND, "not_found", `provider ${JSON.stringify(name.slice(0, 40))} is not configured`);
    const result = await provider.balance();
    switch (result.kind) {
      case "ok":
        return { provider: provider.name, balance: result.balance };
      case "failed":
        this.metrics.providerError(provider.name, "balance_failed");
        // The cause comes from the adapter, which masks every secret in it.
        this.logger.warn({ provider: provider.name, cause: result.cause }, "balance call failed");
        throw error(HttpStatus.BAD_GATEWAY, "unavailable", `${provider.name} balance failed: ${result.cause}`);
      default: {
        const never: never = result;
        throw new Error(`unhandled balance result ${JSON.stringify(never)}`);
      }
    }
  }
}
