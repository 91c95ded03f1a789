import { prepared, type Queryable } from "./pool.js";

export const CHECKPOINT_DDL = `
CREATE TABLE IF NOT EXISTS projection_checkpoint (
  name text PRIMARY KEY,
  last_seq bigint NOT NULL
);`;

export async function readCheckpoint(db: Queryable, name: string): Promise<number> {
  const r = await db.query<{ last_seq: string }>("SELECT last_seq FROM projection_checkpoint WHERE name = $1", [name]);
  return r.rows[0] ? Number(r.rows[0].last_seq) : 0;
}

/** Store the checkpoint in the caller's transaction, together with the rows it covers. */
export async function writeCheckpoint(db: Queryable, name: string, seq: number): Promise<void> {
  await db.query(
    prepared(
      `INSERT INTO projection_checkpoint (name, last_seq) VALUES ($1, $2)
       ON CONFLICT (name) DO UPDATE SET last_seq = EXCLUDED.last_seq`,
      [name, seq],
    ),
  );
}
