/**
 * No plaintext PIN in any text a parser or client returns: every provider body quoted in a cause
 * goes through one masking function. Regression cases of both providers, then properties.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { maskCheckResult, maskPlaceResult } from "./client-results.js";
import type { CheckResult, PlaceResult } from "./provider.js";
import { pinValue } from "./test-arbitraries.js";
import { parseCheckReply as parseZnetCheck, parsePlaceReply as parseZnetPlace } from "./znet/parse.js";
import { parseCheckReply as parseXstorCheck, parsePlaceReply as parseXstorPlace } from "./xstor/parse.js";

const json = (v: unknown): string => JSON.stringify(v);

/** Every text of a result (cause, message, note), not the PIN of a done result. */
function textsOf(r: PlaceResult | CheckResult | Map<string, CheckResult> | { kind: "unknown"; cause: string }): string {
  if (r instanceof Map) return [...r.values()].map(textsOf).join("\n");
  switch (r.kind) {
    case "accepted":
      return "";
    case "refused":
      return `${r.providerCode} ${r.message}`;
    case "ambiguous":
    case "unknown":
      return r.cause;
    case "not_found":
      return r.message;
    case "pending":
    case "cancelled":
    case "done":
      return r.note ?? "";
  }
}

const SECRET = "SECRET-PIN";

describe("no plaintext PIN in a quoted provider body", () => {
  it("x-stor place reply with a PIN and an unreadable price: the cause has no PIN", () => {
    const r = parseXstorPlace('{"status":"OK","data":{"status":"success","pin":"SECRET-PIN","price":"abc"}}', 200);
    assert.equal(r.kind, "ambiguous");
    assert.ok(r.kind === "ambiguous" && r.cause.includes("without a readable price"), json(r));
    assert.ok(!textsOf(r).includes(SECRET), textsOf(r));
    assert.ok(!textsOf(r).includes("SECRET"), textsOf(r));
  });

  it("x-stor place reply with the PIN in `code`, as a number, or with an escaped quote: masked in the cause", () => {
    for (const body of [
      '{"status":"OK","data":{"status":"success","code":"SECRET-PIN","price":"abc"}}',
      '{"status":"OK","data":{"status":"success","pin":"SECRET-PIN","price":null}}',
      '{"status":"OK","data":{"status":"success","pin" : "SECRET-PIN"}}',
      '{"status":"OK","data":{"status":"success","pin":"SEC\\"RET-PIN","price":"x"}}',
      '{"status":"done","data":{"pin":"SECRET-PIN"}}',
      '{"status":"OK","data":{"status":"success","pin":987654321987,"price":"x"}}',
    ]) {
      const r = parseXstorPlace(body, 200);
      assert.equal(r.kind, "ambiguous", body);
      for (const part of ["SECRET", "RET-PIN", "987654321987"]) assert.ok(!textsOf(r).includes(part), `${body} → ${textsOf(r)}`);
    }
  });

  it("x-stor replies with a PIN under HTTP 500 or 200 with garbage before it: masked in the cause", () => {
    const ok = '{"status":"OK","data":[{"order_id":"1","status":"success","pin":"SECRET-PIN"}]}';
    for (const [body, status] of [
      [ok, 500],
      [ok, 429],
      [`PHP Warning: x\n${ok}`, 200],
      [ok.slice(0, 70), 200],
    ] as const) {
      const check = parseXstorCheck(body, status, { ids: ["1"], by: "order_id" });
      const place = parseXstorPlace(body, status);
      assert.ok(!textsOf(check).includes("SECRET"), `check ${status} ${body} → ${textsOf(check)}`);
      assert.ok(!textsOf(place).includes("SECRET"), `place ${status} ${body} → ${textsOf(place)}`);
    }
  });

  it("znet pin_kontrol with a PIN under HTTP 500, in an HTML page, or in lower-case: masked in the cause", () => {
    for (const [body, status] of [
      ["OK|2|SECRET-PIN|İşlem tamamlandı", 500],
      ["OK|2|SECRET-PIN|İşlem tamamlandı", 302],
      ["<html><body>OK|2|SECRET-PIN|İşlem tamamlandı</body></html>", 200],
      ["ok|2|SECRET-PIN|İşlem tamamlandı", 200],
      ["Warning: x OK|2|SECRET-PIN|İşlem tamamlandı", 200],
      ["OK|9|SECRET-PIN|Garip durum", 200],
    ] as const) {
      for (const r of [parseZnetCheck(body, status), parseZnetPlace(body, status)]) {
        assert.ok(!textsOf(r).includes("SECRET"), `${status} ${body} → ${textsOf(r)}`);
      }
    }
  });

  it("property: a PIN in an x-stor reply is never in a result's texts (any status code, any wrapping)", () => {
    const wrap = fc.constantFrom(
      (s: string) => s,
      (s: string) => `<html>${s}</html>`,
      (s: string) => `Warning: ${s}`,
      (s: string) => s.slice(0, 60),
    );
    fc.assert(
      fc.property(pinValue, fc.constantFrom("pin", "code"), fc.constantFrom(200, 201, 429, 500, 502), wrap, fc.constantFrom("abc", null, "9.80"), (pin, key, status, w, price) => {
        const place = w(json({ status: "OK", data: { status: "success", [key]: pin, price } }));
        const check = w(json({ status: "OK", data: [{ order_id: "1", status: "??", [key]: pin }] }));
        for (const r of [parseXstorPlace(place, status), parseXstorCheck(check, status, { ids: ["1"], by: "order_id" }), parseXstorPlace(check, status)]) {
          assert.ok(!textsOf(r).includes(pin), `${place} → ${textsOf(r)}`);
        }
      }),
    );
  });

  it("property: a PIN in a znet status line is never in a result's texts unless it is the done order's PIN", () => {
    fc.assert(
      fc.property(pinValue, fc.constantFrom("1", "2", "3", "9", "x", ""), fc.constantFrom(200, 500, 404), fc.constantFrom("", "<html>", "Warning: "), (pin, state, status, prefix) => {
        const body = `${prefix}OK|${state}|${pin}|Açıklama`;
        for (const r of [parseZnetCheck(body, status), parseZnetPlace(body, status)]) {
          assert.ok(!textsOf(r).includes(pin), `${status} ${body} → ${json(r)}`);
        }
      }),
    );
  });

  it("maskPlaceResult / maskCheckResult (what the dispatcher applies to every provider answer) mask every text, never the delivered PIN", () => {
    assert.deepEqual(maskPlaceResult({ kind: "ambiguous", cause: 'not JSON: {"pin":"SECRET-PIN"' }), { kind: "ambiguous", cause: 'not JSON: {"pin":"***"' });
    const accepted: PlaceResult = { kind: "accepted", cost: "9.80", balance: null, providerOrderId: "1", pin: "AB12-CD34" };
    assert.deepEqual(maskPlaceResult(accepted), accepted);
    assert.deepEqual(maskCheckResult({ kind: "unknown", cause: "HTTP 500: OK|2|SECRET-PIN|x", retryAfterMs: 5 }), { kind: "unknown", cause: "HTTP 500: OK|2|***|x", retryAfterMs: 5 });
    assert.deepEqual(maskCheckResult({ kind: "done", pin: "AB12-CD34", note: "ok" }), { kind: "done", pin: "AB12-CD34", note: "ok" });
  });
});
