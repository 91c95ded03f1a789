/**
 * Catalog import: a provider's product list (znet `pin_listesi`, x-stor `products`) stored in the
 * dispatcher's database with the codes a place call needs, and the routes of the mapping file
 * (config/catalog.json) written in the same transaction. Nothing here runs per order.
 */
import type { ProviderName } from "@pinflow/contracts";
import { inTransaction, type Pool } from "@pinflow/pg";
import type { XstorProduct, ZnetProduct } from "@pinflow/providers";
import type { Catalog } from "./catalog.js";
import { compareMoney } from "./dispatch.js";
import { writeRoutes } from "./pg-dispatch-store.js";

/** One product as stored: what a place call needs is in `productCode`, read once here, never per order. */
export interface ImportedProduct {
  productId: string;
  name: string;
  price: string;
  productCode: Record<string, string>;
  available: boolean;
  details: Record<string, unknown>;
}

export class CatalogImportError extends Error {
  override name = "CatalogImportError";
}

/** znet: `oyun_bilgi_id` is sent as `oyun`, `kupur` as `kupur`. */
export function fromZnet(items: readonly ZnetProduct[]): ImportedProduct[] {
  return items.map((p) => ({
    productId: p.id,
    name: p.name,
    price: p.price,
    productCode: { oyun: p.oyunBilgiId, kupur: p.kupur },
    available: true,
    details: { description: p.description, gameId: p.gameId, gameName: p.gameName, oyunBilgiId: p.oyunBilgiId, kupur: p.kupur },
  }));
}

/** x-stor: the product id, and its first two `params` as the player and extra parameters. */
export function fromXstor(items: readonly XstorProduct[]): ImportedProduct[] {
  return items.map((p) => {
    const productCode: Record<string, string> = { productId: p.id };
    if (p.params[0] !== undefined) productCode["playerParam"] = p.params[0];
    if (p.params[1] !== undefined) productCode["extraParam"] = p.params[1];
    return {
      productId: p.id,
      name: p.name,
      price: p.price,
      productCode,
      available: p.available,
      details: { categoryName: p.categoryName, params: p.params, productType: p.productType, qtyValues: p.qtyValues },
    };
  });
}

/**
 * Problems that stop an import (the list is inconsistent, or the mapping names a product the
 * provider does not list), and warnings that do not (price above the maximum, unavailable, extra
 * params an order cannot fill).
 */
export function checkImport(provider: ProviderName, products: readonly ImportedProduct[], catalog: Catalog): { problems: string[]; warnings: string[] } {
  const problems: string[] = [];
  const warnings: string[] = [];
  if (products.length === 0) problems.push(`${provider} product list is empty`);
  const byId = new Map<string, ImportedProduct>();
  for (const p of products) {
    if (byId.has(p.productId)) problems.push(`${provider} product id ${JSON.stringify(p.productId)} is listed twice`);
    byId.set(p.productId, p);
  }
  for (const pkg of catalog.packages) {
    for (const [rank, offer] of pkg.offers.entries()) {
      if (offer.provider !== provider || offer.productId === undefined) continue;
      const where = `package ${pkg.id} offer ${rank}`;
      const product = byId.get(offer.productId);
      if (product === undefined) {
        problems.push(`${where}: ${provider} product ${JSON.stringify(offer.productId)} is not in the provider's list`);
        continue;
      }
      if (compareMoney(product.price, offer.maxCost) > 0) {
        warnings.push(`${where}: ${provider} price ${product.price} is above maxCost ${offer.maxCost}; orders will skip this offer`);
      }
      if (!product.available) warnings.push(`${where}: ${provider} product ${product.productId} is marked unavailable`);
      const params = product.details["params"];
      if (Array.isArray(params) && params.length > 2) {
        warnings.push(`${where}: ${provider} product ${product.productId} asks for ${params.length} params; orders fill only the first two`);
      }
    }
  }
  return { problems, warnings };
}

export interface ImportSummary {
  provider: ProviderName;
  products: number;
  packages: number;
  routes: number;
  warnings: string[];
}

/**
 * Check, then in ONE transaction replace the provider's stored products and write every route of the
 * mapping. Any problem or database error → nothing changed (CatalogImportError for problems).
 */
export async function importCatalog(
  pool: Pool,
  provider: ProviderName,
  products: readonly ImportedProduct[],
  catalog: Catalog,
  now: Date = new Date(),
): Promise<ImportSummary> {
  const { problems, warnings } = checkImport(provider, products, catalog);
  if (problems.length > 0) {
    const shown = problems.slice(0, 10).join("; ");
    throw new CatalogImportError(`${provider} catalog import refused (${problems.length} problem(s)): ${shown}`);
  }
  await inTransaction(pool, async (db) => {
    await db.query("DELETE FROM provider_product WHERE provider = $1", [provider]);
    for (const p of products) {
      await db.query(
        `INSERT INTO provider_product (provider, product_id, name, price, product_code, available, details, imported_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
        [provider, p.productId, p.name, p.price, JSON.stringify(p.productCode), p.available, JSON.stringify(p.details), now],
      );
    }
    await writeRoutes(db, catalog);
  });
  return {
    provider,
    products: products.length,
    packages: catalog.packages.length,
    routes: catalog.packages.reduce((n, p) => n + p.offers.length, 0),
    warnings,
  };
}
