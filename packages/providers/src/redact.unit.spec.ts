import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { maskSecrets, redactUrl, scrubSecret } from "./redact.js";

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
});
