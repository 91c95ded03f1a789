import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseBalanceReply, parseCheckReply, parsePlaceReply, parseProductList, refusalReason } from "./parse.js";

describe("parsePlaceReply", () => {
  it("accepts OK|cost|balance", () => {
    assert.deepEqual(parsePlaceReply("OK|10.12|980.88", 200), {
      kind: "accepted",
      cost: "10.12",
      balance: "980.88",
      providerOrderId: null,
      pin: null,
    });
  });

  it("tolerates a BOM and a trailing newline", () => {
    assert.equal(parsePlaceReply("\uFEFFOK|10.12|980.88\r\n", 200).kind, "accepted");
  });

  it("refuses 3|Kupur Bilgisi Bulunamadı as product_unavailable", () => {
    assert.deepEqual(parsePlaceReply("3|Kupur Bilgisi Bulunamadı", 200), {
      kind: "refused",
      providerCode: "3",
      message: "Kupur Bilgisi Bulunamadı",
      reasonCode: "product_unavailable",
    });
  });

  it("maps refusal codes and Turkish texts to reason codes", () => {
    const reason = (body: string): string => {
      const r = parsePlaceReply(body, 200);
      assert.equal(r.kind, "refused");
      return r.kind === "refused" ? r.reasonCode : "";
    };
    assert.equal(reason("4|Daha Önce Gönderilmiş (166189)"), "duplicate_reference");
    assert.equal(reason("8|Yetersiz bakiye"), "insufficient_balance");
    assert.equal(reason("8|BAKİYE YETERSİZ"), "insufficient_balance");
    assert.equal(reason("8|Bağlantı hatası"), "provider_error");
    assert.equal(reason("3|Bakiyeniz yetersiz"), "insufficient_balance");
    assert.equal(reason("3|Ürün stokta yok"), "product_unavailable");
    assert.equal(reason("3|Oyuncu bulunamadı"), "invalid_player");
    assert.equal(reason("3|Invalid player id"), "invalid_player");
    assert.equal(reason("3|Açıklama"), "provider_error");
    assert.equal(reason("3|"), "provider_error");
  });

  it("keeps a refusal text containing | whole", () => {
    const r = parsePlaceReply("3|Hata | tekrar deneyin", 200);
    assert.deepEqual(r.kind === "refused" ? r.message : null, "Hata | tekrar deneyin");
  });

  it("treats empty, whitespace and HTML bodies as ambiguous", () => {
    for (const body of ["", "   \r\n", "<html><body>Giriş</body></html>", "  <!DOCTYPE html><p>x</p>", "Hata oluştu <HTML>"]) {
      assert.equal(parsePlaceReply(body, 200).kind, "ambiguous", JSON.stringify(body));
    }
  });

  it("treats HTTP 500 (and any non-2xx) as ambiguous even with an OK body", () => {
    const r = parsePlaceReply("OK|10.12|980.88", 500);
    assert.equal(r.kind, "ambiguous");
    assert.match(r.kind === "ambiguous" ? r.cause : "", /HTTP 500/);
    assert.equal(parsePlaceReply("3|Kupur Bilgisi Bulunamadı", 404).kind, "ambiguous");
    assert.equal(parsePlaceReply("OK|1|2", 302).kind, "ambiguous");
  });

  it("treats garbled acceptances and unknown texts as ambiguous", () => {
    for (const body of ["OK|", "OK|abc|1.00", "OK|10.12|980.88<br />", "OK|1|2|3", "ok|10.12|1", "Warning: x\nOK|10.12|980.88", "3", "İşlem başarılı"]) {
      assert.equal(parsePlaceReply(body, 200).kind, "ambiguous", JSON.stringify(body));
    }
  });

  it("accepts an acceptance without balance (balance null) and a negative balance", () => {
    const a = parsePlaceReply("OK|10.12", 200);
    assert.equal(a.kind === "accepted" ? a.balance : "x", null);
    const b = parsePlaceReply("OK|10.12|-5.00", 200);
    assert.equal(b.kind === "accepted" ? b.balance : "x", "-5.00");
  });

  it("masks sifre= in causes built from the body", () => {
    const r = parsePlaceReply("<html>GET /servis/pin_ekle.php?kod=1&sifre=s3cret</html>", 200);
    assert.equal(r.kind, "ambiguous");
    assert.ok(r.kind === "ambiguous" && !r.cause.includes("s3cret") && r.cause.includes("sifre=***"));
  });
});

describe("parseCheckReply", () => {
  it("OK|1| - |İşlem bekleniyor is pending without PIN", () => {
    assert.deepEqual(parseCheckReply("OK|1| - |İşlem bekleniyor", 200), { kind: "pending", note: "İşlem bekleniyor" });
  });

  it("OK|2|AB12-CD34|… is done with the PIN", () => {
    assert.deepEqual(parseCheckReply("OK|2|AB12-CD34|İşlem tamamlandı", 200), {
      kind: "done",
      pin: "AB12-CD34",
      note: "İşlem tamamlandı",
    });
  });

  it("keeps a PIN with spaces and several codes exactly, only trimmed", () => {
    const r = parseCheckReply("OK|2|  AB12 CD34  Seri: 99-01 / X Y  |İşlem tamamlandı", 200);
    assert.deepEqual(r, { kind: "done", pin: "AB12 CD34  Seri: 99-01 / X Y", note: "İşlem tamamlandı" });
  });

  it("joins a description containing | back", () => {
    assert.deepEqual(parseCheckReply("OK|2|PIN1|Tamam | teşekkürler", 200), { kind: "done", pin: "PIN1", note: "Tamam | teşekkürler" });
    assert.deepEqual(parseCheckReply("OK|1| ", 200), { kind: "pending", note: null });
  });

  it("state 2 with a blank or - PIN is unknown", () => {
    assert.equal(parseCheckReply("OK|2| - |İşlem tamamlandı", 200).kind, "unknown");
    assert.equal(parseCheckReply("OK|2| |İşlem tamamlandı", 200).kind, "unknown");
    assert.equal(parseCheckReply("OK|2", 200).kind, "unknown");
  });

  it("OK|3| |… is cancelled", () => {
    assert.deepEqual(parseCheckReply("OK|3| |İşlem iptal edildi", 200), { kind: "cancelled", note: "İşlem iptal edildi" });
  });

  it("3|text that plainly says the reference is not found is not_found (Turkish or English, any case)", () => {
    for (const message of [
      "Sipariş bulunamadı",
      "SİPARİŞ BULUNAMADI",
      "Kayıt bulunamadı",
      "İşlem bulunamadı.",
      "Kayıt yok",
      "Bu referansa ait işlem bulunmamaktadır",
      "Order not found",
      "Record NOT FOUND",
    ]) {
      assert.deepEqual(parseCheckReply(`3|${message}`, 200), { kind: "not_found", message }, message);
    }
  });

  it("a generic 3|… error on pin_kontrol is unknown, never not_found (re-placement only on proof)", () => {
    for (const message of [
      "Açıklama",
      "",
      "Sistem hatası, lütfen daha sonra tekrar deneyiniz",
      "Yetkisiz erişim",
      "Hatalı istek",
      "Veritabanı bağlantı hatası",
      // "not found" about something other than our order says nothing about the order.
      "Kupur Bilgisi Bulunamadı",
      "Bayi bulunamadı",
      "Kullanıcı bulunamadı",
      "Product not found",
    ]) {
      const r = parseCheckReply(`3|${message}`, 200);
      assert.equal(r.kind, "unknown", message);
      assert.ok(r.kind === "unknown" && r.cause.startsWith("provider error 3: "), message);
    }
    assert.equal(parseCheckReply("8|Bağlantı hatası", 200).kind, "unknown");
    assert.equal(parseCheckReply("4|Sipariş bulunamadı", 200).kind, "unknown", "only code 3 is the documented not-found reply");
  });

  it("empty, HTML, 5xx, unknown states and garbage are unknown", () => {
    for (const [body, status] of [
      ["", 200],
      ["<html><body>Bakım</body></html>", 200],
      ["OK|2|AB12-CD34|İşlem tamamlandı", 500],
      ["OK|4| |Bilinmeyen", 200],
      ["OK|", 200],
      ["Fatal error: Uncaught PDOException", 200],
    ] as const) {
      assert.equal(parseCheckReply(body, status).kind, "unknown", JSON.stringify(body));
    }
  });
});

describe("parseBalanceReply", () => {
  it("reads OK|12755.23", () => {
    assert.deepEqual(parseBalanceReply("OK|12755.23", 200), { kind: "ok", balance: "12755.23" });
  });

  it("an empty body is a failure, never balance 0", () => {
    const r = parseBalanceReply("", 200);
    assert.equal(r.kind, "failed");
    assert.match(r.kind === "failed" ? r.cause : "", /empty body/);
  });

  it("HTML, 500 and garbage fail", () => {
    assert.equal(parseBalanceReply("<html></html>", 200).kind, "failed");
    assert.equal(parseBalanceReply("OK|1.00", 500).kind, "failed");
    assert.equal(parseBalanceReply("OK|abc", 200).kind, "failed");
    assert.equal(parseBalanceReply("3|Yetkisiz", 200).kind, "failed");
  });
});

describe("parseProductList", () => {
  const item = {
    id: 1,
    adi: "PUBG Mobile 60 UC",
    aciklama: "Global",
    oyun_id: 11,
    oyun_adi: "PUBG Mobile",
    fiyat: "10.12",
    kupur: "60",
    oyun_bilgi_id: 101,
  };

  it("reads the product list", () => {
    const r = parseProductList(JSON.stringify({ success: true, result: [item], error: null }));
    assert.deepEqual(r, {
      ok: true,
      items: [
        {
          id: "1",
          name: "PUBG Mobile 60 UC",
          description: "Global",
          gameId: "11",
          gameName: "PUBG Mobile",
          price: "10.12",
          kupur: "60",
          oyunBilgiId: "101",
        },
      ],
    });
  });

  it("fails loudly on sloppy JSON with the first bytes of the body", () => {
    const sloppy = '{"success": true "result": [], "error": null}';
    const r = parseProductList(sloppy);
    assert.equal(r.ok, false);
    assert.ok(!r.ok && r.error.includes('{\\"success\\": true \\"result\\"'), !r.ok ? r.error : "");
  });

  it("fails on success:false, missing fields, empty and HTML bodies", () => {
    const e1 = parseProductList(JSON.stringify({ success: false, result: null, error: "Yetkisiz erişim" }));
    assert.ok(!e1.ok && e1.error.includes("Yetkisiz erişim"));
    const e2 = parseProductList(JSON.stringify({ success: true, result: [{ ...item, fiyat: "on lira" }] }));
    assert.ok(!e2.ok && e2.error.includes("item 0"));
    assert.equal(parseProductList("").ok, false);
    assert.equal(parseProductList("<html></html>").ok, false);
    assert.equal(parseProductList("[]").ok, false);
    assert.equal(parseProductList(JSON.stringify({ success: true, result: [item] }), 500).ok, false);
  });
});

describe("refusalReason", () => {
  it("folds Turkish letters", () => {
    assert.equal(refusalReason("3", "KÜPÜR BULUNAMADI"), "product_unavailable");
    assert.equal(refusalReason("3", "Şifre hatalı"), "auth_failed");
  });
});

it("an unknown state never quotes the PIN field in its cause", () => {
  const result = parseCheckReply("OK|9|SECRET-PIN-1234|Garip durum", 200);
  assert.equal(result.kind, "unknown");
  assert.ok(result.kind === "unknown" && !result.cause.includes("SECRET-PIN-1234"));
  assert.ok(result.kind === "unknown" && result.cause.includes("Garip durum"));
});
