import type pg from "pg";
import { connectUnlimited } from "./pool.js";

/** One advisory lock per database for every schema change: migrations and the `CREATE … IF NOT EXISTS` set-ups. */
const SCHEMA_LOCK = 72_410_001;

/**
 * Run `fn` while holding the database's schema lock, on a connection without statement limits.
 * `CREATE TABLE IF NOT EXISTS` is not safe when two sessions run it at once (the loser fails on
 * `pg_type_typname_nsp_index`), so replicas starting together take turns here instead.
 */
export async function withSchemaLock<T>(pool: pg.Pool, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = await connectUnlimited(pool);
  try {
    await client.query("SELECT pg_advisory_lock($1)", [SCHEMA_LOCK]);
    try {
      return await fn(client);
    } finally {
      await client.query("SELECT pg_advisory_unlock($1)", [SCHEMA_LOCK]).catch(() => undefined);
    }
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Apply idempotent DDL (`CREATE … IF NOT EXISTS`, `ADD COLUMN IF NOT EXISTS`) safely against replicas doing the same. */
export async function ensureSchema(pool: pg.Pool, ddl: string): Promise<void> {
  await withSchemaLock(pool, async (client) => {
    await client.query(ddl);
  });
}
