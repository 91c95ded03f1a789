import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { maskPins, maskProviderText, maskSecrets, redactUrl, scrubSecret } from "./redact.js";

describe("redact", () => {
  it("masks sifre= in URLs and texts", () => {
    assert.equal(
      redactUrl(new URL("http://bayi.x.com/servis/pin_ekle.php?kod=555&sifre=p%C3%A4ss&oyun=1")),
      "http://bayi.x.com/servis/pin_ekle.php?kod=555&sifre=***&oyun=1",
    );
    assert.equal(maskSecrets("GET /servis/a.php?sifre=abc"), "GET /servis/a.php?sifre=***");
    assert.equal(maskSecrets("SIFRE=abc&x=1 password=zz"), "SIFRE=***&x=1 password=***");
    assert.equal(maskSecrets("no secrets here"), "no secrets here");
  });

  it("scrubs a known secret in plain and URL-encoded form", () => {
    assert.equal(scrubSecret("wrong pw s3c ret! / s3c%20ret!", "s3c ret!"), "wrong pw *** / ***");
    assert.equal(scrubSecret("x", ""), "x");
  });

  it("maskPins masks PIN values of JSON fields (plain, quoted, cut off, numbers, lists) and of znet status lines", () => {
    assert.equal(maskPins('{"pin":"AB-12","code":"CD34","price":"abc"}'), '{"pin":"***","code":"***","price":"abc"}');
    assert.equal(maskPins(JSON.stringify('{"pin":"AB-12","price":"abc"}')), JSON.stringify('{"pin":"***","price":"abc"}'));
    assert.equal(maskPins('{"Pin" : "A\\"B", "x":1}'), '{"Pin" : "***", "x":1}');
    assert.equal(maskPins('{"pin":"AB-1'), '{"pin":"***"');
    assert.equal(maskPins('{"pin":123456,"pins":["A","B"],"code":null}'), '{"pin":***,"pins":[***],"code":null}');
    assert.equal(maskPins("OK|2|AB12-CD34|İşlem tamamlandı"), "OK|2|***|İşlem tamamlandı");
    assert.equal(maskPins("<p>ok|9|AB12</p>"), "<p>ok|9|***</p>");
    assert.equal(maskPins("3|Sipariş bulunamadı"), "3|Sipariş bulunamadı");
    assert.equal(maskPins('{"status":"pending","note":"waiting"}'), '{"status":"pending","note":"waiting"}');
  });

  it("maskProviderText masks secrets and PINs together", () => {
    assert.equal(maskProviderText('GET /x?sifre=abc {"pin":"P-1"}'), 'GET /x?sifre=*** {"pin":"***"}');
    assert.equal(scrubSecret('tok {"code":"C-9"}', "tok"), '*** {"code":"***"}');
  });
});
