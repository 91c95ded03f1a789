import { test } from "node:test";
import assert from "node:assert/strict";
import { generatePinKeyring, PinCipher, PinKeyError } from "./pin-cipher.js";
import { maskUrlSecrets } from "./redact.js";

test("a sealed PIN opens to the same text and does not contain it", () => {
  const cipher = new PinCipher(generatePinKeyring());
  const pin = "AB12-CD34 EF56 serial:9981";
  const sealed = cipher.seal(pin);
  assert.equal(cipher.open(sealed), pin);
  assert.ok(!JSON.stringify(sealed).includes("AB12"));
});

test("keys rotate: an old key still opens, the first key seals", () => {
  const oldRing = generatePinKeyring("old");
  const sealedOld = new PinCipher(oldRing).seal("1111");
  const rotated = new PinCipher(`${generatePinKeyring("new")},${oldRing}`);
  assert.equal(rotated.open(sealedOld), "1111");
  assert.equal(rotated.seal("2222").keyId, "new");
});

test("a tampered ciphertext is rejected", () => {
  const cipher = new PinCipher(generatePinKeyring());
  const sealed = cipher.seal("PIN-1");
  const flipped = Buffer.from(sealed.ciphertext, "base64");
  flipped[0] = (flipped[0] ?? 0) ^ 1;
  assert.throws(() => cipher.open({ ...sealed, ciphertext: flipped.toString("base64") }));
});

test("bad keyrings fail loudly", () => {
  assert.throws(() => new PinCipher(""), PinKeyError);
  assert.throws(() => new PinCipher("k1:c2hvcnQ="), PinKeyError);
});

test("query-string secrets are masked", () => {
  assert.equal(
    maskUrlSecrets("http://x/servis/pin_ekle.php?kod=555&sifre=s3cr%26t&referans=1"),
    "http://x/servis/pin_ekle.php?kod=555&sifre=***&referans=1",
  );
});
