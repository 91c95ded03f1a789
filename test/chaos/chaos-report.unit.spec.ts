import { test } from "node:test";
import assert from "node:assert/strict";
import { whyNotStarted } from "./chaos-report.js";

test("a failed start is reported by its fatal log line, not by the first log line of the tail", () => {
  const message = [
    "status-poller#2 exited while starting; log:",
    '{"level":30,"time":"2026-12-03T13:06:11.976Z","service":"status-poller","orderId":"f010dc54","msg":"watching order"}',
    '{"level":60,"time":"2026-12-03T13:39:22.410Z","service":"status-poller","err":{"type":"Error","message":"connect ECONNREFUSED 127.0.0.1:33081","stack":"Error: …"},"msg":"status poller failed to start"}',
  ].join("\n");
  assert.equal(whyNotStarted(message), "status poller failed to start: connect ECONNREFUSED 127.0.0.1:33081");
});

test("without a fatal line, the error's first line", () => {
  assert.equal(whyNotStarted('orders#2 not ready after 180000 ms; log:\n{"level":30,"msg":"listening"}'), "orders#2 not ready after 180000 ms; log:");
});
