/**
 * The provider port of the dispatcher: one adapter per provider, behind one interface (znet, x-stor).
 */
import { randomInt } from "node:crypto";
import type { ProviderName } from "@pinflow/contracts";
import type { BalanceResult, CheckResult, PlaceRequest, PlaceResult, XstorClient, ZnetClient } from "@pinflow/providers";

export interface DispatchProvider {
  readonly name: ProviderName;
  /** Never throws for provider behaviour. */
  place(req: PlaceRequest): Promise<PlaceResult>;
  /** Never throws for provider behaviour: what the provider knows about OUR reference. */
  check(reference: string): Promise<CheckResult>;
  balance(): Promise<BalanceResult>;
}

export type ProviderRegistry = ReadonlyMap<ProviderName, DispatchProvider>;

export function providerRegistry(providers: readonly DispatchProvider[]): ProviderRegistry {
  return new Map(providers.map((p) => [p.name, p]));
}

/**
 * A reference: digits only, 18 of them — the millisecond time (13 digits until the year 2286)
 * followed by 5 random digits. It satisfies both providers: a znet `referans` must be digits, an
 * x-stor `order_uuid` is any unique string. Unique in our table (a collision there draws again).
 */
export function znetReference(nowMs: number, random5: number): string {
  if (!Number.isSafeInteger(nowMs) || nowMs < 0) throw new RangeError("nowMs must be a non-negative integer");
  if (!Number.isInteger(random5) || random5 < 0 || random5 > 99_999) throw new RangeError("random5 must be in 0..99999");
  return `${String(nowMs).padStart(13, "0")}${String(random5).padStart(5, "0")}`;
}

/** A fresh reference for one attempt (one offer of one order). */
export function newReference(clock: () => number = Date.now): string {
  return znetReference(clock(), randomInt(100_000));
}

export class ZnetProvider implements DispatchProvider {
  readonly name = "znet" as const;

  constructor(private readonly client: ZnetClient) {}

  place(req: PlaceRequest): Promise<PlaceResult> {
    return this.client.place(req);
  }

  /** pin_kontrol with the reference as tahsilat_api_islem_id. */
  check(reference: string): Promise<CheckResult> {
    return this.client.check(reference);
  }

  balance(): Promise<BalanceResult> {
    return this.client.balance();
  }
}

/** x-stor: the reference is sent as `order_uuid` on every attempt and looked up by it (`check?uuid=1`). */
export class XstorProvider implements DispatchProvider {
  readonly name = "xstor" as const;

  constructor(private readonly client: XstorClient) {}

  place(req: PlaceRequest): Promise<PlaceResult> {
    return this.client.place(req);
  }

  check(reference: string): Promise<CheckResult> {
    return this.client.checkOne(reference);
  }

  balance(): Promise<BalanceResult> {
    return this.client.balance();
  }
}
