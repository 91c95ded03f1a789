/** Property tests: every parser returns a well-formed union value for any input and never throws. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { isPinPlaceholder } from "../pin-rule.js";
import type { CheckResult, PlaceResult } from "../provider.js";
import { anyText, assertBalance, assertCheck, assertPlace, riskyBodies } from "../test-arbitraries.js";
import { parseBalanceReply, parseCheckReply, parsePlaceReply, parseProductList } from "./parse.js";

const ZNET_CODE = /^\d+$/;
/** A znet PIN is a `|`-separated field, never a placeholder (pin-rule.ts). */
const znetPin = (pin: string): boolean => !isPinPlaceholder(pin) && !pin.includes("|");
const assertZnetPlace = (r: PlaceResult): void => assertPlace(r, { providerCode: ZNET_CODE });
const assertZnetCheck = (r: CheckResult): void => assertCheck(r, { pin: znetPin });

/** Strings that look a lot like znet replies: OK, state digits, pipes, dashes, Turkish text, HTML. */
const zneti = fc
  .array(fc.constantFrom("OK", "|", "1", "2", "3", "4", "8", " - ", " ", "-", ".", "10.12", "İşlem", "ş", "ğ", "<html>", "<", "\uFEFF", "\n", "sifre=x"), {
    maxLength: 12,
  })
  .map((parts) => parts.join(""));

const bodies = fc.oneof(
  ...anyText,
  fc.string({ unit: fc.constantFrom("|", "O", "K", "1", "2", "3", " ", "-", "İ", "ı") }),
  fc.array(fc.string({ unit: "binary" }), { maxLength: 6 }).map((a) => a.join("|")),
  zneti,
);
const statuses = fc.oneof(fc.constantFrom(200, 200, 200, 201, 204, 301, 404, 500, 502, 503), fc.integer({ min: -1, max: 1000 }));

describe("znet parsers never throw and return union values", () => {
  it("parsePlaceReply", () => {
    fc.assert(fc.property(bodies, statuses, (b, s) => assertZnetPlace(parsePlaceReply(b, s))), { numRuns: 3000 });
  });

  it("parseCheckReply", () => {
    fc.assert(fc.property(bodies, statuses, (b, s) => assertZnetCheck(parseCheckReply(b, s))), { numRuns: 3000 });
  });

  it("parseBalanceReply", () => {
    fc.assert(fc.property(bodies, statuses, (b, s) => assertBalance(parseBalanceReply(b, s))), { numRuns: 2000 });
  });

  it("parseProductList (also on JSON-ish input)", () => {
    const jsonish = fc.oneof(bodies, fc.json(), fc.jsonValue().map((v) => JSON.stringify({ success: true, result: v })));
    fc.assert(
      fc.property(jsonish, (b) => {
        const r = parseProductList(b);
        if (r.ok) assert.ok(Array.isArray(r.items));
        else assert.ok(typeof r.error === "string" && r.error.length > 0);
      }),
      { numRuns: 2000 },
    );
  });
});

describe("znet parser safety properties", () => {
  it("only an OK reply is ever accepted, and never with a non-2xx status", () => {
    fc.assert(
      fc.property(bodies, statuses, (b, s) => {
        const r = parsePlaceReply(b, s);
        if (r.kind === "accepted") assert.ok(b.replace(/^\uFEFF+/, "").trim().startsWith("OK|") && s >= 200 && s < 300);
      }),
      { numRuns: 3000 },
    );
  });

  it("empty, HTML or 5xx replies are never a refusal", () => {
    const risky = riskyBodies(bodies, bodies.map((b) => `${b}<html`));
    fc.assert(
      fc.property(risky, (b) => {
        assert.equal(parsePlaceReply(b, 200).kind, "ambiguous");
        assert.equal(parseCheckReply(b, 200).kind, "unknown");
      }),
    );
    fc.assert(
      fc.property(bodies, fc.integer({ min: 500, max: 599 }), (b, s) => {
        assert.equal(parsePlaceReply(b, s).kind, "ambiguous");
        assert.equal(parseCheckReply(b, s).kind, "unknown");
      }),
    );
  });

  it("a done PIN is the third field as given, trimmed", () => {
    const pin = fc
      .string({ unit: fc.constantFrom("A", "Z", "0", "9", "-", " ", "/", ":") , minLength: 1 })
      .filter((p) => !isPinPlaceholder(p));
    fc.assert(
      fc.property(pin, fc.string({ unit: "grapheme" }), (p, desc) => {
        assert.deepEqual(parseCheckReply(`OK|2|${p}|${desc}`, 200), { kind: "done", pin: p.trim(), note: desc.trim() || null });
      }),
    );
  });
});

/** Any byte string, decoded as UTF-8 the way the HTTP client decodes a reply (invalid sequences become U+FFFD). */
const decoded = (bytes: Uint8Array): string => Buffer.from(bytes).toString("utf8");
const byteBodies = fc.oneof(
  fc.uint8Array({ maxLength: 400 }).map(decoded),
  // Bytes after a prefix that looks like a real reply, so the parsers get past their first checks.
  fc
    .tuple(fc.constantFrom("OK|", "OK|1|", "OK|2|", "3|", "4|", "8|", "OK|10.12|", '{"success":true,"result":[', "\uFEFF"), fc.uint8Array({ maxLength: 200 }))
    .map(([prefix, bytes]) => prefix + decoded(bytes)),
);

describe("znet parsers on any byte string (decoded as UTF-8)", () => {
  it("return a union value and never throw", () => {
    fc.assert(
      fc.property(byteBodies, statuses, (b, s) => {
        assertZnetPlace(parsePlaceReply(b, s));
        assertZnetCheck(parseCheckReply(b, s));
        assertBalance(parseBalanceReply(b, s));
        const list = parseProductList(b, s);
        assert.ok(list.ok ? Array.isArray(list.items) : list.error.length > 0);
      }),
      { numRuns: 3000 },
    );
  });
});
