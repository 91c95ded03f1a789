/** Property tests: every x-stor parser returns a well-formed union value for any input and never throws. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { anyText, assertBalance, assertCheck, assertPlace, pinPlaceholder, riskyBodies } from "../test-arbitraries.js";
import { parseBalanceReply, parseCheckReply, parsePlaceReply, parseProducts, statusMeaning } from "./parse.js";

const WORDS = ["success", "OK", "Done", "completed", "rejected", "FAILED", "error", "canceled", "pending", "Processing", "queue", "accepted", "on_hold", "", "weird"];
const word = fc.oneof(fc.constantFrom(...WORDS), fc.string());
const scalar = fc.oneof(fc.string(), fc.integer(), fc.double(), fc.boolean(), fc.constant(null));
const entry = fc.record(
  {
    order_id: fc.oneof(fc.constantFrom("1", "2", "3"), scalar),
    order_uuid: fc.oneof(fc.constantFrom("u-1", "u-2"), scalar),
    status: fc.oneof(word, scalar),
    pin: fc.oneof(fc.constantFrom("PIN-1", " ", ""), pinPlaceholder, scalar),
    code: fc.oneof(fc.constantFrom("CODE-1"), pinPlaceholder, scalar),
    price: fc.oneof(fc.constantFrom("9.80", "1", "-1", "x"), scalar),
    replay_api: fc.oneof(fc.array(scalar, { maxLength: 3 }), scalar),
    note: scalar,
    message: scalar,
  },
  { requiredKeys: [] },
);
/** JSON documents shaped like x-stor replies, with every field possibly missing or of the wrong type. */
const xstorish = fc
  .record(
    {
      status: fc.oneof(fc.constantFrom("OK", "ok", "ERROR", "FAILED", "success", " "), scalar),
      message: scalar,
      error: scalar,
      data: fc.oneof(entry, fc.array(fc.oneof(entry, scalar), { maxLength: 5 }), scalar),
      balance: scalar,
    },
    { requiredKeys: [] },
  )
  .map((o) => JSON.stringify(o));

const bodies = fc.oneof(
  ...anyText,
  fc.json(),
  xstorish,
  xstorish.map((s) => `\uFEFF${s}`),
  xstorish.map((s) => s.slice(0, Math.max(0, s.length - 3))),
  fc.string().map((s) => `<html>${s}`),
);
const statuses = fc.oneof(fc.constantFrom(200, 200, 200, 201, 401, 403, 404, 429, 500, 502, 503), fc.integer({ min: -1, max: 1000 }));
const query = fc.record({ ids: fc.array(fc.oneof(fc.constantFrom("1", "2", "3", "u-1", "u-2"), fc.string()), { maxLength: 6 }), by: fc.constantFrom("order_id" as const, "uuid" as const) });

describe("x-stor parsers never throw and return union values", () => {
  it("statusMeaning", () => {
    fc.assert(fc.property(fc.string({ unit: "binary" }), (s) => assert.ok(["done", "refused", "in_progress", "unknown"].includes(statusMeaning(s)))));
  });

  it("parsePlaceReply", () => {
    fc.assert(fc.property(bodies, statuses, (b, s) => assertPlace(parsePlaceReply(b, s))), { numRuns: 3000 });
  });

  it("parseCheckReply (with and without a query)", () => {
    fc.assert(
      fc.property(bodies, statuses, fc.option(query, { nil: undefined }), (b, s, q) => {
        const r = parseCheckReply(b, s, q);
        if (r instanceof Map) {
          for (const v of r.values()) assertCheck(v);
          if (q !== undefined) assert.deepEqual(new Set(r.keys()), new Set(q.ids));
        } else {
          assert.ok(r.kind === "unknown" && r.cause.length > 0);
        }
      }),
      { numRuns: 3000 },
    );
  });

  it("parseBalanceReply", () => {
    fc.assert(fc.property(bodies, statuses, (b, s) => assertBalance(parseBalanceReply(b, s))), { numRuns: 2000 });
  });

  it("parseProducts (also on JSON arrays of anything)", () => {
    const arrays = fc.oneof(bodies, fc.array(fc.jsonValue(), { maxLength: 4 }).map((a) => JSON.stringify(a)));
    fc.assert(
      fc.property(arrays, statuses, (b, s) => {
        const r = parseProducts(b, s);
        if (r.ok) assert.ok(Array.isArray(r.items));
        else assert.ok(typeof r.error === "string" && r.error.length > 0);
      }),
      { numRuns: 2000 },
    );
  });
});

describe("x-stor parser safety properties", () => {
  it("only a top-level OK with a 2xx status is ever accepted", () => {
    fc.assert(
      fc.property(bodies, statuses, (b, s) => {
        const r = parsePlaceReply(b, s);
        if (r.kind === "accepted") {
          assert.ok(s >= 200 && s < 300);
          const doc = JSON.parse(b.replace(/^\uFEFF+/, "")) as { status: string };
          assert.equal(doc.status.trim().toUpperCase(), "OK");
        }
      }),
      { numRuns: 3000 },
    );
  });

  it("empty, HTML, 5xx and 429 replies are never a refusal nor a known state", () => {
    const risky = riskyBodies(bodies);
    fc.assert(
      fc.property(risky, (b) => {
        assert.equal(parsePlaceReply(b, 200).kind, "ambiguous");
        assert.ok(!(parseCheckReply(b, 200, { ids: ["1"], by: "order_id" }) instanceof Map));
      }),
    );
    fc.assert(
      fc.property(bodies, fc.oneof(fc.integer({ min: 500, max: 599 }), fc.constant(429)), (b, s) => {
        assert.equal(parsePlaceReply(b, s).kind, "ambiguous");
        assert.ok(!(parseCheckReply(b, s, { ids: ["1"], by: "order_id" }) instanceof Map));
      }),
    );
  });

  it("done only for a done word with a pin; an unknown word is always unknown", () => {
    fc.assert(
      fc.property(fc.array(entry, { maxLength: 5 }), query, (entries, q) => {
        const r = parseCheckReply(JSON.stringify({ status: "OK", data: entries }), 200, q);
        assert.ok(r instanceof Map);
        for (const [id, v] of r) {
          if (v.kind !== "done" && v.kind !== "pending" && v.kind !== "cancelled") continue;
          const matching = entries.filter((e) => {
            const key = q.by === "uuid" ? (e.order_uuid ?? null) : (e.order_id ?? null);
            return key !== null && String(key).trim() === id;
          });
          const sources = matching.length > 0 ? matching : entries;
          assert.ok(sources.some((e) => typeof e.status === "string" && statusMeaning(e.status) !== "unknown"), JSON.stringify({ id, v, entries }));
        }
      }),
      { numRuns: 2000 },
    );
  });
});

/** Any byte string, decoded as UTF-8 the way the HTTP client decodes a reply (invalid sequences become U+FFFD). */
const decoded = (bytes: Uint8Array): string => Buffer.from(bytes).toString("utf8");
const byteBodies = fc.oneof(
  fc.uint8Array({ maxLength: 400 }).map(decoded),
  // Bytes after a prefix that looks like a real reply, so the parsers get past their first checks.
  fc
    .tuple(fc.constantFrom('{"status":"OK","data":', '{"status":"OK","data":[{"order_id":"1","status":"', '{"status":"ERROR","message":"', "[", '{"balance":"', "\uFEFF"), fc.uint8Array({ maxLength: 200 }))
    .map(([prefix, bytes]) => prefix + decoded(bytes)),
);

describe("x-stor parsers on any byte string (decoded as UTF-8)", () => {
  it("return a union value and never throw", () => {
    fc.assert(
      fc.property(byteBodies, statuses, fc.option(query, { nil: undefined }), (b, s, q) => {
        assertPlace(parsePlaceReply(b, s));
        const checked = parseCheckReply(b, s, q);
        if (checked instanceof Map) for (const v of checked.values()) assertCheck(v);
        else assert.ok(checked.kind === "unknown" && checked.cause.length > 0);
        assertBalance(parseBalanceReply(b, s));
        const list = parseProducts(b, s);
        assert.ok(list.ok ? Array.isArray(list.items) : list.error.length > 0);
        assert.ok(["done", "refused", "in_progress", "unknown"].includes(statusMeaning(b)));
      }),
      { numRuns: 3000 },
    );
  });
});
