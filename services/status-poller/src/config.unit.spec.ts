import { test } from "node:test";
import assert from "node:assert/strict";
import { ConfigError, loadConfig } from "@pinflow/service-kit";
import { checkTimeoutMs, PollerConfig, providerAccounts, providerLimits } from "./config.js";

const BASE = { PINFLOW_ENV: "test", DATABASE_URL: "postgres://x/y", AUTH_DATABASE_URL: "postgres://x/orders", HTTP_PORT: "0", PIN_KEYS: "k1:AAAA" };
const ZNET = { ZNET_BASE_URL: "http://znet.test", ZNET_CODE: "5550001111", ZNET_PASSWORD: "pw" };
const XSTOR = { XSTOR_BASE_URL: "http://xstor.test", XSTOR_TOKEN: "tok" };

test("given both accounts: both providers are checked, with the poller's share of each account's limits", () => {
  const c = loadConfig(PollerConfig, { ...BASE, ...ZNET, ...XSTOR });
  const accounts = providerAccounts(c);
  assert.deepEqual(accounts.xstor, { baseUrl: "http://xstor.test", token: "tok", timeoutMs: 10_000 });
  assert.equal(accounts.znet?.password, "pw");
  const limits = providerLimits(c);
  assert.deepEqual(limits.znet, { ratePerSec: 2, burst: 2, concurrency: 4, slotLeaseMs: 60_000, circuit: { threshold: 5, cooldownMs: 10_000, maxCooldownMs: 300_000 } });
  assert.deepEqual(limits.xstor, { ratePerSec: 5, burst: 5, concurrency: 8, slotLeaseMs: 60_000, circuit: { threshold: 5, cooldownMs: 10_000, maxCooldownMs: 300_000 } });
  assert.equal(c.CONSUMER_ACK_WAIT_MS, 30_000);
  assert.equal(c.PROVIDER_RETRY_AFTER_MS, 10_000);
  assert.equal(checkTimeoutMs(c), 10_000);
});

test("given x-stor only: no znet checker and no znet gate row", () => {
  const c = loadConfig(PollerConfig, { ...BASE, ...XSTOR, XSTOR_RATE_PER_SEC: "5", XSTOR_BURST: "10", BREAKER_THRESHOLD: "3", CONSUMER_ACK_WAIT_MS: "3000" });
  assert.equal(providerAccounts(c).znet, null);
  const limits = providerLimits(c);
  assert.equal(limits.znet, undefined);
  assert.equal(limits.xstor?.ratePerSec, 5);
  assert.equal(limits.xstor?.burst, 10);
  assert.equal(limits.xstor?.circuit.threshold, 3);
  assert.equal(c.CONSUMER_ACK_WAIT_MS, 3000);
});

test("no provider, a half-configured one, or a lease too short for the check timeout: refused at start", () => {
  assert.throws(() => loadConfig(PollerConfig, BASE), ConfigError);
  assert.throws(() => loadConfig(PollerConfig, { ...BASE, XSTOR_BASE_URL: "http://xstor.test" }), /XSTOR_TOKEN/);
  assert.throws(() => loadConfig(PollerConfig, { ...BASE, ZNET_BASE_URL: "http://znet.test", ZNET_PASSWORD: "pw" }), /ZNET_CODE/);
  assert.throws(() => loadConfig(PollerConfig, { ...BASE, ...XSTOR, XSTOR_TIMEOUT_MS: "30000", LEASE_MS: "50000" }), /LEASE_MS/);
  assert.throws(() => loadConfig(PollerConfig, { ...BASE, ...ZNET, ZNET_TIMEOUT_MS: "2000", LEASE_MS: "5000" }), /GATE_MAX_WAIT_MS/);
  assert.doesNotThrow(() => loadConfig(PollerConfig, { ...BASE, ...ZNET, ZNET_TIMEOUT_MS: "2000", LEASE_MS: "5000", GATE_MAX_WAIT_MS: "500" }));
});
