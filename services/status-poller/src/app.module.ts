import { Inject, Injectable, Module, type DynamicModule, type OnApplicationShutdown } from "@nestjs/common";
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
import type { Registry } from "prom-client";
import { PROVIDER_ADMIN, ProvidersController, type ProviderAdmin } from "./providers.controller.js";
import { WATCH_ADMIN, WatchController, type WatchAdmin } from "./watch.controller.js";

export const STOP_WORK = Symbol("STOP_WORK");

export interface AppDeps {
  registry: Registry;
  readiness: ReadinessChecks;
  admin: WatchAdmin;
  /** Pause / resume / status of each provider's checks (omitted: no provider endpoints). */
  providers?: ProviderAdmin;
  /** The dead-letter record: GET /v1/dead-letters (omitted: no such endpoint). */
  deadLetters?: DeadLetterList;
  /** Stops the consumer, scheduler and relay; must be safe to call more than once. */
  stopWork?: () => Promise<void>;
}

/**
 * Stops the background work inside Nest's shutdown, which Nest awaits before it
 * re-raises the signal (with shutdown hooks on, the process dies right after).
 */
@Injectable()
export class StopWorkOnShutdown implements OnApplicationShutdown {
  constructor(@Inject(STOP_WORK) private readonly stopWork: () => Promise<void>) {}
  async onApplicationShutdown(): Promise<void> {
    await this.stopWork();
  }
}

/** The HTTP shell: health, metrics, the operator's check-now, provider pause/resume and the dead letters; the work happens in the runtime. */
@Module({})
export class AppModule {
  static register(deps: AppDeps): DynamicModule {
    return {
      module: AppModule,
      controllers: [
        HealthController,
        WatchController,
        ...(deps.providers ? [ProvidersController] : []),
        ...(deps.deadLetters ? [DeadLettersController] : []),
      ],
      providers: [
        ...(deps.deadLetters ? [{ provide: DEAD_LETTERS, useValue: deps.deadLetters }] : []),
        ...(deps.providers ? [{ provide: PROVIDER_ADMIN, useValue: deps.providers }] : []),
        { provide: READINESS_CHECKS, useValue: deps.readiness },
        { provide: METRICS_REGISTRY, useValue: deps.registry },
        { provide: WATCH_ADMIN, useValue: deps.admin },
        { provide: STOP_WORK, useValue: deps.stopWork ?? (async () => undefined) },
        { provide: APP_FILTER, useValue: new HttpErrorFilter(deps.admin.logger) },
        { provide: APP_GUARD, useClass: RolesGuard },
        StopWorkOnShutdown,
      ],
    };
  }
}
