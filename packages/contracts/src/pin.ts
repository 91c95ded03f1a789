import { z } from "zod";

/** A PIN encrypted with AES-256-GCM; the plaintext never travels in events. */
export const EncryptedPin = z.object({
  alg: z.literal("A256GCM"),
  keyId: z.string().min(1).max(64),
  iv: z.string().min(1),
  tag: z.string().min(1),
  ciphertext: z.string().min(1),
});
export type EncryptedPin = z.infer<typeof EncryptedPin>;
