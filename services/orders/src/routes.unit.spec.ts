import "reflect-metadata";
import { test } from "node:test";
import assert from "node:assert/strict";
import { routeTableProblems } from "@pinflow/service-kit";
import { AppModule, type OrdersDeps } from "./app.module.js";

test("every route the orders service serves is in the route table (packages/contracts) with the same roles, and nothing else is", () => {
  const controllers = AppModule.register({ webhooks: {} } as unknown as OrdersDeps).controllers ?? [];
  assert.ok(controllers.length >= 4);
  assert.deepEqual(routeTableProblems("orders", controllers as never), []);
});
