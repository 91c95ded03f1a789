import { Module, type DynamicModule } from "@nestjs/common";
import { APP_FILTER } from "@nestjs/core";
import { HealthController, HttpErrorFilter, METRICS_REGISTRY, READINESS_CHECKS, type ReadinessChecks } from "@pinflow/service-kit";
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import type { Balances } from "./balances.js";
import {
  BALANCES,
  LOGGER,
  PROVIDER_ACCESS,
  PROVIDER_CONTROL,
  PROVIDERS,
  ProvidersController,
  type ProviderAccessSource,
  type ProviderControl,
} from "./providers.controller.js";
import type { ProviderRegistry } from "./providers.js";

export interface AppDeps {
  readiness: ReadinessChecks;
  registry: Registry;
  providers: ProviderRegistry;
  balances: Balances;
  control: ProviderControl;
  /** Whether each provider shuts us out (the dispatcher's store). */
  access: ProviderAccessSource;
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
        { provide: BALANCES, useValue: deps.balances },
        { provide: PROVIDER_CONTROL, useValue: deps.control },
        { provide: LOGGER, useValue: deps.logger },
        { provide: PROVIDER_ACCESS, useValue: deps.access },
        { provide: APP_FILTER, useValue: new HttpErrorFilter(deps.logger) },
      ],
    };
  }
}
