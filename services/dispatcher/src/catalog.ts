/** The catalog file (config/catalog.json): sellable packages and their ordered provider offers. */
import { readFileSync } from "node:fs";
import { Money, PackageId, ProviderName } from "@pinflow/contracts";
import { z } from "zod";

export const CatalogOffer = z
  .object({
    provider: ProviderName,
    /**
     * The provider's own product id in its product list (znet `pin_listesi` item `id`, x-stor `products`
     * item `id`). Once that list is imported (import-catalog), product codes and price come from it.
     */
    productId: z.string().trim().min(1).max(64).optional(),
    /** Product codes used while the provider's list is not imported (znet: oyun, kupur; x-stor: productId, playerParam?, extraParam?). */
    productCode: z.record(z.string(), z.string().min(1)).optional(),
    /** The most we pay (TRY): an offer whose imported price is higher is refused without calling. */
    maxCost: Money,
  })
  .refine((o) => o.productId !== undefined || o.productCode !== undefined, { message: "an offer needs productId or productCode" });
export type CatalogOffer = z.infer<typeof CatalogOffer>;

export const CatalogPackage = z.object({
  id: PackageId,
  name: z.string().min(1),
  offers: z.array(CatalogOffer),
});

export const Catalog = z
  .object({ packages: z.array(CatalogPackage) })
  .refine((c) => new Set(c.packages.map((p) => p.id)).size === c.packages.length, { message: "duplicate package id" });
export type Catalog = z.infer<typeof Catalog>;

export class CatalogError extends Error {
  override name = "CatalogError";
}

/** Parse a catalog document; a bad file stops the service with the first problems named. */
export function parseCatalog(text: string, source = "catalog"): Catalog {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new CatalogError(`${source}: not JSON (${(error as Error).message.slice(0, 120)})`, { cause: error });
  }
  const parsed = Catalog.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues
      .slice(0, 5)
      .map((i) => `${i.path.join(".")}: ${i.message}`)
      .join("; ");
    throw new CatalogError(`${source}: ${problems}`);
  }
  return parsed.data;
}

export function readCatalogFile(path: string): Catalog {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new CatalogError(`cannot read catalog file ${path}: ${(error as NodeJS.ErrnoException).code ?? "error"}`, { cause: error });
  }
  return parseCatalog(text, path);
}
