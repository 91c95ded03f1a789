import pg from "pg";

export type Pool = pg.Pool;
export type PoolClient = pg.PoolClient;
export type Queryable = Pick<pg.Pool, "query"> | pg.PoolClient;

/**
 * How long PostgreSQL work may take before it is given up, so a hung query or a dead server never
 * holds a message, a claim or a request forever. 0 turns a limit off.
 */
export interface PgTimeouts {
  /** Connecting (a new pool connection, or waiting for a free one). */
  connectMs: number;
  /** One statement, on the server (`statement_timeout`): a query stuck behind a lock or running away is cancelled. */
  statementMs: number;
  /** One query, on the client: no answer at all (a hung server or network) fails the query and drops the connection. */
  queryMs: number;
  /** A session idle inside an open transaction is ended by the server (`idle_in_transaction_session_timeout`), freeing its locks. */
  idleInTransactionMs: number;
}

export const DEFAULT_PG_TIMEOUTS: PgTimeouts = {
  connectMs: 5_000,
  statementMs: 30_000,
  queryMs: 35_000,
  idleInTransactionMs: 60_000,
};

export interface PoolOptions {
  max?: number;
  timeouts?: Partial<PgTimeouts>;
}

export function createPool(connectionString: string, options: PoolOptions | number = {}): pg.Pool {
  const opts = typeof options === "number" ? { max: options } : options;
  const t = { ...DEFAULT_PG_TIMEOUTS, ...opts.timeouts };
  const pool = new pg.Pool({
    connectionString,
    max: opts.max ?? 10,
    idleTimeoutMillis: 30_000,
    keepAlive: true,
    connectionTimeoutMillis: t.connectMs,
    statement_timeout: t.statementMs || undefined,
    query_timeout: t.queryMs || undefined,
    idle_in_transaction_session_timeout: t.idleInTransactionMs || undefined,
  });
  // An idle client losing its connection must not crash the process; the next query reconnects.
  pool.on("error", () => undefined);
  return pool;
}

/**
 * One connection of the pool's database without statement or query limits, for schema work that
 * may legitimately wait or run long (waiting for another replica's migrations, a long migration).
 */
export async function connectUnlimited(pool: pg.Pool): Promise<pg.Client> {
  const client = new pg.Client({
    ...pool.options,
    statement_timeout: undefined,
    query_timeout: undefined,
    idle_in_transaction_session_timeout: undefined,
  } as pg.ClientConfig);
  client.on("error", () => undefined);
  await client.connect();
  return client;
}

/** Run `fn` in one transaction: commit on return, roll back on throw. */
export async function inTransaction<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken = false;
  try {
    await client.query("BEGIN");
    const result = await fn(client);
    await client.query("COMMIT");
    return result;
  } catch (error) {
    // A connection that cannot even roll back (timed out, lost) is dropped, not handed out again.
    await client.query("ROLLBACK").catch(() => (broken = true));
    throw error;
  } finally {
    client.release(broken);
  }
}
