import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { generateWebhookSecret, signWebhook, verifyWebhookSignature } from "./webhook-signature.js";

const secret = generateWebhookSecret();
const body = JSON.stringify({ id: "e1", orderId: "o1", status: "completed", version: 7 });
const now = 1_800_000_000;

describe("webhook signatures (HMAC-SHA256 over timestamp and body)", () => {
  test("a signed body verifies with the same secret", () => {
    assert.deepEqual(verifyWebhookSignature({ body, header: signWebhook(secret, body, now), secret, now }), { ok: true, timestamp: now });
    assert.deepEqual(verifyWebhookSignature({ body: Buffer.from(body), header: signWebhook(secret, body, now), secret, now: now + 10 }), { ok: true, timestamp: now });
  });

  test("the header is t=<unix>,v1=<hex HMAC-SHA256 of '<t>.<body>'> (what the README tells receivers)", () => {
    const expected = createHmac("sha256", secret).update(`${now}.${body}`).digest("hex");
    assert.equal(signWebhook(secret, body, now), `t=${now},v1=${expected}`);
  });

  test("a forged signature, another secret, a changed body or a changed timestamp is refused", () => {
    const header = signWebhook(secret, body, now);
    assert.deepEqual(verifyWebhookSignature({ body, header: `t=${now},v1=${"0".repeat(64)}`, secret, now }), { ok: false, reason: "bad_signature" });
    assert.deepEqual(verifyWebhookSignature({ body, header: signWebhook(generateWebhookSecret(), body, now), secret, now }), { ok: false, reason: "bad_signature" });
    assert.deepEqual(verifyWebhookSignature({ body: body.replace("completed", "failed"), header, secret, now }), { ok: false, reason: "bad_signature" });
    assert.deepEqual(verifyWebhookSignature({ body, header: header.replace(`t=${now}`, `t=${now + 1}`), secret, now }), { ok: false, reason: "bad_signature" });
  });

  test("an old (replayed) signature is refused; the tolerance is configurable", () => {
    const header = signWebhook(secret, body, now - 301);
    assert.deepEqual(verifyWebhookSignature({ body, header, secret, now }), { ok: false, reason: "too_old" });
    assert.equal(verifyWebhookSignature({ body, header, secret, now, toleranceSeconds: 600 }).ok, true);
  });

  test("a missing or malformed header is refused", () => {
    for (const header of [undefined, null, "", "v1=abc", `t=${now}`, `t=x,v1=${"a".repeat(64)}`, `t=${now},v1=zz`]) {
      assert.deepEqual(verifyWebhookSignature({ body, header, secret, now }), { ok: false, reason: "malformed" }, String(header));
    }
  });
});
