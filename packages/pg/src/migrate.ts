import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type pg from "pg";
import { withSchemaLock } from "./schema.js";

/**
 * Apply the numbered `*.sql` files of `dir` that have not run yet, each in its own transaction,
 * under the schema lock so replicas starting together do not race (a waiting replica then finds
 * them applied). Migrations run without the pool's statement limits: they may take long.
 */
export async function migrate(pool: pg.Pool, dir: string): Promise<string[]> {
  const files = readdirSync(dir).filter((f) => /^\d+.*\.sql$/.test(f)).sort();
  return withSchemaLock(pool, async (client) => {
    const applied: string[] = [];
    await client.query("CREATE TABLE IF NOT EXISTS schema_migrations (version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())");
    const done = new Set((await client.query<{ version: string }>("SELECT version FROM schema_migrations")).rows.map((r) => r.version));
    for (const file of files) {
      if (done.has(file)) continue;
      const sql = readFileSync(join(dir, file), "utf8");
      await client.query("BEGIN");
      try {
        await client.query(sql);
        await client.query("INSERT INTO schema_migrations (version) VALUES ($1)", [file]);
        await client.query("COMMIT");
      } catch (error) {
        await client.query("ROLLBACK").catch(() => undefined);
        throw error;
      }
      applied.push(file);
    }
    return applied;
  });
}
