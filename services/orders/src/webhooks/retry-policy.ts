/** When a failed delivery is tried again: `baseMs` × 3^(try-1), capped, ±10 % jitter; after `maxAttempts` tries it is given up on. */
export interface RetryPolicy {
  baseMs: number;
  maxDelayMs: number;
  maxAttempts: number;
}

/** The delay before try `attempt + 1` after try `attempt` failed, or null when no try is left. `random` in [0, 1). */
export function retryDelayMs(policy: RetryPolicy, attempt: number, random: number = Math.random()): number | null {
  if (attempt >= policy.maxAttempts) return null;
  const plain = Math.min(policy.maxDelayMs, policy.baseMs * 3 ** Math.min(attempt - 1, 30));
  return Math.round(plain * (0.9 + 0.2 * random));
}
