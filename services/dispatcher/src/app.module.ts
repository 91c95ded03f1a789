import { Module, type DynamicModule } from "@nestjs/common";
import { HealthController, METRICS_REGISTRY, READINESS_CHECKS, type ReadinessChecks } from "@pinflow/service-kit";
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import type { DispatchMetrics } from "./metrics.js";
import { DISPATCH_METRICS, LOGGER, PROVIDERS, ProvidersController } from "./providers.controller.js";
import type { ProviderRegistry } from "./providers.js";

export interface AppDeps {
  readiness: ReadinessChecks;
  registry: Registry;
  providers: ProviderRegistry;
  metrics: DispatchMetrics;
  logger: Logger;
}

/** The HTTP shell: health, readiness, metrics and the provider admin endpoints, built from made objects. */
@Module({})
export class AppModule {
  static register(deps: AppDeps): DynamicModule {
    return {
      module: AppModule,
      controllers: [HealthController, ProvidersController],
      providers: [
        { provide: READINESS_CHECKS, useValue: deps.readiness },
        { provide: METRICS_REGISTRY, useValue: deps.registry },
        { provide: PROVIDERS, useValue: deps.providers },
        { provide: DISPATCH_METRICS, useValue: deps.metrics },
        { provide: LOGGER, useValue: deps.logger },
      ],
    };
  }
}
