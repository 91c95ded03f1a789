/**
 * What the dispatcher needs to keep a PIN that arrives in a place reply (x-stor can finish an order
 * there): seal it at once, bound to its order, so the plaintext never reaches a rule, row, event or log.
 */
import type { EncryptedPin } from "@pinflow/contracts";
import type { PlaceResult } from "@pinflow/providers";

/** Seals a PIN for one order (the order id and our reference it was delivered for). */
export interface PinSealer {
  seal(pin: string, binding: { orderId: string; reference: string }): EncryptedPin;
}

/**
 * A place result with any PIN sealed and the plaintext dropped: what the dispatch rules get
 * (`result.pin` is then always null; the sealed PIN travels beside it).
 */
export function sealPlaceReplyPin(
  result: PlaceResult,
  sealer: PinSealer,
  binding: { orderId: string; reference: string },
): { result: PlaceResult; sealedPin: EncryptedPin | null } {
  if (result.kind !== "accepted" || result.pin === null) return { result, sealedPin: null };
  return { result: { ...result, pin: null }, sealedPin: sealer.seal(result.pin, binding) };
}
