import pg from "pg";
import { createHash } from "node:crypto";

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
  /**
   * false: the pool's commits do not wait for their WAL to reach the disk (`synchronous_commit = off`
   * for its sessions). Only for state whose last commits may be lost in a PostgreSQL crash without
   * harm (the provider gate's tokens, slots and breaker); never for rows, outbox or checkpoints.
   */
  synchronousCommit?: boolean;
}

/** The pool of a provider gate: its commits do not wait for the disk (see PoolOptions.synchronousCommit and ProviderGate). */
export function createGatePool(connectionString: string, options: Omit<PoolOptions, "synchronousCommit"> = {}): pg.Pool {
  return createPool(connectionString, { max: 4, ...options, synchronousCommit: false });
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
    ...(opts.synchronousCommit === false ? { options: "-c synchronous_commit=off" } : {}),
  });
  // An idle client losing its connection must not crash the process; the next query reconnects.
  pool.on("error", () => undefined);
  // Nor a checked-out one (a transaction between or inside its statements when PostgreSQL restarts):
  // pg-pool listens for errors only on idle clients, and an 'error' with no listener ends the process.
  // The lost connection still fails the client's queries, and a broken client is not reused.
  pool.on("connect", (client) => client.on("error", () => undefined));
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

/** SQLSTATE classes of an outage or a race, not of the statement's data: 08 connection, 40 rollback (serialization, deadlock), 53 resources, 57 operator (shutdown), 58 system. */
const TRANSIENT_SQLSTATE_CLASSES = new Set(["08", "40", "53", "57", "58"]);
const TRANSIENT_ERRNO = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH"]);
const TRANSIENT_MESSAGE = /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Connection closed|the database system is (starting up|shutting down)/i;

/**
 * Whether an error means "the database is unreachable right now" (retry, it is not the event's
 * fault) rather than "the database refuses this" (e.g. SQLSTATE 22021: NUL in a text value).
 * Looks through `cause` chains. Consumers do not count such failures towards dead-lettering.
 */
export function isTransientDbError(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string") {
      if (/^[0-9A-Z]{5}$/.test(code) && TRANSIENT_SQLSTATE_CLASSES.has(code.slice(0, 2))) return true;
      if (TRANSIENT_ERRNO.has(code)) return true;
    }
    if (TRANSIENT_MESSAGE.test(e.message)) return true;
    if (e instanceof AggregateError && e.errors.some((inner) => isTransientDbError(inner))) return true;
  }
  return false;
}

const statementNames = new Map<string, string>();

/**
 * A query that each connection parses and plans once (a named prepared statement, named after its
 * text): for the statements a service runs for every order or check, where planning would cost
 * PostgreSQL more than running them. Only for statements with an explicit result column list: a
 * prepared `SELECT *` fails ("cached plan must not change result type") once a newer replica's
 * migration adds a column while this one runs.
 */
export function prepared(text: string, values: unknown[]): pg.QueryConfig {
  let name = statementNames.get(text);
  if (name === undefined) {
    name = `pf_${createHash("sha1").update(text).digest("hex").slice(0, 20)}`;
    statementNames.set(text, name);
  }
  return { name, text, values };
}
