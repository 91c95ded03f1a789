import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";

/** The encrypted form of a PIN, as carried in events and stored in tables. */
export interface SealedPin {
  alg: "A256GCM";
  keyId: string;
  iv: string;
  tag: string;
  ciphertext: string;
  /** 1: sealed with a binding as associated data (see PinBinding); absent: sealed before PINs were bound. */
  aad?: 1;
}

/** What a PIN belongs to: it opens only with the same order id and provider reference. */
export interface PinBinding {
  orderId: string;
  reference: string;
}

/** The associated data of a bound PIN: unambiguous for any two strings (JSON array). */
function associatedData(binding: PinBinding): Buffer {
  return Buffer.from(JSON.stringify(["pinflow-pin-v1", binding.orderId, binding.reference]), "utf8");
}

export class PinKeyError extends Error {
  override name = "PinKeyError";
}

/**
 * AES-256-GCM with named keys: `seal` uses the current key, `open` any key it
 * knows, so keys can be rotated without re-encrypting history. A PIN is sealed
 * for its order id and provider reference (GCM associated data, marked `aad: 1`):
 * opened with any other binding it fails, so a PIN cannot be moved to another
 * order. PINs sealed before binding existed (no `aad`) still open, whatever the binding.
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

  seal(pin: string, binding: PinBinding): SealedPin {
    const key = this.keys.get(this.currentKeyId)!;
    const iv = randomBytes(12);
    const cipher = createCipheriv("aes-256-gcm", key, iv);
    cipher.setAAD(associatedData(binding));
    const ciphertext = Buffer.concat([cipher.update(pin, "utf8"), cipher.final()]);
    return {
      alg: "A256GCM",
      keyId: this.currentKeyId,
      iv: iv.toString("base64"),
      tag: cipher.getAuthTag().toString("base64"),
      ciphertext: ciphertext.toString("base64"),
      aad: 1,
    };
  }

  /** The PIN; throws when the key is unknown, the ciphertext was altered, or it was sealed for another binding. */
  open(sealed: SealedPin, binding: PinBinding): string {
    const key = this.keys.get(sealed.keyId);
    if (!key) throw new PinKeyError(`unknown PIN key id ${sealed.keyId}`);
    const decipher = createDecipheriv("aes-256-gcm", key, Buffer.from(sealed.iv, "base64"));
    if (sealed.aad === 1) decipher.setAAD(associatedData(binding));
    decipher.setAuthTag(Buffer.from(sealed.tag, "base64"));
    return Buffer.concat([decipher.update(Buffer.from(sealed.ciphertext, "base64")), decipher.final()]).toString("utf8");
  }

  /** Whether `sealed` opens for `binding` (the PIN itself is not returned). */
  opens(sealed: SealedPin, binding: PinBinding): boolean {
    try {
      this.open(sealed, binding);
      return true;
    } catch {
      return false;
    }
  }
}

/** A fresh keyring string, for development set-ups and tests. */
export function generatePinKeyring(keyId = "k1"): string {
  return `${keyId}:${randomBytes(32).toString("base64")}`;
}
