import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { loadDispatcherConfig } from "./config.js";

const dir = mkdtempSync(join(tmpdir(), "pinflow-dispatcher-config-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const base = {
  PINFLOW_ENV: "test",
  DATABASE_URL: "postgres://x@127.0.0.1/db",
  AUTH_DATABASE_URL: "postgres://x@127.0.0.1/orders",
  HTTP_PORT: "8082",
  CATALOG_FILE: "/etc/pinflow/catalog.json",
  PIN_KEYS: "k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
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
    assert.equal(c.dispatchDeadlineMs, 30 * 60_000);
    assert.equal(c.ackWaitMs, 30_000);
    assert.equal(c.natsUrl, "nats://127.0.0.1:4222");
  });

  it("takes ZNET_PASSWORD, ZNET_TIMEOUT_MS, RECONCILE_MAX_TRIES and DISPATCH_DEADLINE_MS from the environment", () => {
    const c = loadDispatcherConfig({ ...base, ZNET_PASSWORD: "pw", ZNET_TIMEOUT_MS: "5000", RECONCILE_MAX_TRIES: "3", DISPATCH_DEADLINE_MS: "600000" });
    assert.equal(c.dispatchDeadlineMs, 600_000);
    assert.equal(c.znet?.password, "pw");
    assert.equal(c.znet?.timeoutMs, 5000);
    assert.equal(c.reconcileMaxTries, 3);
  });

  it("the price guard: known prices only (imported < 7 days ago) by default; unknown prices allowed per provider by the operator", () => {
    const strict = loadDispatcherConfig({ ...base, ZNET_PASSWORD: "pw" });
    assert.deepEqual(strict.priceGuard, { maxAgeMs: 7 * 24 * 60 * 60 * 1000, unknownPriceAllowed: [] });
    const allowed = loadDispatcherConfig({ ...base, ZNET_PASSWORD: "pw", ZNET_ALLOW_UNKNOWN_PRICE: "true", XSTOR_ALLOW_UNKNOWN_PRICE: "false", PRICE_MAX_AGE_MS: "3600000" });
    assert.deepEqual(allowed.priceGuard, { maxAgeMs: 3_600_000, unknownPriceAllowed: ["znet"] });
    assert.throws(() => loadDispatcherConfig({ ...base, ZNET_PASSWORD: "pw", ZNET_ALLOW_UNKNOWN_PRICE: "maybe" }), /ZNET_ALLOW_UNKNOWN_PRICE/);
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

  it("needs PIN_KEYS (a PIN in a place reply is sealed at once), never echoing it", () => {
    const { PIN_KEYS: keys, ...withoutKeys } = base;
    assert.throws(() => loadDispatcherConfig({ ...withoutKeys, ZNET_PASSWORD: "pw" }), /PIN_KEYS/);
    assert.equal(loadDispatcherConfig({ ...base, ZNET_PASSWORD: "pw" }).pinKeys, keys);
  });
});

describe("dispatcher config: x-stor and provider limits", () => {
  const xstorOnly = {
    PINFLOW_ENV: "test",
    DATABASE_URL: "postgres://x@127.0.0.1/db",
    AUTH_DATABASE_URL: "postgres://x@127.0.0.1/orders",
    HTTP_PORT: "8082",
    CATALOG_FILE: "/etc/pinflow/catalog.json",
    PIN_KEYS: "k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
    XSTOR_BASE_URL: "https://api.x-stor.example",
  };

  it("x-stor alone is a configuration; its token comes from XSTOR_TOKEN_FILE, trimmed; default timeout 30 s", () => {
    const file = join(dir, "xstor-token");
    writeFileSync(file, " tok/Gizli+1 \n");
    const c = loadDispatcherConfig({ ...xstorOnly, XSTOR_TOKEN_FILE: file });
    assert.equal(c.znet, null);
    assert.deepEqual(c.xstor, { baseUrl: "https://api.x-stor.example", token: "tok/Gizli+1", timeoutMs: 30_000 });
    assert.deepEqual(Object.keys(c.limits), ["xstor"]);
  });

  it("refuses both or neither token setting without echoing the token", () => {
    assert.throws(
      () => loadDispatcherConfig({ ...xstorOnly, XSTOR_TOKEN: "very-secret-token", XSTOR_TOKEN_FILE: "/x" }),
      (e: Error) => /exactly one of XSTOR_TOKEN and XSTOR_TOKEN_FILE/.test(e.message) && !e.message.includes("very-secret-token"),
    );
    assert.throws(() => loadDispatcherConfig(xstorOnly), /XSTOR_TOKEN/);
  });

  it("per-provider limits: defaults znet 2/s × 4, x-stor 4/s × 8 (the dispatcher's share of each account), breaker 5 failures / 10 s; all overridable", () => {
    const both = { ...base, ZNET_PASSWORD: "pw", XSTOR_BASE_URL: "http://127.0.0.1:1", XSTOR_TOKEN: "t" };
    const c = loadDispatcherConfig(both);
    assert.deepEqual(c.limits.znet, {
      ratePerSec: 2,
      burst: 2,
      concurrency: 4,
      circuit: { threshold: 5, cooldownMs: 10_000, maxCooldownMs: 300_000 },
      slotLeaseMs: 15_000 + 15_000,
    });
    assert.equal(c.limits.xstor?.ratePerSec, 4);
    assert.equal(c.limits.xstor?.concurrency, 8);
    assert.equal(c.limits.xstor?.slotLeaseMs, 30_000 + 15_000);
    const tuned = loadDispatcherConfig({
      ...both,
      ZNET_RATE_PER_SEC: "0.5",
      ZNET_CONCURRENCY: "2",
      XSTOR_RATE_PER_SEC: "20",
      XSTOR_BURST: "40",
      BREAKER_THRESHOLD: "3",
      BREAKER_COOLDOWN_MS: "2000",
      GATE_MAX_WAIT_MS: "500",
      BALANCE_REFRESH_MS: "0",
    });
    assert.equal(tuned.limits.znet?.ratePerSec, 0.5);
    assert.equal(tuned.limits.znet?.burst, 1, "a burst below one call would never grant");
    assert.equal(tuned.limits.znet?.concurrency, 2);
    assert.equal(tuned.limits.xstor?.burst, 40);
    assert.deepEqual(tuned.limits.xstor?.circuit, { threshold: 3, cooldownMs: 2000, maxCooldownMs: 300_000 });
    assert.equal(tuned.gateMaxWaitMs, 500);
    assert.equal(tuned.balanceRefreshMs, 0);
    assert.throws(() => loadDispatcherConfig({ ...both, ZNET_CONCURRENCY: "0" }), /ZNET_CONCURRENCY/);
    assert.throws(() => loadDispatcherConfig({ ...both, XSTOR_RATE_PER_SEC: "-1" }), /XSTOR_RATE_PER_SEC/);
  });
});
