import { after, test } from "node:test";
import assert from "node:assert/strict";
import pg from "pg";
import { PrivatePostgres } from "./private-postgres.js";
import { TestDatabase } from "./postgres.js";

const server = new PrivatePostgres();
after(() => server.destroy());

test("a private cluster starts on its own port, keeps committed rows across an immediate (crash) restart, and serves TestDatabase", async () => {
  await server.start();
  assert.notEqual(server.port, 5432, "never the machine's shared server");
  const db = await new TestDatabase("private_pg", server.adminUrl).create();
  assert.ok(db.url.includes(`:${server.port}/`), "the database lives on the private server");
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  await client.query("CREATE TABLE t (n int)");
  await client.query("INSERT INTO t VALUES (42)");
  await client.end();
  const pidBefore = server.pid;
  await server.restart("immediate");
  assert.notEqual(server.pid, pidBefore, "a new postmaster");
  const again = new pg.Client({ connectionString: db.url });
  await again.connect();
  const rows = (await again.query<{ n: number }>("SELECT n FROM t")).rows;
  await again.end();
  assert.deepEqual(rows, [{ n: 42 }]);
  await db.drop();
});
