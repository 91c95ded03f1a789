import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type pg from "pg";
import { inTransaction } from "./pool.js";

const MIGRATION_LOCK = 72_410_001;

/**
 * Apply the numbered `*.sql` files of `dir` that have not run yet, each in its
 * own transaction, under an advisory lock so replicas starting together do not race.
 */
export async function migrate(pool: pg.Pool, dir: string): Promise<string[]> {
  const files = readdirSync(dir).filter((f) => /^\d+.*\.sql$/.test(f)).sort();
  const applied: string[] = [];
  const lock = await pool.connect();
  try {
    await lock.query("SELECT pg_advisory_lock($1)", [MIGRATION_LOCK]);
    await lock.query("CREATE TABLE IF NOT EXISTS schema_migrations (version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())");
    const done = new Set((await lock.query<{ version: string }>("SELECT version FROM schema_migrations")).rows.map((r) => r.version));
    for (const file of files) {
      if (done.has(file)) continue;
      const sql = readFileSync(join(dir, file), "utf8");
      await inTransaction(pool, async (client) => {
        await client.query(sql);
        await client.query("INSERT INTO schema_migrations (version) VALUES ($1)", [file]);
      });
      applied.push(file);
    }
  } finally {
    await lock.query("SELECT pg_advisory_unlock($1)", [MIGRATION_LOCK]).catch(() => undefined);
    lock.release();
  }
  return applied;
}
