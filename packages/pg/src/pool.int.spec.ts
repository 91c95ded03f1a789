/**
 * PostgreSQL connections and statements have timeouts, so a hung query cannot pin a message, a
 * claim or a request forever; schema work (migrations, waiting for another replica's) has none.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, connect as tcpConnect, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { eventually, PG_ADMIN_URL, TestDatabase } from "@pinflow/testkit";
import pg from "pg";
import { createGatePool, createPool, inTransaction } from "./pool.js";
import { migrate } from "./migrate.js";
import { withSchemaLock } from "./schema.js";

/** A TCP proxy to PostgreSQL that can stop passing anything on: a server or network that hangs. */
class FreezingProxy {
  private server: Server | undefined;
  private frozen = false;
  private readonly sockets = new Set<Socket>();
  port = 0;

  async start(target: URL): Promise<this> {
    this.server = createServer((client) => {
      const upstream = tcpConnect(Number(target.port || 5432), target.hostname);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on("error", () => undefined);
        s.on("close", () => this.sockets.delete(s));
      }
      client.on("data", (d) => !this.frozen && upstream.write(d));
      upstream.on("data", (d) => !this.frozen && client.write(d));
      client.on("close", () => upstream.destroy());
      upstream.on("close", () => client.destroy());
    });
    await new Promise<void>((r) => this.server!.listen(0, "127.0.0.1", r));
    this.port = (this.server.address() as { port: number }).port;
    return this;
  }

  freeze(frozen: boolean): void {
    this.frozen = frozen;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise((r) => this.server?.close(r));
  }
}

describe("PostgreSQL timeouts", () => {
  const db = new TestDatabase("pg_timeouts");
  let admin: pg.Client;

  before(async () => {
    await db.create();
    admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
  });
  after(async () => {
    await admin.end();
    await db.drop();
  });

  test("a hung statement is cancelled by the statement timeout", async () => {
    const pool = createPool(db.url, { timeouts: { statementMs: 200 } });
    try {
      await assert.rejects(pool.query("SELECT pg_sleep(30)"), (error: { code?: string }) => error.code === "57014");
      assert.equal((await pool.query("SELECT 1 AS one")).rows[0].one, 1, "the pool works on");
    } finally {
      await pool.end();
    }
  });

  test("a statement waiting for another session's lock is cancelled by the statement timeout", async () => {
    await admin.query("CREATE TABLE IF NOT EXISTS locked (id int PRIMARY KEY)");
    await admin.query("INSERT INTO locked VALUES (1) ON CONFLICT DO NOTHING");
    await admin.query("BEGIN");
    await admin.query("SELECT * FROM locked WHERE id = 1 FOR UPDATE");
    const pool = createPool(db.url, { timeouts: { statementMs: 200 } });
    try {
      await assert.rejects(
        inTransaction(pool, (c) => c.query("UPDATE locked SET id = 1 WHERE id = 1")),
        (error: { code?: string }) => error.code === "57014",
      );
    } finally {
      await admin.query("ROLLBACK");
      await pool.end();
    }
  });

  test("a server that stops answering fails the query by the query timeout, and the pool recovers with a new connection", async () => {
    const proxy = await new FreezingProxy().start(new URL(PG_ADMIN_URL));
    const url = new URL(db.url);
    url.host = `127.0.0.1:${proxy.port}`;
    const pool = createPool(url.toString(), { max: 1, timeouts: { queryMs: 300, connectMs: 300 } });
    try {
      await pool.query("SELECT 1");
      proxy.freeze(true);
      await assert.rejects(pool.query("SELECT 2"), /timeout/i);
      await assert.rejects(inTransaction(pool, (c) => c.query("SELECT 3")), /timeout/i);
      proxy.freeze(false);
      assert.equal((await pool.query("SELECT 4 AS four")).rows[0].four, 4, "a fresh connection works");
    } finally {
      await pool.end();
      await proxy.stop();
    }
  });

  test("connecting to a server that never answers fails after the connect timeout", async () => {
    const held = new Set<Socket>();
    const silent = createServer((socket) => held.add(socket));
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
    const port = (silent.address() as { port: number }).port;
    const pool = createPool(`postgres://postgres@127.0.0.1:${port}/x`, { timeouts: { connectMs: 200 } });
    try {
      await assert.rejects(pool.query("SELECT 1"), /timeout/i);
    } finally {
      await pool.end();
      for (const socket of held) socket.destroy();
      await new Promise((r) => silent.close(r));
    }
  });

  test("a session left idle inside a transaction is ended by the server, releasing its locks", async () => {
    const pool = createPool(db.url, { timeouts: { idleInTransactionMs: 200 } });
    const client = await pool.connect();
    client.on("error", () => undefined);
    try {
      await client.query("BEGIN");
      const pid = (await client.query<{ pid: number }>("SELECT pg_backend_pid() AS pid")).rows[0]!.pid;
      await client.query("SELECT * FROM locked WHERE id = 1 FOR UPDATE");
      await eventually(async () => {
        const r = await admin.query("SELECT 1 FROM pg_stat_activity WHERE pid = $1", [pid]);
        assert.equal(r.rowCount, 0, "the idle transaction's session is gone");
      }, 10_000, 50);
      const free = await admin.query("SELECT * FROM locked WHERE id = 1 FOR UPDATE NOWAIT");
      assert.equal(free.rowCount, 1, "its row lock is free");
    } finally {
      client.release(true);
      await pool.end();
    }
  });

  test("migrations wait for another replica's schema lock longer than the statement timeout, then apply", async () => {
    const dir = mkdtempSync(join(tmpdir(), "pinflow-migrations-"));
    writeFileSync(join(dir, "001_first.sql"), "CREATE TABLE migrated (id int);");
    const pool = createPool(db.url, { timeouts: { statementMs: 100, queryMs: 200 } });
    try {
      let release!: () => void;
      const held = new Promise<void>((r) => (release = r));
      let holding = false;
      const holder = withSchemaLock(pool, async () => {
        holding = true;
        await held;
      });
      await eventually(() => assert.ok(holding));
      const migrating = migrate(pool, dir);
      // The migration's session waits on the lock for longer than both timeouts.
      await eventually(async () => {
        const r = await admin.query(
          `SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%pg_advisory_lock%' AND now() - query_start > interval '500 ms'`,
        );
        assert.equal(r.rowCount, 1);
      }, 10_000, 50);
      release();
      await holder;
      assert.deepEqual(await migrating, ["001_first.sql"]);
      await admin.query("SELECT * FROM migrated");
    } finally {
      await pool.end();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

test("a gate pool's sessions commit without waiting for the disk; every other pool's wait", async () => {
  const rows = createPool(PG_ADMIN_URL, 1);
  const gate = createGatePool(PG_ADMIN_URL, { max: 1 });
  try {
    assert.equal((await rows.query<{ synchronous_commit: string }>("SHOW synchronous_commit")).rows[0]?.synchronous_commit, "on");
    assert.equal((await gate.query<{ synchronous_commit: string }>("SHOW synchronous_commit")).rows[0]?.synchronous_commit, "off");
    // Still off in a transaction, and other settings are the pool's as usual.
    await inTransaction(gate, async (client) => {
      assert.equal((await client.query<{ synchronous_commit: string }>("SHOW synchronous_commit")).rows[0]?.synchronous_commit, "off");
      assert.equal((await client.query<{ statement_timeout: string }>("SHOW statement_timeout")).rows[0]?.statement_timeout, "30s");
    });
  } finally {
    await rows.end();
    await gate.end();
  }
});
