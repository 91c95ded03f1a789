import { test } from "node:test";
import assert from "node:assert/strict";
import { retryDelayMs } from "./retry-policy.js";

const policy = { baseMs: 10_000, maxDelayMs: 3_600_000, maxAttempts: 5 };

test("retries back off ×3 from the base, capped, within ±10 % jitter, and stop after the last try", () => {
  assert.equal(retryDelayMs(policy, 1, 0.5), 10_000);
  assert.equal(retryDelayMs(policy, 2, 0.5), 30_000);
  assert.equal(retryDelayMs(policy, 3, 0.5), 90_000);
  assert.equal(retryDelayMs(policy, 1, 0), 9_000);
  assert.equal(retryDelayMs(policy, 1, 0.999999), 11_000);
  assert.equal(retryDelayMs({ ...policy, maxAttempts: 100 }, 40, 0.5), 3_600_000);
  assert.equal(retryDelayMs(policy, 5, 0.5), null);
});
