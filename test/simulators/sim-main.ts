/**
 * Environment parsing and lifecycle shared by the standalone simulator entry points
 * (znet-main, xstor-main).
 */

/** A non-negative number from the environment, or `fallback` when unset/blank; exits with 2 when invalid. */
export function envNumber(tag: string, name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === "") return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0) {
    console.error(`${tag}: ${name} must be a non-negative number, got ${JSON.stringify(raw)}`);
    process.exit(2);
  }
  return n;
}

/** `<prefix>_COMPLETE_MIN_MS` / `<prefix>_COMPLETE_MAX_MS` (defaults 2000 / 10000): each order completes after a uniform random delay in [min, max]. */
export function completionWindow(tag: string, prefix: string): { minMs: number; maxMs: number; completeAfterMs: () => number } {
  const minName = `${prefix}_COMPLETE_MIN_MS`;
  const maxName = `${prefix}_COMPLETE_MAX_MS`;
  const minMs = envNumber(tag, minName, 2000);
  const maxMs = envNumber(tag, maxName, Math.max(minMs, 10000));
  if (maxMs < minMs) {
    console.error(`${tag}: ${maxName} (${maxMs}) is below ${minName} (${minMs})`);
    process.exit(2);
  }
  return { minMs, maxMs, completeAfterMs: () => minMs + Math.random() * (maxMs - minMs) };
}

/** Logs one request line to stdout with a timestamp. */
export function logRequestLine(line: string): void {
  console.log(`${new Date().toISOString()} ${line}`);
}

/** Stops the simulator and exits on SIGINT/SIGTERM. */
export function stopOnSignal(sim: { stop(): Promise<void> }): void {
  const shutdown = (): void => {
    void sim.stop().then(() => process.exit(0));
  };
  process.once("SIGINT", shutdown);
  process.once("SIGTERM", shutdown);
}
