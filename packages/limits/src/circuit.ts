/**
 * The circuit breaker's rules, pure: after `threshold` failures in a row the
 * provider is left alone for a cool-down that doubles on each re-opening (up
 * to `maxCooldownMs`); the first call after the cool-down is a probe, and a
 * success closes the circuit. A provider's own "retry after" is honoured the
 * same way. While open, callers wait: orders are delayed, never failed.
 */
export interface CircuitSettings {
  threshold: number;
  cooldownMs: number;
  maxCooldownMs: number;
}

export interface CircuitState {
  failures: number;
  openUntil: Date | null;
  /** How many times in a row the circuit has opened (drives the cool-down growth). */
  openings: number;
}

/** `no_call`: the permit was given back unused (nothing learnt about the provider). */
export type CallOutcome = { kind: "ok" } | { kind: "failure" } | { kind: "retry_after"; ms: number } | { kind: "no_call" };

export function afterCall(state: CircuitState, outcome: CallOutcome, now: Date, s: CircuitSettings): CircuitState {
  switch (outcome.kind) {
    case "ok":
      return { failures: 0, openUntil: null, openings: 0 };
    case "no_call":
      // A probe that never went out must not keep the others waiting for its hold.
      return isHalfOpen(state, s) ? { ...state, openUntil: null } : state;
    case "retry_after": {
      const until = new Date(now.getTime() + Math.max(0, outcome.ms));
      return { ...state, openUntil: state.openUntil && state.openUntil > until ? state.openUntil : until };
    }
    case "failure": {
      const failures = state.failures + 1;
      if (failures < s.threshold) return { ...state, failures };
      const cooldown = Math.min(s.maxCooldownMs, s.cooldownMs * 2 ** Math.min(16, state.openings));
      return { failures, openUntil: new Date(now.getTime() + cooldown), openings: state.openings + 1 };
    }
    default:
      return assertNever(outcome);
  }
}

/**
 * After the cool-down the circuit is half-open: the next call is a probe, and
 * everyone else keeps waiting until its outcome closes or re-opens the circuit.
 */
export function isHalfOpen(state: Pick<CircuitState, "failures">, s: Pick<CircuitSettings, "threshold">): boolean {
  return state.failures >= s.threshold;
}

/** Milliseconds until calls may go out again (0 = closed or cool-down over). */
export function waitMs(state: Pick<CircuitState, "openUntil">, now: Date): number {
  return state.openUntil ? Math.max(0, state.openUntil.getTime() - now.getTime()) : 0;
}

function assertNever(value: never): never {
  throw new Error(`unhandled outcome ${JSON.stringify(value)}`);
}
