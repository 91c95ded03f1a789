import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { hashToken, newApiKey, parseAuthorization } from "./api-key.js";
import { Authenticator } from "./authenticator.js";
import type { KeyLookup, StoredKey } from "./key-store.js";

function store(keys: StoredKey[]): KeyLookup {
  return { find: async (keyId) => keys.find((k) => k.keyId === keyId) ?? null };
}

describe("API keys", () => {
  test("a new key is pf_<12 hex>_<43 base64url>, parses back to its id, and only its hash is kept", () => {
    const key = newApiKey();
    assert.match(key.token, /^pf_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/);
    assert.deepEqual(parseAuthorization(`Bearer ${key.token}`), { kind: "key", keyId: key.keyId, token: key.token });
    assert.equal(key.secretHash, hashToken(key.token));
    assert.ok(!key.secretHash.includes(key.token));
    assert.notEqual(newApiKey().keyId, key.keyId);
  });

  test("missing and malformed headers are told apart without echoing them", () => {
    assert.deepEqual(parseAuthorization(undefined), { kind: "missing" });
    assert.deepEqual(parseAuthorization(""), { kind: "missing" });
    for (const h of ["Basic abc", "Bearer pf_short_x", "Bearer", "pf_0123456789ab_" + "a".repeat(43), `Bearer pf_0123456789AB_${"a".repeat(43)}`]) {
      assert.deepEqual(parseAuthorization(h), { kind: "malformed" }, h);
    }
  });
});

describe("Authenticator", () => {
  const good = newApiKey();
  const revoked = newApiKey();
  const keys = store([
    { keyId: good.keyId, role: "customer", tenantId: "t1", secretHash: good.secretHash, active: true },
    { keyId: revoked.keyId, role: "operator", tenantId: null, secretHash: revoked.secretHash, active: false },
  ]);

  test("a valid key gives its principal; unknown, wrong, revoked keys are refused with their reason", async () => {
    const auth = new Authenticator(keys);
    assert.deepEqual(await auth.authenticate(`Bearer ${good.token}`, "c"), { ok: true, principal: { keyId: good.keyId, role: "customer", tenantId: "t1" } });
    const wrong = `pf_${good.keyId}_${"A".repeat(43)}`;
    assert.equal((await auth.authenticate(`Bearer ${wrong}`, "c")).ok, false);
    assert.deepEqual(await auth.authenticate(`Bearer ${wrong}`, "c"), { ok: false, reason: "wrong_secret", keyId: good.keyId, retryAfterMs: 0 });
    assert.deepEqual(await auth.authenticate(`Bearer ${revoked.token}`, "c"), { ok: false, reason: "revoked", keyId: revoked.keyId, retryAfterMs: 0 });
    assert.deepEqual(await auth.authenticate(`Bearer ${newApiKey().token}`, "c").then((o) => (o.ok ? null : o.reason)), "unknown_key");
    assert.deepEqual(await auth.authenticate(undefined, "c").then((o) => (o.ok ? null : o.reason)), "missing");
  });

  test("a client is throttled after maxFailures in the window, other clients are not, and the window ends", async () => {
    let now = 1_000_000;
    const auth = new Authenticator(keys, { maxFailures: 3, windowMs: 60_000, now: () => now });
    for (let i = 0; i < 3; i++) assert.equal((await auth.authenticate("Bearer nope", "attacker")).ok, false);
    const throttled = await auth.authenticate(`Bearer ${good.token}`, "attacker");
    assert.deepEqual(throttled, { ok: false, reason: "throttled", keyId: null, retryAfterMs: 60_000 });
    assert.equal((await auth.authenticate(`Bearer ${good.token}`, "someone-else")).ok, true);
    now += 60_000;
    assert.equal((await auth.authenticate(`Bearer ${good.token}`, "attacker")).ok, true);
  });

  test("wrong secrets for one key id from many clients are throttled per key id; its right secret still passes", async () => {
    const auth = new Authenticator(keys, { maxFailures: 3, windowMs: 60_000, now: () => 0 });
    const wrong = `Bearer pf_${good.keyId}_${"B".repeat(43)}`;
    for (let i = 0; i < 3; i++) assert.equal((await auth.authenticate(wrong, `c${i}`)).ok, false);
    const outcome = await auth.authenticate(wrong, "c9");
    assert.equal(outcome.ok ? null : outcome.reason, "throttled");
    assert.equal((await auth.authenticate(`Bearer ${good.token}`, "c10")).ok, true);
  });
});
