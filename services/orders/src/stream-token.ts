import { createHmac, timingSafeEqual } from "node:crypto";

/**
 * A short-lived, signed permission to open one order's live stream (and its page) without an API
 * key: a browser's EventSource cannot send an Authorization header. Issued to the order's owner
 * (its tenant's customer key) by `POST /v1/orders/:id/stream-token`; bound to the order id, its
 * tenant and the issuing key id; valid until `expiresAt`. Form: `st1.<payload>.<mac>`, payload the
 * base64url JSON `{o, t, k, e}`, mac the base64url HMAC-SHA256 of `st1.<payload>` under the
 * server's STREAM_TOKEN_SECRET (shared by every orders replica). Pure: time is passed in.
 */
export interface StreamGrant {
  orderId: string;
  tenantId: string;
  /** The customer key that asked for the token: its connection bound applies to the stream. */
  keyId: string;
  /** Seconds since the epoch. */
  expiresAt: number;
}

export type TokenCheck = { ok: true; grant: StreamGrant } | { ok: false; reason: "malformed" | "bad_signature" | "expired" };

const PREFIX = "st1";

function mac(secret: string, signed: string): Buffer {
  return createHmac("sha256", secret).update(signed).digest();
}

export function signStreamToken(grant: StreamGrant, secret: string): string {
  const payload = Buffer.from(JSON.stringify({ o: grant.orderId, t: grant.tenantId, k: grant.keyId, e: grant.expiresAt })).toString("base64url");
  const signed = `${PREFIX}.${payload}`;
  return `${signed}.${mac(secret, signed).toString("base64url")}`;
}

/** Whether `token` is one of ours, unchanged and unexpired at `nowSeconds`; the signature is compared in constant time. */
export function verifyStreamToken(token: string, secret: string, nowSeconds: number): TokenCheck {
  const parts = token.split(".");
  if (parts.length !== 3 || parts[0] !== PREFIX || token.length > 1024) return { ok: false, reason: "malformed" };
  const [, payload, signature] = parts as [string, string, string];
  const expected = mac(secret, `${PREFIX}.${payload}`);
  const given = Buffer.from(signature, "base64url");
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return { ok: false, reason: "bad_signature" };
  let data: unknown;
  try {
    data = JSON.parse(Buffer.from(payload, "base64url").toString("utf8"));
  } catch {
    return { ok: false, reason: "malformed" };
  }
  const d = data as Record<string, unknown>;
  if (typeof d.o !== "string" || typeof d.t !== "string" || typeof d.k !== "string" || typeof d.e !== "number") return { ok: false, reason: "malformed" };
  if (nowSeconds >= d.e) return { ok: false, reason: "expired" };
  return { ok: true, grant: { orderId: d.o, tenantId: d.t, keyId: d.k, expiresAt: d.e } };
}
