import type { RequestHandler } from "express";
import pino from "pino";
import { Registry } from "prom-client";
import { newApiKey, type Role } from "./api-key.js";
import { Authenticator } from "./authenticator.js";
import { authenticate, authFailuresCounter } from "./http.js";
import type { KeyLookup, StoredKey } from "./key-store.js";

/**
 * Keys held in memory, for tests of one service's HTTP shell without the orders database: issue
 * keys, then put `middleware` in front of the app (as `startService` does with the real store).
 */
export class MemoryKeys implements KeyLookup {
  private readonly keys = new Map<string, StoredKey>();

  issue(role: Role, tenantId: string | null = null): string {
    const key = newApiKey();
    this.keys.set(key.keyId, { keyId: key.keyId, role, tenantId, secretHash: key.secretHash, active: true });
    return key.token;
  }

  async find(keyId: string): Promise<StoredKey | null> {
    return this.keys.get(keyId) ?? null;
  }

  middleware(registry: Registry = new Registry()): RequestHandler {
    return authenticate({ authenticator: new Authenticator(this), logger: pino({ level: "silent" }), failures: authFailuresCounter(registry) });
  }
}
