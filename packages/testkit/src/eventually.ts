/** Retry `probe` until it returns without throwing, or fail with its last error after `timeoutMs`. */
export async function eventually<T>(probe: () => Promise<T> | T, timeoutMs = 10_000, intervalMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      return await probe();
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      const err = new Error(`eventually: gave up after ${timeoutMs} ms: ${(lastError as Error)?.message ?? lastError}`);
      err.cause = lastError;
      throw err;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
