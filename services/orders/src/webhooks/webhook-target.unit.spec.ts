import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { isInternalAddress, TargetPolicy } from "./webhook-target.js";

describe("webhook targets (SSRF care)", () => {
  const policy = new TargetPolicy();

  test("public http and https URLs are accepted", () => {
    for (const url of ["https://hooks.example.com/pinflow", "http://203.0.113.10:8080/in?x=1", "https://[2001:db8::1]/h"]) assert.equal(policy.refusal(url), null, url);
  });

  test("other schemes, credentials, fragments and non-URLs are refused as invalid", () => {
    for (const url of ["ftp://example.com/x", "file:///etc/passwd", "gopher://example.com", "https://user:pw@example.com/", "https://example.com/#x", "example.com/hook"]) {
      assert.equal(policy.refusal(url)?.code, "validation_failed", url);
    }
  });

  test("internal targets are refused: loopback, private, link-local (metadata), IPv6 local, mapped IPv4, local names", () => {
    for (const url of [
      "http://127.0.0.1/x", "http://127.1.2.3:9000/", "http://10.1.2.3/", "http://172.20.0.1/", "http://192.168.1.1/", "http://169.254.169.254/latest/meta-data",
      "http://0.0.0.0/", "http://[::1]/", "http://[fd00::1]/", "http://[fe80::1]/", "http://[::ffff:10.0.0.1]/", "http://localhost:3000/", "http://api.localhost/",
      "http://db.internal/", "http://printer.local/", "http://postgres/",
    ]) {
      assert.equal(policy.refusal(url)?.code, "target_not_allowed", url);
    }
  });

  test("a configured host is allowed (tests allow 127.0.0.1), and only that one", () => {
    const lenient = new TargetPolicy(["127.0.0.1"]);
    assert.equal(lenient.refusal("http://127.0.0.1:4000/hook"), null);
    assert.equal(lenient.addressAllowed("127.0.0.1"), true);
    assert.equal(lenient.addressAllowed("::ffff:127.0.0.1"), true);
    assert.equal(lenient.addressAllowed("10.0.0.1"), false);
    assert.equal(lenient.refusal("http://10.0.0.1/")?.code, "target_not_allowed");
    assert.equal(policy.addressAllowed("127.0.0.1"), false);
  });

  test("resolved addresses are checked the same way", () => {
    assert.equal(isInternalAddress("93.184.216.34"), false);
    assert.equal(isInternalAddress("2606:2800:220:1::1"), false);
    for (const a of ["127.0.0.1", "10.0.0.8", "::1", "::ffff:192.168.0.1", "100.64.1.1"]) assert.equal(isInternalAddress(a), true, a);
  });
});
