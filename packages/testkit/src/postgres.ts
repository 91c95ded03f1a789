import { randomBytes } from "node:crypto";
import pg from "pg";

export const PG_ADMIN_URL = process.env.PINFLOW_TEST_PG_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";

/** A throw-away database on the real PostgreSQL server; drop it when the test is done. */
export class TestDatabase {
  readonly name: string;

  constructor(label: string) {
    this.name = `pf_test_${label.replace(/[^a-z0-9_]/g, "_")}_${randomBytes(4).toString("hex")}`;
  }

  get url(): string {
    const url = new URL(PG_ADMIN_URL);
    url.pathname = `/${this.name}`;
    return url.toString();
  }

  async create(): Promise<this> {
    await admin(`CREATE DATABASE ${this.name}`);
    return this;
  }

  async drop(): Promise<void> {
    await admin(`DROP DATABASE IF EXISTS ${this.name} WITH (FORCE)`);
  }
}

async function admin(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: PG_ADMIN_URL });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}
