import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { loadDispatcherConfig } from "./config.js";

const dir = mkdtempSync(join(tmpdir(), "pinflow-dispatcher-config-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const base = {
  DATABASE_URL: "postgres://x@127.0.0.1/db",
  HTTP_PORT: "8082",
  CATALOG_FILE: "/etc/pinflow/catalog.json",
  ZNET_BASE_URL: "http://bayi.example.com",
  ZNET_CODE: "5551112233",
};

describe("dispatcher config", () => {
  it("reads the password from ZNET_PASSWORD_FILE, trimmed, with defaults for the rest", () => {
    const file = join(dir, "pw");
    writeFileSync(file, "  s3cr3t-Ş \n");
    const c = loadDispatcherConfig({ ...base, ZNET_PASSWORD_FILE: file });
    assert.deepEqual(c.znet, { baseUrl: "http://bayi.example.com", code: "5551112233", password: "s3cr3t-Ş", timeoutMs: 15_000 });
    assert.equal(c.reconcileMaxTries, 8);
    assert.equal(c.ackWaitMs, 30_000);
    assert.equal(c.natsUrl, "nats://127.0.0.1:4222");
  });

  it("takes ZNET_PASSWORD, ZNET_TIMEOUT_MS and RECONCILE_MAX_TRIES from the environment", () => {
    const c = loadDispatcherConfig({ ...base, ZNET_PASSWORD: "pw", ZNET_TIMEOUT_MS: "5000", RECONCILE_MAX_TRIES: "3" });
    assert.equal(c.znet?.password, "pw");
    assert.equal(c.znet?.timeoutMs, 5000);
    assert.equal(c.reconcileMaxTries, 3);
  });

  it("refuses both or neither password setting, never echoing the secret", () => {
    assert.throws(
      () => loadDispatcherConfig({ ...base, ZNET_PASSWORD: "very-secret", ZNET_PASSWORD_FILE: "/x" }),
      (e: Error) => /ZNET_PASSWORD/.test(e.message) && !e.message.includes("very-secret"),
    );
    assert.throws(() => loadDispatcherConfig(base), /exactly one of ZNET_PASSWORD and ZNET_PASSWORD_FILE/);
  });

  it("refuses an unreadable or empty password file, a bad URL, and a config without any provider", () => {
    assert.throws(() => loadDispatcherConfig({ ...base, ZNET_PASSWORD_FILE: join(dir, "missing") }), /ZNET_PASSWORD_FILE: cannot read/);
    const empty = join(dir, "empty");
    writeFileSync(empty, "\n");
    assert.throws(() => loadDispatcherConfig({ ...base, ZNET_PASSWORD_FILE: empty }), /is empty/);
    assert.throws(() => loadDispatcherConfig({ ...base, ZNET_PASSWORD: "pw", ZNET_BASE_URL: "ftp://x" }), /ZNET_BASE_URL/);
    const { ZNET_BASE_URL: _u, ZNET_CODE: _c, ...none } = base;
    assert.throws(() => loadDispatcherConfig(none), /no provider configured/);
    assert.throws(() => loadDispatcherConfig({ ...base, ZNET_PASSWORD: "pw", CATALOG_FILE: "" }), /CATALOG_FILE/);
  });
});
