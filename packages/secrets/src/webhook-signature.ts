import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";

/** The header a webhook delivery carries its signature in: `t=<unix seconds>,v1=<hex HMAC-SHA256>`. */
export const WEBHOOK_SIGNATURE_HEADER = "pinflow-signature";

/** How far a signature's timestamp may be from the receiver's clock before it is refused (replays). */
export const DEFAULT_WEBHOOK_TOLERANCE_SECONDS = 300;

/** A fresh signing secret for a webhook endpoint (shown once at registration): `whsec_` + 32 random bytes. */
export function generateWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString("base64url")}`;
}

/** The HMAC-SHA256 (hex) of `<timestamp>.<body>` under `secret`. */
function mac(secret: string, timestamp: number, body: string | Buffer): string {
  return createHmac("sha256", secret).update(`${timestamp}.`).update(body).digest("hex");
}

/** The `Pinflow-Signature` value for `body` sent at `timestamp` (unix seconds). */
export function signWebhook(secret: string, body: string | Buffer, timestamp: number = Math.floor(Date.now() / 1000)): string {
  return `t=${timestamp},v1=${mac(secret, timestamp, body)}`;
}

export type WebhookVerification = { ok: true; timestamp: number } | { ok: false; reason: "malformed" | "bad_signature" | "too_old" };

/**
 * A receiver's check of one delivery: the raw request body (exactly the bytes received, before any
 * JSON parsing), the `Pinflow-Signature` header and the endpoint's secret. Passes when one `v1`
 * signature matches (compared in constant time) and the timestamp is within `toleranceSeconds`
 * of `now` (unix seconds).
 */
export function verifyWebhookSignature(opts: {
  body: string | Buffer;
  header: string | undefined | null;
  secret: string;
  toleranceSeconds?: number;
  now?: number;
}): WebhookVerification {
  const parts = (opts.header ?? "").split(",").map((p) => p.trim().split("="));
  const t = parts.find(([k]) => k === "t")?.[1];
  const signatures = parts.filter(([k, v]) => k === "v1" && v !== undefined && /^[0-9a-f]{64}$/.test(v)).map(([, v]) => Buffer.from(v!, "hex"));
  if (t === undefined || !/^\d{1,12}$/.test(t) || signatures.length === 0) return { ok: false, reason: "malformed" };
  const timestamp = Number(t);
  const expected = Buffer.from(mac(opts.secret, timestamp, opts.body), "hex");
  if (!signatures.some((s) => timingSafeEqual(s, expected))) return { ok: false, reason: "bad_signature" };
  const now = opts.now ?? Math.floor(Date.now() / 1000);
  if (Math.abs(now - timestamp) > (opts.toleranceSeconds ?? DEFAULT_WEBHOOK_TOLERANCE_SECONDS)) return { ok: false, reason: "too_old" };
  return { ok: true, timestamp };
}
