/**
 * The provider port of the dispatcher: one adapter per provider, behind one interface, so a
 * second provider (x-stor) is one more class and one more config block.
 */
import { randomInt } from "node:crypto";
import type { ProviderName } from "@pinflow/contracts";
import type { BalanceResult, CheckResult, PlaceRequest, PlaceResult, ZnetClient } from "@pinflow/providers";

export interface DispatchProvider {
  readonly name: ProviderName;
  /** A fresh reference in the provider's format; called once per order (again only if it collides in our table). */
  newReference(): string;
  /** Never throws for provider behaviour. */
  place(req: PlaceRequest): Promise<PlaceResult>;
  /** Never throws for provider behaviour. */
  check(reference: string): Promise<CheckResult>;
  balance(): Promise<BalanceResult>;
}

export type ProviderRegistry = ReadonlyMap<ProviderName, DispatchProvider>;

export function providerRegistry(providers: readonly DispatchProvider[]): ProviderRegistry {
  return new Map(providers.map((p) => [p.name, p]));
}

/**
 * A znet `referans`: digits only, 18 of them — the millisecond time (13 digits until the year 2286)
 * followed by 5 random digits. Unique in our table (a collision there draws again).
 */
export function znetReference(nowMs: number, random5: number): string {
  if (!Number.isSafeInteger(nowMs) || nowMs < 0) throw new RangeError("nowMs must be a non-negative integer");
  if (!Number.isInteger(random5) || random5 < 0 || random5 > 99_999) throw new RangeError("random5 must be in 0..99999");
  return `${String(nowMs).padStart(13, "0")}${String(random5).padStart(5, "0")}`;
}

export class ZnetProvider implements DispatchProvider {
  readonly name = "znet" as const;

  constructor(
    private readonly client: ZnetClient,
    private readonly clock: () => number = Date.now,
  ) {}

  newReference(): string {
    return znetReference(this.clock(), randomInt(100_000));
  }

  place(req: PlaceRequest): Promise<PlaceResult> {
    return this.client.place(req);
  }

  check(reference: string): Promise<CheckResult> {
    return this.client.check(reference);
  }

  balance(): Promise<BalanceResult> {
    return this.client.balance();
  }
}
