import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

/**
 * API keys: `pf_<keyId>_<secret>`, where the key id is 12 lowercase hex characters (6 random bytes:
 * public, it names the key in lists, logs and events) and the secret is 32 random bytes
 * (base64url). The full token is shown once, when it is issued; only its SHA-256 is stored.
 *
 * Why a plain SHA-256 and not bcrypt/scrypt/argon2: those slow hashes protect *low-entropy*
 * secrets (passwords) against guessing after a database leak. A 256-bit random secret cannot be
 * guessed whatever the hash, so a slow hash adds no protection; it would only make every request
 * pay a deliberate CPU cost that an unauthenticated caller could use to exhaust the service.
 */
export const ROLES = ["customer", "operator", "admin"] as const;
export type Role = (typeof ROLES)[number];

export const KEY_ID_PATTERN = /^[0-9a-f]{12}$/;
const TOKEN_PATTERN = /^pf_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$/;
/** Tenant ids: lowercase, subject- and URL-safe. */
export const TENANT_ID_PATTERN = /^[a-z][a-z0-9-]{0,39}$/;
/** Where orders written before tenants existed (events without a tenant) belong. */
export const LEGACY_TENANT = "legacy";

export interface IssuedKey {
  keyId: string;
  /** The whole token: give it to its holder once; it is never stored or shown again. */
  token: string;
  secretHash: string;
}

export function newApiKey(random: (n: number) => Buffer = randomBytes): IssuedKey {
  const keyId = random(6).toString("hex");
  const token = `pf_${keyId}_${random(32).toString("base64url")}`;
  return { keyId, token, secretHash: hashToken(token) };
}

export function hashToken(token: string): string {
  return createHash("sha256").update(token, "utf8").digest("hex");
}

/** What a presented credential says of itself, before any lookup. */
export type ParsedCredential =
  | { kind: "missing" }
  | { kind: "malformed" }
  | { kind: "key"; keyId: string; token: string };

/** Read `Authorization: Bearer pf_…`. Never returns the token inside an error. */
export function parseAuthorization(header: string | undefined): ParsedCredential {
  if (header === undefined || header.trim() === "") return { kind: "missing" };
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header.trim());
  const token = match?.[1];
  const parts = token ? TOKEN_PATTERN.exec(token) : null;
  if (!token || !parts) return { kind: "malformed" };
  return { kind: "key", keyId: parts[1]!, token };
}

/** Constant-time comparison of a presented token with a stored hash. */
export function tokenMatches(token: string, secretHash: string): boolean {
  const a = Buffer.from(hashToken(token), "hex");
  const b = Buffer.from(secretHash, "hex");
  return a.length === b.length && timingSafeEqual(a, b);
}
