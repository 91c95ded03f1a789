import { Module, type DynamicModule } from "@nestjs/common";
import { APP_FILTER, APP_GUARD } from "@nestjs/core";
import { RolesGuard } from "@pinflow/auth";
import {
  DEAD_LETTERS,
  DeadLettersController,
  HealthController,
  HttpErrorFilter,
  METRICS_REGISTRY,
  READINESS_CHECKS,
  type DeadLetterList,
  type ReadinessChecks,
} from "@pinflow/service-kit";
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
import { REDISPATCH, RedispatchController, type RedispatchDeps } from "./redispatch.controller.js";

export interface AppDeps {
  readiness: ReadinessChecks;
  registry: Registry;
  providers: ProviderRegistry;
  balances: Balances;
  control: ProviderControl;
  /** Whether each provider shuts us out (the dispatcher's store). */
  access: ProviderAccessSource;
  logger: Logger;
  /** The dead-letter record: GET /v1/dead-letters (omitted: no such endpoint). */
  deadLetters?: DeadLetterList;
  /** The operators' dispatch again (GET/POST /v1/orders/:orderId/dispatch-again; omitted: no such endpoint). */
  redispatch?: RedispatchDeps;
}

/** The HTTP shell: health, readiness, metrics, the provider admin endpoints and the dead letters, built from made objects. */
@Module({})
export class AppModule {
  static register(deps: AppDeps): DynamicModule {
    return {
      module: AppModule,
      controllers: [
        HealthController,
        ProvidersController,
        ...(deps.deadLetters ? [DeadLettersController] : []),
        ...(deps.redispatch ? [RedispatchController] : []),
      ],
      providers: [
        ...(deps.redispatch ? [{ provide: REDISPATCH, useValue: deps.redispatch }] : []),
        ...(deps.deadLetters ? [{ provide: DEAD_LETTERS, useValue: deps.deadLetters }] : []),
        { provide: READINESS_CHECKS, useValue: deps.readiness },
        { provide: METRICS_REGISTRY, useValue: deps.registry },
        { provide: PROVIDERS, useValue: deps.providers },
        { provide: BALANCES, useValue: deps.balances },
        { provide: PROVIDER_CONTROL, useValue: deps.control },
        { provide: LOGGER, useValue: deps.logger },
        { provide: PROVIDER_ACCESS, useValue: deps.access },
        { provide: APP_FILTER, useValue: new HttpErrorFilter(deps.logger) },
        { provide: APP_GUARD, useClass: RolesGuard },
      ],
    };
  }
}
