/** The Retry-After header as HttpGet reads it. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { parseRetryAfter } from "./http-get.js";

describe("parseRetryAfter", () => {
  const now = Date.parse("2025-01-01T10:00:00Z");

  it("reads delay-seconds and HTTP dates, capped at 15 minutes", () => {
    assert.equal(parseRetryAfter("7", now), 7000);
    assert.equal(parseRetryAfter(" 0 ", now), 0);
    assert.equal(parseRetryAfter(["3", "9"], now), 3000);
    assert.equal(parseRetryAfter("Wed, 01 Jan 2025 10:00:30 GMT", now), 30_000);
    assert.equal(parseRetryAfter("Wed, 01 Jan 2025 09:00:00 GMT", now), 0, "a date in the past: no wait");
    assert.equal(parseRetryAfter("99999", now), 15 * 60_000);
  });

  it("ignores absent or unusable values", () => {
    for (const v of [undefined, "", "soon", "-1", "1.5", "12345678901"]) assert.equal(parseRetryAfter(v, now), null, String(v));
  });

  it("never throws and is null or a wait within bounds", () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: "binary" }), fc.nat().map(String)), (v) => {
        const ms = parseRetryAfter(v, now);
        assert.ok(ms === null || (Number.isInteger(ms) && ms >= 0 && ms <= 15 * 60_000));
      }),
    );
  });
});
