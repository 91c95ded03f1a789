import "reflect-metadata";
import { test } from "node:test";
import assert from "node:assert/strict";
import { Controller, Get, Post } from "@nestjs/common";
import { AllTenants, Roles } from "@pinflow/auth";
import { controllerRoutes, routeTableProblems } from "./route-table.js";
import { HealthController } from "./health.js";

@Controller("v1")
class DriftedController {
  @Get("packages")
  @Roles("operator")
  packages(): void {}

  @Post("orders/:id/refund")
  @Roles("operator")
  refund(): void {}
}

@Controller("v1/dead-letters")
@Roles("operator")
@AllTenants()
class LettersController {
  @Get()
  list(): void {}
}

test("controller routes are read from Nest's metadata (controller path + handler path, roles, tenant scope)", () => {
  assert.deepEqual(controllerRoutes([DriftedController, LettersController]), [
    { method: "get", path: "/v1/packages", roles: ["operator"], allTenants: false },
    { method: "post", path: "/v1/orders/:id/refund", roles: ["operator"], allTenants: false },
    { method: "get", path: "/v1/dead-letters", roles: ["operator"], allTenants: true },
  ]);
});

test("drift is reported: a served route missing from the table, other roles, a table route nobody serves", () => {
  const problems = routeTableProblems("orders", [DriftedController, LettersController, HealthController]);
  assert.ok(problems.includes("orders: POST /v1/orders/:id/refund is served but not in the route table"), problems.join("\n"));
  assert.ok(problems.includes("orders: GET /v1/packages allows [operator], the table says [customer, operator]"), problems.join("\n"));
  assert.ok(problems.includes("orders: POST /v1/orders is in the route table but no controller serves it"), problems.join("\n"));
  assert.equal(problems.some((p) => p.includes("/healthz") || p.includes("/v1/dead-letters ")), false, problems.join("\n"));
});
