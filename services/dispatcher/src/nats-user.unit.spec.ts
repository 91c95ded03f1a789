import { test } from "node:test";
import assert from "node:assert/strict";
import { WORK_CONSUMERS } from "@pinflow/bus";
import { REDISPATCH_CONSUMER } from "./redispatch-consumer.js";
import { CONSUMER } from "./runtime.js";

test("the dispatcher's NATS user owns its durable consumers (the server's permissions are rendered from WORK_CONSUMERS)", () => {
  assert.deepEqual(WORK_CONSUMERS["dispatcher"], [CONSUMER, REDISPATCH_CONSUMER]);
});
