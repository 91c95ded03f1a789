import type { Pool } from "pg";
import { newApiKey, TENANT_ID_PATTERN, type IssuedKey, type Role } from "./api-key.js";

/** A stored key as the verifier needs it (never the token). */
export interface StoredKey {
  keyId: string;
  role: Role;
  tenantId: string | null;
  secretHash: string;
  /** False once revoked (after a rotation's grace period). */
  active: boolean;
}

/** A key as an admin lists it: no hash, no token. */
export interface KeyListing {
  keyId: string;
  role: Role;
  tenantId: string | null;
  label: string;
  createdAt: string;
  revokedAt: string | null;
  replacedBy: string | null;
}

export class UsageError extends Error {
  override name = "UsageError";
}

/** Where keys are looked up: the orders database's `api_key` table, read by every service. */
export interface KeyLookup {
  find(keyId: string): Promise<StoredKey | null>;
}

interface KeyRow {
  key_id: string;
  role: Role;
  tenant_id: string | null;
  label: string;
  secret_hash: string;
  created_at: Date;
  revoked_at: Date | null;
  replaced_by: string | null;
  active: boolean;
}

/** Tenants and API keys in PostgreSQL (tables of the orders service's migration 003). */
export class PgKeyStore implements KeyLookup {
  constructor(private readonly pool: Pool) {}

  async find(keyId: string): Promise<StoredKey | null> {
    // A named (prepared) statement, read on every request: its columns named, so a column added by a
    // newer replica's migration does not change its result ("cached plan must not change result type").
    const r = await this.pool.query<Pick<KeyRow, "key_id" | "role" | "tenant_id" | "secret_hash" | "active">>({
      name: "pf_api_key_find",
      text: "SELECT key_id, role, tenant_id, secret_hash, (revoked_at IS NULL OR revoked_at > now()) AS active FROM api_key WHERE key_id = $1",
      values: [keyId],
    });
    const row = r.rows[0];
    return row ? { keyId: row.key_id, role: row.role, tenantId: row.tenant_id, secretHash: row.secret_hash, active: row.active } : null;
  }

  async createTenant(tenantId: string, name: string): Promise<void> {
    if (!TENANT_ID_PATTERN.test(tenantId)) throw new UsageError(`tenant id must match ${TENANT_ID_PATTERN} (got ${JSON.stringify(tenantId)})`);
    const r = await this.pool.query("INSERT INTO tenant (tenant_id, name) VALUES ($1, $2) ON CONFLICT (tenant_id) DO NOTHING", [tenantId, name]);
    if (r.rowCount === 0) throw new UsageError(`tenant ${tenantId} exists already`);
  }

  async tenants(): Promise<{ tenantId: string; name: string; createdAt: string }[]> {
    const r = await this.pool.query<{ tenant_id: string; name: string; created_at: Date }>("SELECT * FROM tenant ORDER BY tenant_id");
    return r.rows.map((row) => ({ tenantId: row.tenant_id, name: row.name, createdAt: row.created_at.toISOString() }));
  }

  /** Issue a key; the returned token is the only copy. A customer key needs a tenant; null = every tenant. */
  async issue(spec: { role: Role; tenantId: string | null; label?: string }): Promise<IssuedKey> {
    if (spec.role === "customer" && spec.tenantId === null) throw new UsageError("a customer key belongs to one tenant (--tenant)");
    if (spec.tenantId !== null) {
      const t = await this.pool.query("SELECT 1 FROM tenant WHERE tenant_id = $1", [spec.tenantId]);
      if (t.rowCount === 0) throw new UsageError(`no tenant ${spec.tenantId}`);
    }
    const key = newApiKey();
    await this.pool.query("INSERT INTO api_key (key_id, tenant_id, role, label, secret_hash) VALUES ($1, $2, $3, $4, $5)", [
      key.keyId,
      spec.tenantId,
      spec.role,
      spec.label ?? "",
      key.secretHash,
    ]);
    return key;
  }

  async list(filter: { tenantId?: string } = {}): Promise<KeyListing[]> {
    const r = await this.pool.query<KeyRow>(
      `SELECT * FROM api_key ${filter.tenantId ? "WHERE tenant_id = $1" : ""} ORDER BY created_at, key_id`,
      filter.tenantId ? [filter.tenantId] : [],
    );
    return r.rows.map((row) => ({
      keyId: row.key_id,
      role: row.role,
      tenantId: row.tenant_id,
      label: row.label,
      createdAt: row.created_at.toISOString(),
      revokedAt: row.revoked_at?.toISOString() ?? null,
      replacedBy: row.replaced_by,
    }));
  }

  /** Revoke now. Returns false when there is no such key or it is revoked already. */
  async revoke(keyId: string): Promise<boolean> {
    const r = await this.pool.query("UPDATE api_key SET revoked_at = now() WHERE key_id = $1 AND (revoked_at IS NULL OR revoked_at > now())", [keyId]);
    return r.rowCount === 1;
  }

  /**
   * A new key with the same tenant, role and label; the old one stays valid `graceSeconds` more
   * (0: revoked at once) so its holder can switch without an outage.
   */
  async rotate(keyId: string, graceSeconds: number): Promise<IssuedKey> {
    const client = await this.pool.connect();
    try {
      await client.query("BEGIN");
      const r = await client.query<KeyRow>("SELECT * FROM api_key WHERE key_id = $1 AND (revoked_at IS NULL OR revoked_at > now()) FOR UPDATE", [keyId]);
      const old = r.rows[0];
      if (!old) throw new UsageError(`no active key ${keyId}`);
      const key = newApiKey();
      await client.query("INSERT INTO api_key (key_id, tenant_id, role, label, secret_hash) VALUES ($1, $2, $3, $4, $5)", [
        key.keyId,
        old.tenant_id,
        old.role,
        old.label,
        key.secretHash,
      ]);
      await client.query("UPDATE api_key SET revoked_at = now() + make_interval(secs => $2), replaced_by = $3 WHERE key_id = $1", [keyId, graceSeconds, key.keyId]);
      await client.query("COMMIT");
      return key;
    } catch (error) {
      await client.query("ROLLBACK").catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }
}
