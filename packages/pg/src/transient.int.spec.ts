import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { freePort, TestDatabase } from "@pinflow/testkit";
import { createPool, inTransaction, isTransientDbError, type Pool } from "./index.js";

const db = new TestDatabase("pg_transient");
let pool: Pool;

before(async () => {
  await db.create();
  pool = createPool(db.url, 4);
  await pool.query("CREATE TABLE t (v text NOT NULL)");
});
after(async () => {
  await pool.end();
  await db.drop();
});

async function errorOf(work: () => Promise<unknown>): Promise<unknown> {
  try {
    await work();
  } catch (error) {
    return error;
  }
  assert.fail("expected an error");
}

test("the database refusing a value (NUL in text, SQLSTATE 22021) is not transient: it is the event's fault", async () => {
  const error = await errorOf(() => pool.query("INSERT INTO t (v) VALUES ($1)", ["a\u0000b"]));
  assert.equal((error as { code?: string }).code, "22021");
  assert.equal(isTransientDbError(error), false);
  assert.equal(isTransientDbError(new Error("wrapped", { cause: error })), false);
  assert.equal(isTransientDbError(new TypeError("a bug")), false);
});

test("an unreachable database is transient (also when wrapped), and so is a deadlock or a serialization failure", async () => {
  const down = createPool(`postgres://postgres@127.0.0.1:${await freePort()}/none`, 1);
  try {
    const error = await errorOf(() => down.query("SELECT 1"));
    assert.equal(isTransientDbError(error), true, String(error));
    assert.equal(isTransientDbError(new Error("handler failed", { cause: error })), true);
  } finally {
    await down.end();
  }
  const serialization = await errorOf(() =>
    inTransaction(pool, async (client) => {
      await client.query("SELECT 1");
      await client.query("DO $$ BEGIN RAISE EXCEPTION 'x' USING ERRCODE = '40001'; END $$");
    }),
  );
  assert.equal(isTransientDbError(serialization), true);
});
