import { randomBytes } from "node:crypto";
import pg from "pg";

export const PG_ADMIN_URL = process.env.PINFLOW_TEST_PG_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";

/** A throw-away database on the real PostgreSQL server; drop it when the test is done. */
export class TestDatabase {
  readonly name: string;

  /** `adminUrl`: the server's maintenance database (default the shared one; a PrivatePostgres's adminUrl for a private cluster). */
  constructor(label: string, private readonly adminUrl: string = PG_ADMIN_URL) {
    this.name = `pf_test_${label.replace(/[^a-z0-9_]/g, "_")}_${randomBytes(4).toString("hex")}`;
  }

  get url(): string {
    const url = new URL(this.adminUrl);
    url.pathname = `/${this.name}`;
    return url.toString();
  }

  async create(): Promise<this> {
    await admin(this.adminUrl, `CREATE DATABASE ${this.name}`);
    return this;
  }

  async drop(): Promise<void> {
    await admin(this.adminUrl, `DROP DATABASE IF EXISTS ${this.name} WITH (FORCE)`);
  }
}

async function admin(adminUrl: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}
