/**
 * One PIN rule for every parser (znet and x-stor): a placeholder (blank, `-`, `--`, `—`, `null`,
 * `N/A` and the like) is never a PIN, and when x-stor's `pin` is a placeholder and `code` holds a
 * value, the value wins. Property tests across both providers' parsers.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { pinPlaceholder, pinValue } from "./test-arbitraries.js";
import { parseCheckReply as parseZnetCheck } from "./znet/parse.js";
import { parseCheckReply as parseXstorCheck, parsePlaceReply as parseXstorPlace } from "./xstor/parse.js";

const json = (v: unknown): string => JSON.stringify(v);
const doneWord = fc.constantFrom("success", "OK", "Done", "complete", "COMPLETED");
const note = fc.constantFrom("İşlem tamamlandı", "", "Tamam");

function xstorCheckOne(entry: Record<string, unknown>) {
  const r = parseXstorCheck(json({ status: "OK", data: [{ order_id: "70001", ...entry }] }), 200, { ids: ["70001"], by: "order_id" });
  assert.ok(r instanceof Map, json(r));
  return r.get("70001");
}

function xstorPlace(data: Record<string, unknown>) {
  return parseXstorPlace(json({ status: "OK", data: { order_id: "70001", price: "9.80", ...data } }), 200);
}

describe("one PIN rule for every parser", () => {
  it("znet: a placeholder in the PIN field of a done order is never a PIN (not done, no PIN)", () => {
    fc.assert(
      fc.property(pinPlaceholder, note, (p, n) => {
        const r = parseZnetCheck(`OK|2|${p}|${n}`, 200);
        assert.equal(r.kind, "unknown", `${JSON.stringify(p)} → ${json(r)}`);
      }),
    );
  });

  it("znet: a real PIN beside any state is taken only when done, as given (trimmed)", () => {
    fc.assert(
      fc.property(pinValue, (pin) => {
        assert.deepEqual(parseZnetCheck(`OK|2| ${pin} |Tamam`, 200), { kind: "done", pin, note: "Tamam" });
      }),
    );
  });

  it("x-stor check: a placeholder pin without a code is never a PIN (done without a PIN is unknown)", () => {
    fc.assert(
      fc.property(doneWord, pinPlaceholder, fc.option(pinPlaceholder, { nil: undefined }), (status, p, code) => {
        const r = xstorCheckOne(code === undefined ? { status, pin: p } : { status, pin: p, code });
        assert.equal(r?.kind, "unknown", `${JSON.stringify(p)} / ${JSON.stringify(code)} → ${json(r)}`);
      }),
    );
  });

  it("x-stor check: pin is a placeholder and code holds a value → the code's value is the PIN", () => {
    fc.assert(
      fc.property(doneWord, pinPlaceholder, pinValue, (status, p, code) => {
        assert.deepEqual(xstorCheckOne({ status, pin: p, code }), { kind: "done", pin: code, note: null });
      }),
    );
  });

  it("x-stor place reply: pin is a placeholder and code holds a value → the code's value is the PIN; placeholders alone → no PIN", () => {
    fc.assert(
      fc.property(doneWord, pinPlaceholder, pinValue, (status, p, code) => {
        const withCode = xstorPlace({ status, pin: p, code });
        assert.ok(withCode.kind === "accepted" && withCode.pin === code, json(withCode));
        const alone = xstorPlace({ status, pin: p, code: p });
        assert.ok(alone.kind === "accepted" && alone.pin === null, json(alone));
      }),
    );
  });

  it("x-stor: a null or numeric-zero pin is a placeholder; a real pin wins over code", () => {
    assert.deepEqual(xstorCheckOne({ status: "success", pin: null, code: "ZX-12" }), { kind: "done", pin: "ZX-12", note: null });
    assert.deepEqual(xstorCheckOne({ status: "success", pin: 0, code: "ZX-12" }), { kind: "done", pin: "ZX-12", note: null });
    assert.deepEqual(xstorCheckOne({ status: "success", pin: "AB-1", code: "ZX-12" }), { kind: "done", pin: "AB-1", note: null });
    assert.deepEqual(xstorCheckOne({ status: "success", pin: 123456 }), { kind: "done", pin: "123456", note: null });
  });
});
