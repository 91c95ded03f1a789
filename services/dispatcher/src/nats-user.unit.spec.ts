import { test } from "node:test";
import assert from "node:assert/strict";
import { WORK_CONSUMERS } from "@pinflow/bus";
import { CONSUMER } from "./runtime.js";

test("the dispatcher's NATS user owns its durable consumer (the server's permissions are rendered from WORK_CONSUMERS)", () => {
  assert.deepEqual(WORK_CONSUMERS["dispatcher"], [CONSUMER]);
});
