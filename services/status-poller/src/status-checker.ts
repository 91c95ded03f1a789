/**
 * Provider adapters for status checks. Each turns its provider's reply into the
 * poller's `CheckResult` and seals a PIN the moment it arrives, so the plaintext
 * never leaves the adapter (no rule, log line or event sees it).
 */
import type { EncryptedPin, ProviderName } from "@pinflow/contracts";
import { XSTOR_CHECK_BATCH_SIZE, type CheckResult as ProviderCheckResult, type XstorCheckBy } from "@pinflow/providers";
import type { CheckResult } from "./poll.js";

/** One order to ask about: its provider reference, and the order a PIN found for it is sealed to. */
export interface CheckTarget {
  orderId: string;
  reference: string;
}

export interface StatusChecker {
  readonly provider: ProviderName;
  /** How many references one call can ask about (1 = no batch check, e.g. znet pin_kontrol). */
  readonly maxBatch: number;
  /**
   * Ask about up to `maxBatch` orders. Never throws for provider or network behaviour; every
   * reference asked about gets a result (missing ones count as unknown), keyed by reference.
   */
  check(targets: readonly CheckTarget[]): Promise<Map<string, CheckResult>>;
}

/** Seals a PIN for its order id and reference (AES-GCM associated data): it opens for no other order. */
export interface PinSealer {
  seal(pin: string, binding: CheckTarget): EncryptedPin;
}

/** The single-reference check every provider client offers. */
export interface SingleCheckClient {
  check(reference: string): Promise<ProviderCheckResult>;
}

/** znet: `pin_kontrol` per reference (znet documents a batch check only for bills). */
export class ZnetStatusChecker implements StatusChecker {
  readonly provider = "znet" as const;
  readonly maxBatch = 1;

  constructor(
    private readonly client: SingleCheckClient,
    private readonly sealer: PinSealer,
  ) {}

  async check(targets: readonly CheckTarget[]): Promise<Map<string, CheckResult>> {
    const results = new Map<string, CheckResult>();
    for (const target of targets) {
      results.set(target.reference, sealResult(await this.client.check(target.reference), this.sealer, target));
    }
    return results;
  }
}

/** The batch check of x-stor's client (`check?orders=[…]`, by order id or by our order_uuid). */
export interface BatchCheckClient {
  check(references: readonly string[], by: XstorCheckBy): Promise<Map<string, ProviderCheckResult>>;
}

/**
 * x-stor: one `check?orders=[…]&uuid=1` call asks about up to 50 orders by our
 * reference (the dispatcher places with `order_uuid` = reference). The
 * scheduler hands over at most `maxBatch` references, so one call is one
 * request (and one permit of the provider's gate).
 */
export class XstorStatusChecker implements StatusChecker {
  readonly provider = "xstor" as const;
  readonly maxBatch = XSTOR_CHECK_BATCH_SIZE;

  constructor(
    private readonly client: BatchCheckClient,
    private readonly sealer: PinSealer,
  ) {}

  async check(targets: readonly CheckTarget[]): Promise<Map<string, CheckResult>> {
    const replies = await this.client.check(
      targets.map((t) => t.reference),
      "uuid",
    );
    const results = new Map<string, CheckResult>();
    for (const target of targets) {
      const reply = replies.get(target.reference);
      results.set(
        target.reference,
        reply === undefined ? { kind: "unknown", cause: "x-stor gave no answer for this reference" } : sealResult(reply, this.sealer, target),
      );
    }
    return results;
  }
}

/** Seal a PIN for the order it was asked for, and make sure no provider text carries it on. */
export function sealResult(result: ProviderCheckResult, sealer: PinSealer, target: CheckTarget): CheckResult {
  switch (result.kind) {
    case "done":
      return { kind: "done", pin: sealer.seal(result.pin, target), note: withoutPin(result.note, result.pin) };
    case "pending":
    case "cancelled":
      return { kind: result.kind, note: result.note };
    case "not_found":
      return { kind: "not_found", message: result.message };
    case "unknown":
      return result.retryAfterMs === undefined
        ? { kind: "unknown", cause: maskStatusPinField(result.cause) }
        : { kind: "unknown", cause: maskStatusPinField(result.cause), retryAfterMs: result.retryAfterMs };
    default: {
      const never: never = result;
      throw new Error(`unexpected check result ${JSON.stringify(never)}`);
    }
  }
}

function withoutPin(note: string | null, pin: string): string | null {
  if (note === null || pin.trim() === "") return note;
  return note.split(pin).join("***");
}

/**
 * An unreadable status reply is quoted in its cause (e.g. an unknown znet state
 * `OK|9|<pin>|…`, or a cut-off x-stor JSON body with `"pin":"…"`): mask the PIN
 * field of anything shaped like a status line or a JSON pin/code field.
 */
export function maskStatusPinField(text: string): string {
  return text
    .replace(/(OK\|[^|"\\]{0,20}\|)[^|"\\]*/g, "$1***")
    .replace(/(\\?"(?:pin|code)\\?"\s*:\s*\\?")[^"\\]*/gi, "$1***");
}
