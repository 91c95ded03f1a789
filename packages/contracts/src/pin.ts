import { z } from "zod";

/** A PIN encrypted with AES-256-GCM; the plaintext never travels in events. */
export const EncryptedPin = z.object({
  alg: z.literal("A256GCM"),
  keyId: z.string().min(1).max(64),
  iv: z.string().min(1),
  tag: z.string().min(1),
  ciphertext: z.string().min(1),
  /**
   * 1: sealed with the order id and provider reference as associated data, so it opens only for that
   * order and reference. Absent: sealed before PINs were bound (still opens, without a binding).
   */
  aad: z.literal(1).optional(),
});
export type EncryptedPin = z.infer<typeof EncryptedPin>;
