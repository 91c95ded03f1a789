/**
 * Found by the chaos run: PostgreSQL restarting while a pool connection is checked out (a transaction
 * in progress, or waiting between its statements) made node-postgres emit 'error' on that client with
 * no listener, and the whole process died (orders and both dispatcher replicas at once). The pool's
 * clients must turn a lost server into failed queries, never into a crash.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { PrivatePostgres, TestDatabase } from "@pinflow/testkit";
import { createPool, inTransaction } from "./pool.js";

const server = new PrivatePostgres();
let db: TestDatabase;

before(async () => {
  await server.start();
  db = await new TestDatabase("pg_restart", server.adminUrl).create();
});
after(async () => {
  await server.destroy();
});

test("a server restart while transactions hold connections fails those transactions; the process lives and the pool works again", async () => {
  const pool = createPool(db.url, { max: 4, timeouts: { connectMs: 2_000 } });
  try {
    await pool.query("CREATE TABLE t (n int)");
    // One transaction waits between its statements (its connection is checked out and idle), one is mid-statement.
    let release!: () => void;
    const between = inTransaction(pool, async (client) => {
      await client.query("INSERT INTO t VALUES (1)");
      await new Promise<void>((resolve) => (release = resolve));
      await client.query("INSERT INTO t VALUES (2)");
    });
    const during = inTransaction(pool, (client) => client.query("SELECT pg_sleep(30)"));
    const outcomes = Promise.allSettled([between, during]);
    await new Promise((r) => setTimeout(r, 300));
    await server.stop("immediate");
    // Without a listener on checked-out clients, node-postgres throws 'error' here and the process exits.
    await new Promise((r) => setTimeout(r, 500));
    release();
    assert.deepEqual((await outcomes).map((o) => o.status), ["rejected", "rejected"], "both transactions fail");
    await server.start();
    await pool.query("INSERT INTO t VALUES (3)");
    assert.deepEqual((await pool.query<{ n: number }>("SELECT n FROM t ORDER BY n")).rows, [{ n: 3 }], "nothing of the broken transactions was committed");
  } finally {
    await pool.end();
  }
});
