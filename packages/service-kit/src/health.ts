import { Controller, Get, Header, HttpException, HttpStatus, Inject } from "@nestjs/common";
import type { Registry } from "prom-client";

export const READINESS_CHECKS = Symbol("READINESS_CHECKS");
export const METRICS_REGISTRY = Symbol("METRICS_REGISTRY");

/** Named probes; each resolves when its dependency is usable and throws when it is not. */
export type ReadinessChecks = Record<string, () => Promise<void>>;

@Controller()
export class HealthController {
  constructor(
    @Inject(READINESS_CHECKS) private readonly checks: ReadinessChecks,
    @Inject(METRICS_REGISTRY) private readonly registry: Registry,
  ) {}

  /** Liveness: the process answers. */
  @Get("healthz")
  live(): { status: "ok" } {
    return { status: "ok" };
  }

  /** Readiness: every dependency answers. */
  @Get("readyz")
  async ready(): Promise<{ status: "ok"; checks: Record<string, string> }> {
    const results: Record<string, string> = {};
    let ok = true;
    for (const [name, check] of Object.entries(this.checks)) {
      try {
        await check();
        results[name] = "ok";
      } catch {
        results[name] = "failing";
        ok = false;
      }
    }
    if (!ok) throw new HttpException({ status: "unavailable", checks: results }, HttpStatus.SERVICE_UNAVAILABLE);
    return { status: "ok", checks: results };
  }

  @Get("metrics")
  @Header("Content-Type", "text/plain; version=0.0.4")
  metrics(): Promise<string> {
    return this.registry.metrics();
  }
}
