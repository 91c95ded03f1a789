/** Token-bucket arithmetic, pure: `rate` tokens a second up to `burst`. */
export interface Bucket {
  tokens: number;
  refilledAt: Date;
}

export function refill(bucket: Bucket, now: Date, ratePerSec: number, burst: number): number {
  const elapsed = Math.max(0, now.getTime() - bucket.refilledAt.getTime()) / 1000;
  return Math.min(burst, bucket.tokens + elapsed * ratePerSec);
}

/** How long until one token is there. */
export function msUntilToken(available: number, ratePerSec: number): number {
  return available >= 1 ? 0 : Math.ceil(((1 - available) / ratePerSec) * 1000);
}
