import "reflect-metadata";
import { test } from "node:test";
import assert from "node:assert/strict";
import { routeTableProblems } from "@pinflow/service-kit";
import { AppModule } from "./app.module.js";

test("every route the dispatcher serves is in the route table (packages/contracts) with the same roles, and nothing else is", () => {
  // Every optional part on, so every controller is listed.
  const controllers = AppModule.register({ deadLetters: {}, redispatch: {} } as never).controllers ?? [];
  assert.deepEqual(routeTableProblems("dispatcher", controllers as never), []);
});
