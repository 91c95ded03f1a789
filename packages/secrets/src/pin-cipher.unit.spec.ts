import { test } from "node:test";
import assert from "node:assert/strict";
import { createCipheriv, randomBytes } from "node:crypto";
import { generatePinKeyring, PinCipher, PinKeyError, type SealedPin } from "./pin-cipher.js";
import { maskUrlSecrets } from "./redact.js";

const ORDER = { orderId: "ord-1", reference: "100000000000000001" };

/** A PIN sealed the way the cipher did before PINs were bound to their order (no associated data). */
function sealedBeforeBinding(keyring: string, pin: string): SealedPin {
  const [keyId, b64] = keyring.split(":") as [string, string];
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", Buffer.from(b64, "base64"), iv);
  const ciphertext = Buffer.concat([cipher.update(pin, "utf8"), cipher.final()]);
  return { alg: "A256GCM", keyId, iv: iv.toString("base64"), tag: cipher.getAuthTag().toString("base64"), ciphertext: ciphertext.toString("base64") };
}

test("a sealed PIN opens to the same text and does not contain it", () => {
  const cipher = new PinCipher(generatePinKeyring());
  const pin = "AB12-CD34 EF56 serial:9981";
  const sealed = cipher.seal(pin, ORDER);
  assert.equal(cipher.open(sealed, ORDER), pin);
  assert.equal(sealed.aad, 1, "the sealed form says it is bound");
  assert.ok(!JSON.stringify(sealed).includes("AB12"));
});

test("a PIN sealed for one order and reference opens for no other order or reference", () => {
  const cipher = new PinCipher(generatePinKeyring());
  const sealed = cipher.seal("PIN-OF-ORD-1", ORDER);
  assert.throws(() => cipher.open(sealed, { ...ORDER, orderId: "ord-2" }));
  assert.throws(() => cipher.open(sealed, { ...ORDER, reference: "100000000000000002" }));
  // The binding is not a plain concatenation: moving characters between the fields does not match.
  assert.throws(() => cipher.open(sealed, { orderId: "ord-11", reference: "00000000000000001" }));
  assert.equal(cipher.opens(sealed, ORDER), true);
  assert.equal(cipher.opens(sealed, { ...ORDER, orderId: "ord-2" }), false);
});

test("a bound PIN whose aad marker was stripped does not open (no downgrade to unbound)", () => {
  const cipher = new PinCipher(generatePinKeyring());
  const { aad: _marker, ...stripped } = cipher.seal("PIN-1", ORDER);
  assert.throws(() => cipher.open(stripped, ORDER));
});

test("a PIN sealed before PINs were bound (no aad) still opens, so old events replay", () => {
  const keyring = generatePinKeyring();
  const old = sealedBeforeBinding(keyring, "OLD-PIN-7");
  assert.equal(new PinCipher(keyring).open(old, ORDER), "OLD-PIN-7");
});

test("keys rotate: an old key still opens, the first key seals", () => {
  const oldRing = generatePinKeyring("old");
  const sealedOld = new PinCipher(oldRing).seal("1111", ORDER);
  const rotated = new PinCipher(`${generatePinKeyring("new")},${oldRing}`);
  assert.equal(rotated.open(sealedOld, ORDER), "1111");
  assert.equal(rotated.seal("2222", ORDER).keyId, "new");
});

test("a tampered ciphertext is rejected", () => {
  const cipher = new PinCipher(generatePinKeyring());
  const sealed = cipher.seal("PIN-1", ORDER);
  const flipped = Buffer.from(sealed.ciphertext, "base64");
  flipped[0] = (flipped[0] ?? 0) ^ 1;
  assert.throws(() => cipher.open({ ...sealed, ciphertext: flipped.toString("base64") }, ORDER));
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
