import { test } from "node:test";
import assert from "node:assert/strict";
import type { EncryptedPin } from "@pinflow/contracts";
import { classifyCall } from "./gate.js";
import type { CheckResult } from "./poll.js";

const SEALED: EncryptedPin = { alg: "A256GCM", keyId: "k1", iv: "aXY=", tag: "dGFn", ciphertext: "Y2lwaGVy" };
const pending: CheckResult = { kind: "pending", note: null };
const done: CheckResult = { kind: "done", pin: SEALED, note: null };
const http500: CheckResult = { kind: "unknown", cause: "HTTP 500: \"<html>\"" };
const oddWord: CheckResult = { kind: "unknown", cause: 'unknown status "on_hold"' };

test("a readable answer is a healthy call, whatever it says about the order", () => {
  assert.deepEqual(classifyCall([pending], 10_000), { kind: "ok" });
  assert.deepEqual(classifyCall([done], 10_000), { kind: "ok" });
  assert.deepEqual(classifyCall([{ kind: "cancelled", note: null }], 10_000), { kind: "ok" });
  assert.deepEqual(classifyCall([{ kind: "not_found", message: "x" }], 10_000), { kind: "ok" });
});

test("5xx, timeouts, empty/HTML/garbled bodies and unknown states are failures of the call", () => {
  assert.deepEqual(classifyCall([http500], 10_000), { kind: "failure" });
  assert.deepEqual(classifyCall([{ kind: "unknown", cause: "timeout after 2000 ms (GET …)" }], 10_000), { kind: "failure" });
  assert.deepEqual(classifyCall([oddWord], 10_000), { kind: "failure" });
  assert.deepEqual(classifyCall(Array<CheckResult>(50).fill(http500), 10_000), { kind: "failure" }, "a batch with no readable entry");
});

test("a batch where only some entries are unclear: the provider answered (healthy call)", () => {
  assert.deepEqual(classifyCall([pending, oddWord, done], 10_000), { kind: "ok" });
});

test("HTTP 429 / Retry-After: the provider's own wait (the default when it gave none), the longest of a batch", () => {
  assert.deepEqual(classifyCall([{ kind: "unknown", cause: "HTTP 429 (rate limited)", retryAfterMs: 7000 }], 10_000), { kind: "retry_after", ms: 7000 });
  assert.deepEqual(classifyCall([{ kind: "unknown", cause: "HTTP 429 (rate limited)" }], 12_000), { kind: "retry_after", ms: 12_000 });
  assert.deepEqual(
    classifyCall([{ kind: "unknown", cause: "HTTP 503", retryAfterMs: 2000 }, { kind: "unknown", cause: "HTTP 503", retryAfterMs: 5000 }], 10_000),
    { kind: "retry_after", ms: 5000 },
  );
  assert.deepEqual(classifyCall([{ kind: "unknown", cause: "HTTP 429", retryAfterMs: 0 }], 10_000), { kind: "retry_after", ms: 1000 }, "never a tight loop");
  assert.deepEqual(classifyCall([], 10_000), { kind: "failure" }, "no answer at all");
});
