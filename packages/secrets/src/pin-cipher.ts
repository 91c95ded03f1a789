import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";

/** The encrypted form of a PIN, as carried in events and stored in tables. */
export interface SealedPin {
  alg: "A256GCM";
  keyId: string;
  iv: string;
  tag: string;
  ciphertext: string;
}

export class PinKeyError extends Error {
  override name = "PinKeyError";
}

/**
 * AES-256-GCM with named keys: `seal` uses the current key, `open` any key it
 * knows, so keys can be rotated without re-encrypting history.
 * Keys come from configuration as `keyId:base64key[,keyId:base64key…]`, the first one current.
 */
export class PinCipher {
  private readonly keys: Map<string, Buffer>;
  private readonly currentKeyId: string;

  constructor(keyring: string) {
    const entries = keyring
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean)
      .map((entry) => {
        const at = entry.indexOf(":");
        if (at <= 0) throw new PinKeyError("PIN key entries must look like keyId:base64key");
        const key = Buffer.from(entry.slice(at + 1), "base64");
        if (key.length !== 32) throw new PinKeyError(`PIN key ${entry.slice(0, at)} must be 32 bytes (base64)`);
        return [entry.slice(0, at), key] as const;
      });
    const first = entries[0];
    if (!first) throw new PinKeyError("no PIN encryption key configured");
    this.keys = new Map(entries);
    this.currentKeyId = first[0];
  }

  seal(pin: string): SealedPin {
    const key = this.keys.get(this.currentKeyId)!;
    const iv = randomBytes(12);
    const cipher = createCipheriv("aes-256-gcm", key, iv);
    const ciphertext = Buffer.concat([cipher.update(pin, "utf8"), cipher.final()]);
    return {
      alg: "A256GCM",
      keyId: this.currentKeyId,
      iv: iv.toString("base64"),
      tag: cipher.getAuthTag().toString("base64"),
      ciphertext: ciphertext.toString("base64"),
    };
  }

  open(sealed: SealedPin): string {
    const key = this.keys.get(sealed.keyId);
    if (!key) throw new PinKeyError(`unknown PIN key id ${sealed.keyId}`);
    const decipher = createDecipheriv("aes-256-gcm", key, Buffer.from(sealed.iv, "base64"));
    decipher.setAuthTag(Buffer.from(sealed.tag, "base64"));
    return Buffer.concat([decipher.update(Buffer.from(sealed.ciphertext, "base64")), decipher.final()]).toString("utf8");
  }
}

/** A fresh keyring string, for development set-ups and tests. */
export function generatePinKeyring(keyId = "k1"): string {
  return `${keyId}:${randomBytes(32).toString("base64")}`;
}
