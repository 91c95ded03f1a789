import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { CheckResult } from "../provider.js";
import { parseBalanceReply, parseCheckReply, parsePlaceReply, parseProducts, refusalReason, statusMeaning } from "./parse.js";

const json = (v: unknown): string => JSON.stringify(v);

describe("x-stor statusMeaning", () => {
  it("maps every word of the table, case-insensitively", () => {
    const table: [string[], string][] = [
      [["success", "ok", "done", "complete", "completed"], "done"],
      [["reject", "rejected", "failed", "fail", "error", "cancelled", "canceled"], "refused"],
      [["wait", "pending", "processing", "inprogress", "queued", "queue", "accepted"], "in_progress"],
    ];
    for (const [words, meaning] of table) {
      for (const w of words) {
        for (const form of [w, w.toUpperCase(), w[0]?.toUpperCase() + w.slice(1), ` ${w}\n`]) {
          assert.equal(statusMeaning(form), meaning, form);
        }
      }
    }
  });

  it("anything else is unknown", () => {
    for (const w of ["", "in progress", "on_hold", "partial", "successful", "refunded", "1", "null", "succes"]) {
      assert.equal(statusMeaning(w), "unknown", w);
    }
  });
});

describe("x-stor parsePlaceReply", () => {
  it("accepts OK with cost = data.price and providerOrderId = data.order_id", () => {
    const body = json({ status: "OK", data: { order_id: "67890", status: "Processing", price: "45.50", replay_api: [] } });
    assert.deepEqual(parsePlaceReply(body, 200), { kind: "accepted", cost: "45.50", balance: null, providerOrderId: "67890", pin: null });
  });

  it("accepts numeric order_id and price, and a BOM", () => {
    const body = `\uFEFF${json({ status: "ok", data: { order_id: 67890, status: "pending", price: 9.8 } })}\n`;
    assert.deepEqual(parsePlaceReply(body, 200), { kind: "accepted", cost: "9.8", balance: null, providerOrderId: "67890", pin: null });
  });

  it("OK with data.status already success and a pin carries the pin (pin or code)", () => {
    const withPin = json({ status: "OK", data: { order_id: "1", status: "SUCCESS", price: "9.80", pin: " ABCD-1234 " } });
    assert.deepEqual(parsePlaceReply(withPin, 200), { kind: "accepted", cost: "9.80", balance: null, providerOrderId: "1", pin: "ABCD-1234" });
    const withCode = json({ status: "OK", data: { order_id: "1", status: "Completed", price: "9.80", code: "XYZ" } });
    assert.equal((p => (p.kind === "accepted" ? p.pin : "x"))(parsePlaceReply(withCode, 200)), "XYZ");
  });

  it("a pin on a not-done status is not taken; done without pin is accepted without pin", () => {
    const pending = json({ status: "OK", data: { order_id: "1", status: "pending", price: "1", pin: "EARLY" } });
    assert.equal((p => (p.kind === "accepted" ? p.pin : "x"))(parsePlaceReply(pending, 200)), null);
    const done = json({ status: "OK", data: { order_id: "1", status: "done", price: "1", pin: "" } });
    assert.equal((p => (p.kind === "accepted" ? p.pin : "x"))(parsePlaceReply(done, 200)), null);
  });

  it("OK with data.status already rejected is refused provider_error with the note", () => {
    const body = json({ status: "OK", data: { order_id: "5", status: "Rejected", price: "9.80", replay_api: ["Wrong ID", "refunded"] } });
    assert.deepEqual(parsePlaceReply(body, 200), { kind: "refused", providerCode: "Rejected", message: "Wrong ID; refunded", reasonCode: "provider_error" });
    const bare = json({ status: "OK", data: { status: "canceled" } });
    assert.deepEqual(parsePlaceReply(bare, 200), { kind: "refused", providerCode: "canceled", message: "order canceled", reasonCode: "provider_error" });
  });

  it("ERROR with insufficient balance is refused insufficient_balance", () => {
    const body = json({ status: "ERROR", message: "Insufficient balance", error: "balance" });
    assert.deepEqual(parsePlaceReply(body, 200), { kind: "refused", providerCode: "balance", message: "Insufficient balance", reasonCode: "insufficient_balance" });
  });

  it("maps refusal texts to reason codes", () => {
    const reason = (message: string, error?: string): string => {
      const r = parsePlaceReply(json({ status: "ERROR", message, error }), 200);
      assert.equal(r.kind, "refused", message);
      return r.kind === "refused" ? r.reasonCode : "";
    };
    assert.equal(reason("Bakiyeniz yetersiz"), "insufficient_balance");
    assert.equal(reason("Not enough money", "insufficient_funds"), "insufficient_balance");
    assert.equal(reason("Product is not available"), "product_unavailable");
    assert.equal(reason("Out of stock"), "product_unavailable");
    assert.equal(reason("The uid field is required."), "invalid_player");
    assert.equal(reason("Invalid Player"), "invalid_player");
    assert.equal(reason("wrong user id"), "invalid_player");
    assert.equal(reason("Unauthenticated"), "auth_failed");
    assert.equal(reason("Invalid token"), "auth_failed");
    assert.equal(reason("The order uuid has already been taken."), "duplicate_reference");
    assert.equal(reason("Something went wrong"), "provider_error");
    assert.equal(reason(""), "provider_error");
    // order_uuid must not read as "uid"
    assert.equal(refusalReason("bad order_uuid"), "provider_error");
  });

  it("any other top-level status is a refusal; a missing message is an empty one", () => {
    assert.deepEqual(parsePlaceReply(json({ status: "FAILED" }), 200), { kind: "refused", providerCode: "FAILED", message: "", reasonCode: "provider_error" });
    assert.equal(parsePlaceReply(json({ status: "denied", message: "Product disabled" }), 200).kind, "refused");
  });

  it("a top-level status that means done/in progress, or none, is ambiguous (never a refusal)", () => {
    for (const v of [{ status: "success" }, { status: "pending" }, { status: "" }, { status: true }, { message: "Server Error" }, { data: { order_id: "1" } }]) {
      assert.equal(parsePlaceReply(json(v), 200).kind, "ambiguous", json(v));
    }
  });

  it("HTTP 401/403 with a JSON error is refused auth_failed", () => {
    assert.deepEqual(parsePlaceReply(json({ status: "ERROR", message: "Unauthenticated" }), 401), {
      kind: "refused",
      providerCode: "401",
      message: "Unauthenticated",
      reasonCode: "auth_failed",
    });
    assert.equal((r => (r.kind === "refused" ? r.reasonCode : r.kind))(parsePlaceReply(json({ message: "Forbidden" }), 403)), "auth_failed");
    // not JSON: a proxy page, nothing is known
    assert.equal(parsePlaceReply("<html>401 Authorization Required</html>", 401).kind, "ambiguous");
    assert.equal(parsePlaceReply("", 403).kind, "ambiguous");
  });

  it("HTML body (wrong base URL), empty body, non-JSON are ambiguous", () => {
    for (const body of ["", "  \r\n", "<!DOCTYPE html><html><body>x-stor</body></html>", "<html>", "Whoops", "OK", "{\"status\":\"OK\"", "[]", "null", "42"]) {
      assert.equal(parsePlaceReply(body, 200).kind, "ambiguous", JSON.stringify(body));
    }
    const html = parsePlaceReply("<!DOCTYPE html><html>", 200);
    assert.match(html.kind === "ambiguous" ? html.cause : "", /HTML body/);
  });

  it("500, 502 and 429 are ambiguous even with an OK or ERROR body", () => {
    const ok = json({ status: "OK", data: { order_id: "1", status: "pending", price: "1" } });
    const err = json({ status: "ERROR", message: "Insufficient balance" });
    for (const s of [500, 502, 503, 429, 404, 302, 0]) {
      assert.equal(parsePlaceReply(ok, s).kind, "ambiguous", String(s));
      assert.equal(parsePlaceReply(err, s).kind, "ambiguous", String(s));
    }
    const r = parsePlaceReply(json({ message: "Too Many Attempts." }), 429);
    assert.match(r.kind === "ambiguous" ? r.cause : "", /HTTP 429 \(rate limited\)/);
  });

  it("OK without data or without a readable price is ambiguous", () => {
    for (const v of [{ status: "OK" }, { status: "OK", data: [] }, { status: "OK", data: { order_id: "1", status: "pending" } }, { status: "OK", data: { price: "abc" } }]) {
      assert.equal(parsePlaceReply(json(v), 200).kind, "ambiguous", json(v));
    }
  });

  it("masks token= in causes built from the body", () => {
    const r = parsePlaceReply("<html>GET /x?api-token=s3cret</html>", 200);
    assert.ok(r.kind === "ambiguous" && !r.cause.includes("s3cret"));
  });
});

describe("x-stor parseCheckReply", () => {
  const entry = (order_id: string, status: string, extra: Record<string, unknown> = {}) => ({ order_id, status, ...extra });
  const reply = (data: unknown): string => json({ status: "OK", data });
  const asMap = (r: ReturnType<typeof parseCheckReply>): Map<string, CheckResult> => {
    assert.ok(r instanceof Map, `not a map: ${json(r)}`);
    return r;
  };

  it("maps every status word of the table, in mixed case", () => {
    const words: [string, CheckResult["kind"]][] = [
      ["Success", "done"], ["OK", "done"], ["DONE", "done"], ["Complete", "done"], ["COMPLETED", "done"],
      ["REJECT", "cancelled"], ["Rejected", "cancelled"], ["Failed", "cancelled"], ["fail", "cancelled"], ["Error", "cancelled"], ["CANCELLED", "cancelled"], ["Canceled", "cancelled"],
      ["Wait", "pending"], ["PENDING", "pending"], ["Processing", "pending"], ["InProgress", "pending"], ["Queued", "pending"], ["QUEUE", "pending"], ["Accepted", "pending"],
    ];
    const data = words.map(([w], i) => entry(String(i + 1), w, { pin: `PIN-${i + 1}` }));
    const ids = data.map((d) => d.order_id);
    const m = asMap(parseCheckReply(reply(data), 200, { ids, by: "order_id" }));
    assert.equal(m.size, words.length);
    words.forEach(([w, kind], i) => assert.equal(m.get(String(i + 1))?.kind, kind, w));
    assert.deepEqual(m.get("1"), { kind: "done", pin: "PIN-1", note: null });
  });

  it("an unknown word is unknown, never done or failed; done without a pin is unknown", () => {
    const m = asMap(parseCheckReply(reply([entry("1", "on_hold", { pin: "X" }), entry("2", "success"), entry("3", "in progress"), { order_id: "4" }]), 200, { ids: ["1", "2", "3", "4"], by: "order_id" }));
    for (const id of ["1", "2", "3", "4"]) assert.equal(m.get(id)?.kind, "unknown", id);
    const c = m.get("1");
    assert.match(c?.kind === "unknown" ? c.cause : "", /unknown status "on_hold"/);
  });

  it("takes the pin from pin or code, and the note from replay_api, note or message", () => {
    const m = asMap(
      parseCheckReply(
        reply([
          entry("1", "success", { code: "CODE-1", replay_api: ["a", " ", "b"] }),
          entry("2", "pending", { note: "waiting", message: "ignored" }),
          entry("3", "rejected", { message: "wrong uid" }),
          entry("4", "pending", { replay_api: "single" }),
          entry("5", "done", { pin: 12345 }),
        ]),
        200,
        { ids: ["1", "2", "3", "4", "5"], by: "order_id" },
      ),
    );
    assert.deepEqual(m.get("1"), { kind: "done", pin: "CODE-1", note: "a; b" });
    assert.deepEqual(m.get("2"), { kind: "pending", note: "waiting" });
    assert.deepEqual(m.get("3"), { kind: "cancelled", note: "wrong uid" });
    assert.deepEqual(m.get("4"), { kind: "pending", note: "single" });
    assert.deepEqual(m.get("5"), { kind: "done", pin: "12345", note: null });
  });

  it("ids asked for but absent from a well-formed OK reply are not_found", () => {
    const m = asMap(parseCheckReply(reply([entry("1", "pending")]), 200, { ids: ["1", "2", "3"], by: "order_id" }));
    assert.equal(m.get("1")?.kind, "pending");
    assert.equal(m.get("2")?.kind, "not_found");
    assert.equal(m.get("3")?.kind, "not_found");
    const empty = asMap(parseCheckReply(reply([]), 200, { ids: ["9"], by: "uuid" }));
    assert.equal(empty.get("9")?.kind, "not_found");
  });

  it("by uuid: keyed by order_uuid (or uuid), never by order_id", () => {
    const data = [entry("100", "pending", { order_uuid: "u-1" }), entry("101", "success", { uuid: "u-2", pin: "P2" })];
    const m = asMap(parseCheckReply(reply(data), 200, { ids: ["u-1", "u-2", "u-3"], by: "uuid" }));
    assert.equal(m.get("u-1")?.kind, "pending");
    assert.deepEqual(m.get("u-2"), { kind: "done", pin: "P2", note: null });
    assert.equal(m.get("u-3")?.kind, "not_found");
    assert.equal(m.has("100"), false);
  });

  it("by uuid, a lone entry without our uuid is never attributed to the one order asked about (unknown, never found nor not_found)", () => {
    for (const status of ["success", "pending", "rejected"]) {
      const one = asMap(parseCheckReply(reply([entry("100", status, { pin: "P-1" })]), 200, { ids: ["u-1"], by: "uuid" }));
      assert.equal(one.get("u-1")?.kind, "unknown", status);
      const single = asMap(parseCheckReply(json({ status: "OK", data: entry("100", status, { pin: "P-1" }) }), 200, { ids: ["u-1"], by: "uuid" }));
      assert.equal(single.get("u-1")?.kind, "unknown", `data object, ${status}`);
    }
    const many = asMap(parseCheckReply(reply([entry("100", "success", { pin: "P" })]), 200, { ids: ["u-1", "u-2"], by: "uuid" }));
    assert.equal(many.get("u-1")?.kind, "unknown");
    assert.equal(many.get("u-2")?.kind, "unknown");
  });

  it("by uuid (reconcile): an explicit empty data list for the asked uuid is not_found", () => {
    assert.equal(asMap(parseCheckReply(reply([]), 200, { ids: ["u-1"], by: "uuid" })).get("u-1")?.kind, "not_found");
  });

  it("batch replies that carry only order_id are matched by the order_id asked, entry by entry", () => {
    const data = [entry("70003", "success", { pin: "P-3" }), entry("70001", "pending"), entry("70002", "rejected")];
    const m = asMap(parseCheckReply(reply(data), 200, { ids: ["70001", "70002", "70003", "70004"], by: "order_id" }));
    assert.deepEqual(m.get("70001"), { kind: "pending", note: null });
    assert.deepEqual(m.get("70002"), { kind: "cancelled", note: null });
    assert.deepEqual(m.get("70003"), { kind: "done", pin: "P-3", note: null });
    assert.equal(m.get("70004")?.kind, "not_found");
  });

  it("by order_id, a lone entry with another order_id is never attributed to the one order asked about", () => {
    const m = asMap(parseCheckReply(reply([entry("70009", "success", { pin: "NOT-OURS" })]), 200, { ids: ["70001"], by: "order_id" }));
    assert.equal(m.get("70001")?.kind, "unknown");
    const bare = asMap(parseCheckReply(reply([{ status: "success", pin: "NOT-OURS" }]), 200, { ids: ["70001"], by: "order_id" }));
    assert.equal(bare.get("70001")?.kind, "unknown");
  });

  it("entries for ids not asked, or unreadable entries, turn missing ids into unknown (not not_found)", () => {
    const m = asMap(parseCheckReply(reply([entry("1", "pending"), entry("77", "success", { pin: "NOT-OURS" })]), 200, { ids: ["1", "2"], by: "order_id" }));
    assert.equal(m.get("1")?.kind, "pending");
    assert.equal(m.get("2")?.kind, "unknown");
    assert.equal(m.has("77"), false);
    const junk = asMap(parseCheckReply(reply(["x", null]), 200, { ids: ["1"], by: "order_id" }));
    assert.equal(junk.get("1")?.kind, "unknown");
  });

  it("conflicting duplicate entries are unknown", () => {
    const m = asMap(parseCheckReply(reply([entry("1", "pending"), entry("1", "success", { pin: "P" })]), 200, { ids: ["1"], by: "order_id" }));
    assert.equal(m.get("1")?.kind, "unknown");
  });

  it("without a query, entries are keyed by order_id and nothing is not_found", () => {
    const m = asMap(parseCheckReply(reply([entry("1", "pending")]), 200));
    assert.deepEqual([...m.keys()], ["1"]);
  });

  it("empty, HTML, non-JSON, 500, 429, ERROR and odd shapes are a whole-reply unknown", () => {
    const cases: [string, number][] = [
      ["", 200],
      ["<html><body>Not Found</body></html>", 200],
      ["Whoops, looks like something went wrong.", 200],
      [reply([entry("1", "success", { pin: "P" })]), 500],
      [reply([entry("1", "success", { pin: "P" })]), 429],
      [json({ status: "ERROR", message: "Order not found" }), 200],
      [json({ status: "OK" }), 200],
      [json({ status: "OK", data: "x" }), 200],
      [json([1, 2]), 200],
      [json({ data: [] }), 200],
    ];
    for (const [body, status] of cases) {
      const r = parseCheckReply(body, status, { ids: ["1"], by: "order_id" });
      assert.ok(!(r instanceof Map) && r.kind === "unknown" && r.cause.length > 0, `${status} ${body}`);
    }
  });
});

describe("x-stor parseBalanceReply", () => {
  it("reads the balance string (and a number)", () => {
    assert.deepEqual(parseBalanceReply(json({ balance: "43.55", email: "a@b.c" }), 200), { kind: "ok", balance: "43.55" });
    assert.deepEqual(parseBalanceReply(json({ balance: 12 }), 200), { kind: "ok", balance: "12" });
    assert.deepEqual(parseBalanceReply(json({ balance: "-1.50" }), 200), { kind: "ok", balance: "-1.50" });
  });

  it("fails on errors, HTML, empty body, missing balance", () => {
    for (const [body, status] of [
      [json({ status: "ERROR", message: "Unauthenticated" }), 401],
      ["<html>", 200],
      ["", 200],
      [json({ email: "x" }), 200],
      [json({ balance: "1,5" }), 200],
      [json({ message: "Unauthenticated" }), 200],
    ] as const) {
      const r = parseBalanceReply(body, status);
      assert.ok(r.kind === "failed" && r.cause.length > 0, body);
    }
  });
});

describe("x-stor parseProducts", () => {
  const item = {
    id: 501,
    name: "PUBG Mobile 60 UC",
    price: "9.80",
    category_name: "PUBG Mobile",
    available: true,
    params: ["uid"],
    product_type: "package",
    qty_values: null,
  };

  it("reads items with ranges and lists of qty_values", () => {
    const body = json([item, { ...item, id: "7", params: ["uid", "server"], qty_values: { min: 1, max: 100 }, available: false }, { ...item, id: "8", qty_values: [1, "5"], category_name: null }]);
    assert.deepEqual(parseProducts(body), {
      ok: true,
      items: [
        { id: "501", name: "PUBG Mobile 60 UC", price: "9.80", categoryName: "PUBG Mobile", available: true, params: ["uid"], productType: "package", qtyValues: null },
        { id: "7", name: "PUBG Mobile 60 UC", price: "9.80", categoryName: "PUBG Mobile", available: false, params: ["uid", "server"], productType: "package", qtyValues: { min: 1, max: 100 } },
        { id: "8", name: "PUBG Mobile 60 UC", price: "9.80", categoryName: null, available: true, params: ["uid"], productType: "package", qtyValues: ["1", "5"] },
      ],
    });
  });

  it("fails loudly on sloppy JSON with the first bytes", () => {
    const bad = parseProducts('[{"id": 1, "name": "x",]');
    assert.ok(!bad.ok && bad.error.startsWith("not JSON: ") && bad.error.includes('[{\\"id\\": 1'));
    for (const [body, what] of [
      [json([{ ...item, price: "9,80" }]), "bad price"],
      [json([{ ...item, available: "yes" }]), "available"],
      [json([{ ...item, params: "uid" }]), "params"],
      [json([{ ...item, name: "" }]), "missing name"],
      [json([{ ...item, qty_values: { min: 5 } }]), "qty_values"],
      [json({ message: "Unauthenticated" }), "provider error"],
      [json({ items: [] }), "not a JSON array"],
      ["<html>", "HTML body"],
    ] as const) {
      const r = parseProducts(body);
      assert.ok(!r.ok && r.error.includes(what), `${body} → ${json(r)}`);
    }
    assert.equal(parseProducts(json([item]), 500).ok, false);
  });
});
