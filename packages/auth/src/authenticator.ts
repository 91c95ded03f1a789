import { parseAuthorization, tokenMatches } from "./api-key.js";
import type { KeyLookup } from "./key-store.js";
import type { Principal } from "./principal.js";
import { FailureThrottle } from "./throttle.js";

/** Why an authentication failed (a metric label and a log field; never the key). */
export type AuthFailure = "missing" | "malformed" | "unknown_key" | "wrong_secret" | "revoked" | "throttled";

export type AuthOutcome =
  | { ok: true; principal: Principal }
  | { ok: false; reason: AuthFailure; keyId: string | null; retryAfterMs: number };

export interface AuthenticatorOptions {
  /** Failed attempts per client, and per key id, within the window before further ones answer 429 (default 20). */
  maxFailures?: number;
  windowMs?: number;
  now?: () => number;
}

/**
 * Checks the `Authorization` header against the stored keys. Failures are counted per client and
 * per key id: a throttled client is refused before any lookup; a key id under attack answers 429
 * to wrong secrets (its holder's right secret still passes: a 256-bit secret cannot be guessed, so
 * refusing it would only let anyone who knows a key id lock its holder out).
 */
export class Authenticator {
  private readonly byClient: FailureThrottle;
  private readonly byKey: FailureThrottle;

  constructor(
    private readonly keys: KeyLookup,
    opts: AuthenticatorOptions = {},
  ) {
    const limits = { maxFailures: opts.maxFailures ?? 20, windowMs: opts.windowMs ?? 60_000 };
    this.byClient = new FailureThrottle(limits, opts.now);
    this.byKey = new FailureThrottle(limits, opts.now);
  }

  /** Throws only when the key store cannot be read (the caller answers 503). */
  async authenticate(header: string | undefined, client: string): Promise<AuthOutcome> {
    const clientWait = this.byClient.retryAfterMs(client);
    if (clientWait > 0) return { ok: false, reason: "throttled", keyId: null, retryAfterMs: clientWait };
    const credential = parseAuthorization(header);
    if (credential.kind !== "key") return this.failed(client, null, credential.kind);
    const stored = await this.keys.find(credential.keyId);
    if (!stored) return this.failed(client, credential.keyId, "unknown_key");
    if (!tokenMatches(credential.token, stored.secretHash)) {
      const keyWait = this.byKey.retryAfterMs(stored.keyId);
      const outcome = this.failed(client, stored.keyId, "wrong_secret");
      return keyWait > 0 ? { ok: false, reason: "throttled", keyId: stored.keyId, retryAfterMs: keyWait } : outcome;
    }
    if (!stored.active) return this.failed(client, stored.keyId, "revoked");
    return { ok: true, principal: { keyId: stored.keyId, role: stored.role, tenantId: stored.tenantId } };
  }

  private failed(client: string, keyId: string | null, reason: AuthFailure): AuthOutcome {
    this.byClient.fail(client);
    if (keyId !== null) this.byKey.fail(keyId);
    return { ok: false, reason, keyId, retryAfterMs: 0 };
  }
}
