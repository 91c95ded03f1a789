import type { PinCipher, SealedPin } from "@pinflow/secrets";

/**
 * A webhook's signing secret at rest: sealed with the PIN keyring (AES-256-GCM), bound to its webhook
 * and tenant, so a sealed secret copied to another row does not open. Signing needs the secret
 * itself, which is why it is encrypted rather than hashed.
 */
const binding = (w: { webhookId: string; tenantId: string }) => ({ orderId: `webhook:${w.webhookId}`, reference: w.tenantId });

export function sealWebhookSecret(cipher: PinCipher, secret: string, webhook: { webhookId: string; tenantId: string }): SealedPin {
  return cipher.seal(secret, binding(webhook));
}

export function openWebhookSecret(cipher: PinCipher, sealed: SealedPin, webhook: { webhookId: string; tenantId: string }): string {
  return cipher.open(sealed, binding(webhook));
}
