import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BaseConfig, loadConfig } from "./config.js";
import { natsAccess } from "./nats-settings.js";

const base = { PINFLOW_ENV: "test", DATABASE_URL: "postgres://x/y", HTTP_PORT: "0" };
const access = (env: Record<string, string>) => natsAccess(loadConfig(BaseConfig, { ...base, ...env }));

test("without NATS_USER the connection is anonymous and plain (a development server)", () => {
  assert.deepEqual(access({}), {});
});

test("a NATS user's password comes from NATS_PASSWORD or from the file NATS_PASSWORD_FILE (trimmed)", () => {
  assert.deepEqual(access({ NATS_USER: "test-orders", NATS_PASSWORD: "pw-1" }).credentials, { user: "test-orders", password: "pw-1" });
  const dir = mkdtempSync(join(tmpdir(), "pinflow-nats-pw-"));
  try {
    writeFileSync(join(dir, "password"), "pw-from-file\n");
    assert.deepEqual(access({ NATS_USER: "test-orders", NATS_PASSWORD_FILE: join(dir, "password") }).credentials, { user: "test-orders", password: "pw-from-file" });
    assert.throws(() => access({ NATS_USER: "test-orders", NATS_PASSWORD_FILE: join(dir, "missing") }), /NATS_PASSWORD_FILE: cannot read/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("credentials that do not fit together stop the service, and the message never carries the password", () => {
  const secret = "very-secret-nats-password";
  const cases: Record<string, string>[] = [{ NATS_USER: "test-orders" }, { NATS_USER: "test-orders", NATS_PASSWORD: secret, NATS_PASSWORD_FILE: "/x" }, { NATS_PASSWORD: secret }];
  for (const env of cases) {
    assert.throws(
      () => access(env),
      (error: unknown) => /NATS_(PASSWORD|USER)/.test(String(error)) && !String(error).includes(secret),
    );
  }
});

test("TLS: a CA, and a client certificate only with its key", () => {
  assert.deepEqual(access({ NATS_TLS_CA: "/etc/ca.crt" }).tls, { caFile: "/etc/ca.crt" });
  assert.deepEqual(access({ NATS_TLS_CA: "/ca", NATS_TLS_CERT: "/c", NATS_TLS_KEY: "/k" }).tls, { caFile: "/ca", certFile: "/c", keyFile: "/k" });
  assert.throws(() => access({ NATS_TLS_CERT: "/c" }), /NATS_TLS_CERT/);
});
