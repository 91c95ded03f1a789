import { randomUUID } from "node:crypto";
import { ensureSchema, inTransaction, prepared, type Pool } from "@pinflow/pg";
import { afterCall, isHalfOpen, waitMs, type CallOutcome, type CircuitSettings, type CircuitState } from "./circuit.js";
import { msUntilToken, refill } from "./token-bucket.js";

export const PROVIDER_GATE_DDL = `
CREATE TABLE IF NOT EXISTS provider_gate (
  provider      text PRIMARY KEY,
  rate_per_sec  double precision NOT NULL,
  burst         double precision NOT NULL,
  tokens        double precision NOT NULL,
  refilled_at   timestamptz NOT NULL,
  failures      integer NOT NULL DEFAULT 0,
  openings      integer NOT NULL DEFAULT 0,
  open_until    timestamptz,
  paused        boolean NOT NULL DEFAULT false
);
CREATE TABLE IF NOT EXISTS provider_slot (
  provider    text NOT NULL,
  slot        integer NOT NULL,
  holder      text,
  lease_until timestamptz,
  PRIMARY KEY (provider, slot)
);`;

export interface ProviderLimits {
  /** Requests a second for the whole provider account, shared by every replica. */
  ratePerSec: number;
  burst: number;
  /** Calls in flight at once across every replica. */
  concurrency: number;
  circuit: CircuitSettings;
  /** A slot whose holder died is free again after this long. */
  slotLeaseMs: number;
}

export type GateDecision =
  | { kind: "granted"; permit: Permit }
  | { kind: "blocked"; reason: "paused" | "circuit_open" | "rate_limited" | "busy"; retryAfterMs: number };

export interface Permit {
  provider: string;
  slot: number;
  holder: string;
}

export interface GateStatus {
  provider: string;
  paused: boolean;
  circuitOpenForMs: number;
  failuresInRow: number;
  slotsInUse: number;
}

type Clock = () => Date;

/**
 * Per-provider request rate, concurrency cap and circuit breaker, shared by
 * every replica of a service through its PostgreSQL database. One row per
 * provider holds the bucket and the breaker (locked briefly per acquisition);
 * one row per concurrency slot is leased to the caller for the call.
 *
 * The services give it a pool whose commits do not wait for the disk
 * (`createGatePool`): every acquisition writes the provider's one row, and a
 * commit waiting for its WAL flush holds that row's lock meanwhile, which
 * bounds acquisitions a second by the disk. What a PostgreSQL crash may lose is
 * the last moments of gate state — a token spent, a slot leased or freed, a
 * failure counted — so for a moment after the restart a few calls more than the
 * limits may go out, or a freed slot stays held until its lease ends. The
 * gate limits load; no order's outcome depends on it.
 */
export class ProviderGate {
  constructor(
    private readonly pool: Pool,
    private readonly limits: Record<string, ProviderLimits>,
    private readonly now: Clock = () => new Date(),
  ) {}

  /** Create the tables and the rows for every configured provider (idempotent; limits follow the configuration). */
  async ensure(): Promise<void> {
    await ensureSchema(this.pool, PROVIDER_GATE_DDL);
    for (const [provider, l] of Object.entries(this.limits)) {
      await inTransaction(this.pool, async (db) => {
        await db.query(
          `INSERT INTO provider_gate (provider, rate_per_sec, burst, tokens, refilled_at) VALUES ($1, $2, $3, $3, $4)
           ON CONFLICT (provider) DO UPDATE SET rate_per_sec = EXCLUDED.rate_per_sec, burst = EXCLUDED.burst`,
          [provider, l.ratePerSec, l.burst, this.now()],
        );
        await db.query(
          `INSERT INTO provider_slot (provider, slot) SELECT $1, s FROM generate_series(0, $2 - 1) s ON CONFLICT DO NOTHING`,
          [provider, l.concurrency],
        );
        await db.query("DELETE FROM provider_slot WHERE provider = $1 AND slot >= $2", [provider, l.concurrency]);
      });
    }
  }

  /**
   * One attempt to get a permit now. The common case (not paused, circuit closed, a token and a slot
   * free) is one statement that holds the provider's row only while it runs; anything else goes
   * through the transaction below, which tells why (and grants the half-open probe).
   */
  async tryAcquire(provider: string): Promise<GateDecision> {
    return (await this.tryAcquireOpen(provider)) ?? this.tryAcquireChecked(provider);
  }

  /**
   * The open-gate case in one statement: take a token if the provider is not paused, its circuit is
   * fully closed (no failures in a row, no hold), a token is there after the refill (token-bucket.ts's
   * `refill`, in SQL so that the row is read and written at once) and a slot looks free; then lease a
   * free slot. Locks in the order every writer takes them: the provider's row, then a slot. Null when
   * that does not hold; a token taken for a slot that another caller leased first is given back.
   */
  private async tryAcquireOpen(provider: string): Promise<GateDecision | null> {
    const l = this.limitsOf(provider);
    const now = this.now();
    const holder = randomUUID();
    const r = await this.pool.query<{ slot: number | null; took: boolean }>(prepared(`WITH took AS (
         UPDATE provider_gate
         SET tokens = least($6::float8, tokens + greatest(0, extract(epoch FROM ($4::timestamptz - refilled_at))) * $5::float8) - 1, refilled_at = $4
         WHERE provider = $1 AND NOT paused AND failures = 0 AND (open_until IS NULL OR open_until <= $4)
           AND least($6::float8, tokens + greatest(0, extract(epoch FROM ($4::timestamptz - refilled_at))) * $5::float8) >= 1
           AND EXISTS (SELECT 1 FROM provider_slot WHERE provider = $1 AND (holder IS NULL OR lease_until < $4))
         RETURNING 1),
       -- Joined with took: a slot row is locked only after the provider's row was.
       slot AS (
         UPDATE provider_slot SET holder = $2, lease_until = $3
         WHERE (provider, slot) = (
           SELECT s.provider, s.slot FROM provider_slot s CROSS JOIN took
           WHERE s.provider = $1 AND (s.holder IS NULL OR s.lease_until < $4)
           ORDER BY s.slot LIMIT 1 FOR UPDATE OF s SKIP LOCKED)
         RETURNING slot)
       SELECT (SELECT slot FROM slot) AS slot, EXISTS (SELECT 1 FROM took) AS took`, [provider, holder, new Date(now.getTime() + l.slotLeaseMs), now, l.ratePerSec, l.burst]));
    const row = r.rows[0]!;
    if (row.slot !== null) return { kind: "granted", permit: { provider, slot: row.slot, holder } };
    if (row.took) await this.pool.query("UPDATE provider_gate SET tokens = least($2::float8, tokens + 1) WHERE provider = $1", [provider, l.burst]);
    return null;
  }

  /** One attempt under the provider's row lock: every rule in TypeScript, the reason when blocked. */
  private async tryAcquireChecked(provider: string): Promise<GateDecision> {
    const l = this.limitsOf(provider);
    const now = this.now();
    return inTransaction(this.pool, async (db) => {
      const r = await db.query<{ tokens: number; refilled_at: Date; failures: number; openings: number; open_until: Date | null; paused: boolean }>(
        "SELECT tokens, refilled_at, failures, openings, open_until, paused FROM provider_gate WHERE provider = $1 FOR UPDATE",
        [provider],
      );
      const gate = r.rows[0];
      if (!gate) throw new Error(`provider ${provider} has no gate row: call ensure() first`);
      if (gate.paused) return { kind: "blocked", reason: "paused", retryAfterMs: 5_000 };
      const circuitWait = waitMs({ openUntil: gate.open_until }, now);
      if (circuitWait > 0) return { kind: "blocked", reason: "circuit_open", retryAfterMs: circuitWait };
      const available = refill({ tokens: gate.tokens, refilledAt: gate.refilled_at }, now, l.ratePerSec, l.burst);
      if (available < 1) return { kind: "blocked", reason: "rate_limited", retryAfterMs: msUntilToken(available, l.ratePerSec) };
      const holder = randomUUID();
      const slot = await db.query<{ slot: number }>(
        `UPDATE provider_slot SET holder = $2, lease_until = $3
         WHERE (provider, slot) = (
           SELECT provider, slot FROM provider_slot
           WHERE provider = $1 AND (holder IS NULL OR lease_until < $4)
           ORDER BY slot LIMIT 1 FOR UPDATE SKIP LOCKED)
         RETURNING slot`,
        [provider, holder, new Date(now.getTime() + l.slotLeaseMs), now],
      );
      const granted = slot.rows[0];
      if (!granted) return { kind: "blocked", reason: "busy", retryAfterMs: 100 };
      // Half-open: this call is the probe; hold everyone else for as long as it may take.
      const probeHold = isHalfOpen(gate, l.circuit) ? new Date(now.getTime() + l.slotLeaseMs) : gate.open_until;
      await db.query("UPDATE provider_gate SET tokens = $2, refilled_at = $3, open_until = $4 WHERE provider = $1", [provider, available - 1, now, probeHold]);
      return { kind: "granted", permit: { provider, slot: granted.slot, holder } };
    });
  }

  /**
   * Wait up to `maxWaitMs` for a permit while only the rate or the concurrency
   * cap stands in the way; a paused provider or an open circuit answers at
   * once, so the caller can reschedule instead of holding a worker.
   */
  async acquire(provider: string, maxWaitMs: number): Promise<GateDecision> {
    const deadline = Date.now() + maxWaitMs;
    for (;;) {
      const decision = await this.tryAcquire(provider);
      if (decision.kind === "granted" || decision.reason === "paused" || decision.reason === "circuit_open") return decision;
      const wait = Math.min(decision.retryAfterMs, deadline - Date.now());
      if (wait <= 0) return decision;
      await new Promise((r) => setTimeout(r, Math.max(5, wait)));
    }
  }

  /** Free the slot and feed the call's outcome to the breaker. */
  async release(permit: Permit, outcome: CallOutcome): Promise<void> {
    if (outcome.kind === "ok") return this.releaseHealthy(permit);
    const l = this.limitsOf(permit.provider);
    const now = this.now();
    // Locks in the order every other writer takes them (ensure, tryAcquire): the provider's row, then its slot.
    await inTransaction(this.pool, async (db) => {
      const r = await db.query<{ failures: number; openings: number; open_until: Date | null }>(
        "SELECT failures, openings, open_until FROM provider_gate WHERE provider = $1 FOR UPDATE",
        [permit.provider],
      );
      await db.query("UPDATE provider_slot SET holder = NULL, lease_until = NULL WHERE provider = $1 AND slot = $2 AND holder = $3", [
        permit.provider,
        permit.slot,
        permit.holder,
      ]);
      const row = r.rows[0];
      if (!row) return;
      const before: CircuitState = { failures: row.failures, openings: row.openings, openUntil: row.open_until };
      const after = afterCall(before, outcome, now, l.circuit);
      await db.query("UPDATE provider_gate SET failures = $2, openings = $3, open_until = $4 WHERE provider = $1", [
        permit.provider,
        after.failures,
        after.openings,
        after.openUntil,
      ]);
    });
  }

  /**
   * A healthy call closes the breaker whatever its state was (`afterCall` of "ok"): the breaker is
   * closed and the slot freed in one statement, and the provider's row is written (locked) only when
   * it is not closed already: the common case takes no lock every other acquisition waits on. When
   * it is written, that comes first — the slot's update waits for it (its condition reads the
   * breaker's update) — so the locks are taken in the order every writer takes them (ensure,
   * tryAcquire, release): the provider's row, then a slot.
   */
  private async releaseHealthy(permit: Permit): Promise<void> {
    this.limitsOf(permit.provider);
    await this.pool.query(
      prepared(
        `WITH closed AS (
           UPDATE provider_gate SET failures = 0, openings = 0, open_until = NULL
           WHERE provider = $1 AND (failures <> 0 OR openings <> 0 OR open_until IS NOT NULL)
           RETURNING 1)
         UPDATE provider_slot SET holder = NULL, lease_until = NULL
         WHERE provider = $1 AND slot = $2 AND holder = $3 AND (SELECT count(*) FROM closed) >= 0`,
        [permit.provider, permit.slot, permit.holder],
      ),
    );
  }

  /** Run `call` under a permit; `classify` turns its result into the breaker's outcome. */
  async run<T>(provider: string, maxWaitMs: number, call: () => Promise<T>, classify: (result: T) => CallOutcome): Promise<{ kind: "done"; result: T } | Extract<GateDecision, { kind: "blocked" }>> {
    return runUnderPermit(this, provider, maxWaitMs, call, classify);
  }

  /** An operator's pause or resume: committed durably (waiting for the disk) whatever the pool's default, since it is answered as done. */
  async setPaused(provider: string, paused: boolean): Promise<boolean> {
    return inTransaction(this.pool, async (db) => {
      await db.query("SET LOCAL synchronous_commit = on");
      const r = await db.query("UPDATE provider_gate SET paused = $2 WHERE provider = $1", [provider, paused]);
      return (r.rowCount ?? 0) > 0;
    });
  }

  async status(provider: string): Promise<GateStatus | null> {
    const now = this.now();
    const r = await this.pool.query<{ paused: boolean; failures: number; open_until: Date | null; in_use: string }>(
      `SELECT g.paused, g.failures, g.open_until,
              (SELECT count(*) FROM provider_slot s WHERE s.provider = g.provider AND s.holder IS NOT NULL AND s.lease_until >= $2) AS in_use
       FROM provider_gate g WHERE g.provider = $1`,
      [provider, now],
    );
    const row = r.rows[0];
    if (!row) return null;
    return {
      provider,
      paused: row.paused,
      circuitOpenForMs: waitMs({ openUntil: row.open_until }, now),
      failuresInRow: row.failures,
      slotsInUse: Number(row.in_use),
    };
  }

  private limitsOf(provider: string): ProviderLimits {
    const l = this.limits[provider];
    if (!l) throw new Error(`no limits configured for provider ${provider}`);
    return l;
  }
}

/** What running a call under a permit needs of a gate (a ProviderGate, or a stand-in). */
export interface PermitGate {
  acquire(provider: string, maxWaitMs: number): Promise<GateDecision>;
  release(permit: Permit, outcome: CallOutcome): Promise<void>;
}

/**
 * Run `call` under a permit of `gate`; `classify` turns its result into the breaker's outcome (a call
 * that throws is a failure). Blocked (paused, circuit open, rate, busy) answers at once with the wait.
 * With `ignoreReleaseErrors`, a failed release does not replace the call's result or error.
 */
export async function runUnderPermit<T>(
  gate: PermitGate,
  provider: string,
  maxWaitMs: number,
  call: () => Promise<T>,
  classify: (result: T) => CallOutcome,
  opts: { ignoreReleaseErrors?: boolean } = {},
): Promise<{ kind: "done"; result: T } | Extract<GateDecision, { kind: "blocked" }>> {
  const decision = await gate.acquire(provider, maxWaitMs);
  if (decision.kind === "blocked") return decision;
  let outcome: CallOutcome = { kind: "failure" };
  try {
    const result = await call();
    outcome = classify(result);
    return { kind: "done", result };
  } finally {
    const released = gate.release(decision.permit, outcome);
    await (opts.ignoreReleaseErrors ? released.catch(() => undefined) : released);
  }
}
