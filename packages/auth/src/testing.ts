import type { Pool } from "pg";

/**
 * For tests of the dispatcher or the status-poller on their own: the two key tables as the orders
 * service's migration 003 creates them (that migration is their source of truth; keep in step).
 */
export async function createKeyTablesForTests(pool: Pool): Promise<void> {
  await pool.query(`
    CREATE TABLE IF NOT EXISTS tenant (tenant_id text PRIMARY KEY, name text NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
    CREATE TABLE IF NOT EXISTS api_key (
      key_id text PRIMARY KEY, tenant_id text REFERENCES tenant,
      role text NOT NULL CHECK (role IN ('customer', 'operator', 'admin')), label text NOT NULL DEFAULT '',
      secret_hash text NOT NULL, created_at timestamptz NOT NULL DEFAULT now(), revoked_at timestamptz, replaced_by text,
      CHECK (role <> 'customer' OR tenant_id IS NOT NULL));`);
}
