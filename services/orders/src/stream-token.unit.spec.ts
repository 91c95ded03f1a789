import assert from "node:assert/strict";
import { test } from "node:test";
import { signStreamToken, verifyStreamToken } from "./stream-token.js";

const SECRET = "a-test-secret-of-enough-length-0123456789";
const grant = { orderId: "ord_1", tenantId: "acme", keyId: "0123456789ab", expiresAt: 1_000 };

test("a token verifies before its expiry and gives back its grant", () => {
  const token = signStreamToken(grant, SECRET);
  assert.deepEqual(verifyStreamToken(token, SECRET, 999), { ok: true, grant });
});

test("a token is refused at and after its expiry", () => {
  const token = signStreamToken(grant, SECRET);
  assert.deepEqual(verifyStreamToken(token, SECRET, 1_000), { ok: false, reason: "expired" });
});

test("a token signed with another secret is refused", () => {
  const token = signStreamToken(grant, "another-secret");
  assert.deepEqual(verifyStreamToken(token, SECRET, 0), { ok: false, reason: "bad_signature" });
});

test("a token whose payload was changed (another order) is refused", () => {
  const token = signStreamToken(grant, SECRET);
  const [prefix, , signature] = token.split(".");
  const forged = Buffer.from(JSON.stringify({ o: "ord_2", t: "acme", k: grant.keyId, e: grant.expiresAt })).toString("base64url");
  assert.deepEqual(verifyStreamToken(`${prefix}.${forged}.${signature}`, SECRET, 0), { ok: false, reason: "bad_signature" });
});

test("text that is not a token is refused as malformed", () => {
  for (const text of ["", "st1", "st1.a", "pf_abc_def", "st2.a.b", `st1.${"x".repeat(2000)}.y`]) {
    assert.equal(verifyStreamToken(text, SECRET, 0).ok, false, text.slice(0, 20));
  }
});
