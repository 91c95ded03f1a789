/**
 * Failed authentications per client (or per key id) in a fixed window: after `maxFailures` in
 * `windowMs` the subject is throttled until its window ends. In memory, per process (each replica
 * counts its own); bounded, so a flood of distinct subjects cannot grow it without limit.
 */
export class FailureThrottle {
  private readonly windows = new Map<string, { start: number; failures: number }>();

  constructor(
    private readonly opts: { maxFailures: number; windowMs: number; maxSubjects?: number },
    private readonly now: () => number = Date.now,
  ) {}

  /** Milliseconds until `subject` may try again, 0 when it is not throttled. */
  retryAfterMs(subject: string): number {
    const w = this.current(subject);
    return w && w.failures >= this.opts.maxFailures ? w.start + this.opts.windowMs - this.now() : 0;
  }

  fail(subject: string): void {
    const w = this.current(subject);
    if (w) {
      w.failures++;
      return;
    }
    if (this.windows.size >= (this.opts.maxSubjects ?? 10_000)) this.evict();
    this.windows.set(subject, { start: this.now(), failures: 1 });
  }

  private current(subject: string): { start: number; failures: number } | undefined {
    const w = this.windows.get(subject);
    if (w && this.now() - w.start >= this.opts.windowMs) {
      this.windows.delete(subject);
      return undefined;
    }
    return w;
  }

  private evict(): void {
    const now = this.now();
    for (const [subject, w] of this.windows) if (now - w.start >= this.opts.windowMs) this.windows.delete(subject);
    // Still full: forget the oldest window (insertion order).
    if (this.windows.size >= (this.opts.maxSubjects ?? 10_000)) {
      const oldest = this.windows.keys().next().value;
      if (oldest !== undefined) this.windows.delete(oldest);
    }
  }
}
