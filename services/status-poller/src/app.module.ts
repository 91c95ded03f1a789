import { Module, type DynamicModule } from "@nestjs/common";
import { HealthController, METRICS_REGISTRY, READINESS_CHECKS, type ReadinessChecks } from "@pinflow/service-kit";
import type { Registry } from "prom-client";
import { WATCH_ADMIN, WatchController, type WatchAdmin } from "./watch.controller.js";

export interface AppDeps {
  registry: Registry;
  readiness: ReadinessChecks;
  admin: WatchAdmin;
}

/** The HTTP shell: health, metrics and the operator's check-now; the work happens in the runtime. */
@Module({})
export class AppModule {
  static register(deps: AppDeps): DynamicModule {
    return {
      module: AppModule,
      controllers: [HealthController, WatchController],
      providers: [
        { provide: READINESS_CHECKS, useValue: deps.readiness },
        { provide: METRICS_REGISTRY, useValue: deps.registry },
        { provide: WATCH_ADMIN, useValue: deps.admin },
      ],
    };
  }
}
