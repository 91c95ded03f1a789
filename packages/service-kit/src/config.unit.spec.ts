import { test } from "node:test";
import assert from "node:assert/strict";
import { BaseConfig, loadConfig, pgTimeouts } from "./config.js";

const base = { PINFLOW_ENV: "test", DATABASE_URL: "postgres://x/y", HTTP_PORT: "0" };

test("PostgreSQL timeouts have defaults, and the client's query timeout follows the statement timeout", () => {
  assert.deepEqual(pgTimeouts(loadConfig(BaseConfig, base)), { connectMs: 5_000, statementMs: 30_000, queryMs: 35_000, idleInTransactionMs: 60_000 });
  assert.deepEqual(pgTimeouts(loadConfig(BaseConfig, { ...base, PG_STATEMENT_TIMEOUT_MS: "1000" })).queryMs, 6_000);
});

test("PostgreSQL timeouts are configurable, and 0 turns one off", () => {
  const env = { ...base, PG_CONNECT_TIMEOUT_MS: "100", PG_STATEMENT_TIMEOUT_MS: "0", PG_QUERY_TIMEOUT_MS: "250", PG_IDLE_IN_TRANSACTION_TIMEOUT_MS: "0" };
  assert.deepEqual(pgTimeouts(loadConfig(BaseConfig, env)), { connectMs: 100, statementMs: 0, queryMs: 250, idleInTransactionMs: 0 });
  assert.equal(pgTimeouts(loadConfig(BaseConfig, { ...base, PG_STATEMENT_TIMEOUT_MS: "0" })).queryMs, 0);
  assert.throws(() => loadConfig(BaseConfig, { ...base, PG_STATEMENT_TIMEOUT_MS: "-1" }), /PG_STATEMENT_TIMEOUT_MS/);
});

test("PINFLOW_ENV is required and must be subject-token-safe: a service without its environment does not start", () => {
  const { PINFLOW_ENV: _omitted, ...withoutEnv } = base;
  assert.throws(() => loadConfig(BaseConfig, withoutEnv), /PINFLOW_ENV/);
  for (const bad of ["Production", "prod.eu", "prod*", "prod>", "prod env", ""]) {
    assert.throws(() => loadConfig(BaseConfig, { ...base, PINFLOW_ENV: bad }), /PINFLOW_ENV/, bad);
  }
  assert.equal(loadConfig(BaseConfig, { ...base, PINFLOW_ENV: "staging" }).PINFLOW_ENV, "staging");
});
