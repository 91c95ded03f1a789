/**
 * The bound on open live streams per API key, per replica (in memory, like the auth throttle): a
 * key's stream beyond `maxPerKey` is refused (429 too_many_streams) until one of its streams closes.
 */
export class StreamSlots {
  private readonly open = new Map<string, number>();

  constructor(readonly maxPerKey: number) {}

  /** A slot for `keyId`, or null when its streams are at the bound; the release is idempotent. */
  take(keyId: string): (() => void) | null {
    const n = this.open.get(keyId) ?? 0;
    if (n >= this.maxPerKey) return null;
    this.open.set(keyId, n + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.open.get(keyId) ?? 1) - 1;
      if (left <= 0) this.open.delete(keyId);
      else this.open.set(keyId, left);
    };
  }

  inUse(keyId: string): number {
    return this.open.get(keyId) ?? 0;
  }

  /** Open streams on this replica. */
  get total(): number {
    let sum = 0;
    for (const n of this.open.values()) sum += n;
    return sum;
  }
}
