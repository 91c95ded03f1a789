/**
 * Provider adapters for status checks. Each turns its provider's reply into the
 * poller's `CheckResult` and seals a PIN the moment it arrives, so the plaintext
 * never leaves the adapter (no rule, log line or event sees it).
 */
import type { EncryptedPin, ProviderName } from "@pinflow/contracts";
import { maskProviderText, XSTOR_CHECK_BATCH_SIZE, type CheckResult as ProviderCheckResult, type XstorCheckBy } from "@pinflow/providers";
import type { CheckResult, Watch } from "./poll.js";

/**
 * One order to ask about: our reference, the provider's order id where OrderSent recorded one, and
 * the order a PIN found for it is sealed to.
 */
export type CheckTarget = Pick<Watch, "orderId" | "reference" | "providerOrderId">;

/** What a sealed PIN is bound to (AES-GCM associated data). */
export type PinBinding = Pick<CheckTarget, "orderId" | "reference">;

export interface StatusChecker {
  readonly provider: ProviderName;
  /** How many orders one call can ask about (1 = no batch check, e.g. znet pin_kontrol). */
  readonly maxBatch: number;
  /**
   * Orders with the same key can share one call (x-stor: asked by order id, or by our uuid); the
   * scheduler makes one call per key. Default: every order can share a call.
   */
  batchKey?(target: CheckTarget): string;
  /**
   * Ask about up to `maxBatch` orders (of one batch key). Never throws for provider or network
   * behaviour; every order asked about gets a result, keyed by its reference (missing ones count as unknown).
   */
  check(targets: readonly CheckTarget[]): Promise<Map<string, CheckResult>>;
}

/**
 * The provider calls for a list of claimed orders: grouped by the checker's batch key (first
 * appearance order), each group cut into calls of at most `maxBatch`.
 */
export function callsFor<T>(items: readonly T[], targetOf: (item: T) => CheckTarget, checker: Pick<StatusChecker, "maxBatch" | "batchKey">): T[][] {
  const size = Math.max(1, checker.maxBatch);
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const key = checker.batchKey?.(targetOf(item)) ?? "";
    const group = groups.get(key);
    if (group) group.push(item);
    else groups.set(key, [item]);
  }
  const calls: T[][] = [];
  for (const group of groups.values()) {
    for (let i = 0; i < group.length; i += size) calls.push(group.slice(i, i + size));
  }
  return calls;
}

/** Seals a PIN for its order id and reference (AES-GCM associated data): it opens for no other order. */
export interface PinSealer {
  seal(pin: string, binding: PinBinding): EncryptedPin;
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
 * x-stor: one `check?orders=[…]` call asks about up to 50 orders by the provider's `order_id`
 * recorded in OrderSent — the documented call, whose entries carry `order_id` (not our uuid).
 * Orders without one (the dispatcher learnt of the acceptance by reconciling) are asked by our
 * reference with `uuid=1`; an entry is theirs only when it carries that uuid, never by guess. The two
 * ways never share a call (batchKey), so one call is one request (and one permit of the provider's gate).
 */
export class XstorStatusChecker implements StatusChecker {
  readonly provider = "xstor" as const;
  readonly maxBatch = XSTOR_CHECK_BATCH_SIZE;

  constructor(
    private readonly client: BatchCheckClient,
    private readonly sealer: PinSealer,
  ) {}

  batchKey(target: CheckTarget): XstorCheckBy {
    return target.providerOrderId === null ? "uuid" : "order_id";
  }

  async check(targets: readonly CheckTarget[]): Promise<Map<string, CheckResult>> {
    const results = new Map<string, CheckResult>();
    const byOrderId = targets.filter((t) => t.providerOrderId !== null);
    const byUuid = targets.filter((t) => t.providerOrderId === null);
    if (byOrderId.length > 0) {
      const idOf = (t: CheckTarget): string => t.providerOrderId ?? "";
      const shared = duplicates(byOrderId.map(idOf));
      const replies = await this.client.check([...new Set(byOrderId.map(idOf))].filter((id) => !shared.has(id)), "order_id");
      for (const t of byOrderId) {
        // Two watched orders with one x-stor order id: whose answer it is cannot be told.
        if (shared.has(idOf(t))) results.set(t.reference, { kind: "unknown", cause: "another watched order has the same x-stor order_id" });
        else results.set(t.reference, this.result(replies.get(idOf(t)), t));
      }
    }
    if (byUuid.length > 0) {
      const replies = await this.client.check(byUuid.map((t) => t.reference), "uuid");
      for (const t of byUuid) results.set(t.reference, this.result(replies.get(t.reference), t));
    }
    return results;
  }

  private result(reply: ProviderCheckResult | undefined, target: CheckTarget): CheckResult {
    return reply === undefined ? { kind: "unknown", cause: "x-stor gave no answer for this order" } : sealResult(reply, this.sealer, target);
  }
}

function duplicates(values: readonly string[]): Set<string> {
  const seen = new Set<string>();
  const twice = new Set<string>();
  for (const v of values) (seen.has(v) ? twice : seen).add(v);
  return twice;
}

/** Seal a PIN for the order it was asked for, and make sure no provider text carries it on. */
export function sealResult(result: ProviderCheckResult, sealer: PinSealer, target: PinBinding): CheckResult {
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
        ? { kind: "unknown", cause: maskProviderText(result.cause) }
        : { kind: "unknown", cause: maskProviderText(result.cause), retryAfterMs: result.retryAfterMs };
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
