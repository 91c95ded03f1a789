/**
 * Import a provider's product list into the dispatcher's database and map it to our packages:
 *
 *   node services/dispatcher/dist/import-catalog.js --provider znet|xstor [--mapping config/catalog.json]
 *
 * Environment: DATABASE_URL (the dispatcher's database) and the provider's account, as for the
 * service (ZNET_BASE_URL, ZNET_CODE, ZNET_PASSWORD[_FILE] / XSTOR_BASE_URL, XSTOR_TOKEN[_FILE]).
 * `--mapping` defaults to CATALOG_FILE. The list is fetched over HTTP, checked, and stored with the
 * mapping's routes in ONE transaction; any problem (sloppy JSON, a mapped product missing from the
 * list, ...) leaves the database unchanged and exits non-zero with the reason (and the body's first
 * bytes for bad JSON). Exit codes: 0 imported, 1 refused or failed, 2 bad usage or configuration.
 */
import { parseArgs } from "node:util";
import { ProviderName } from "@pinflow/contracts";
import { createPool } from "@pinflow/pg";
import { XstorClient, ZnetClient } from "@pinflow/providers";
import { readCatalogFile } from "./catalog.js";
import { fromXstor, fromZnet, importCatalog, type ImportedProduct } from "./catalog-import.js";
import { loadProviderConfigs, type ProviderConfigs } from "./config.js";
import { prepareDatabase } from "./runtime.js";

class UsageError extends Error {
  override name = "UsageError";
}

async function fetchProducts(provider: ProviderName, configs: ProviderConfigs): Promise<ImportedProduct[]> {
  switch (provider) {
    case "znet": {
      if (configs.znet === null) throw new UsageError("znet is not configured (set ZNET_BASE_URL, ZNET_CODE, ZNET_PASSWORD[_FILE])");
      const list = await new ZnetClient(configs.znet).products();
      if (!list.ok) throw new Error(`znet pin_listesi could not be imported: ${list.error}`);
      return fromZnet(list.items);
    }
    case "xstor": {
      if (configs.xstor === null) throw new UsageError("xstor is not configured (set XSTOR_BASE_URL, XSTOR_TOKEN[_FILE])");
      const list = await new XstorClient(configs.xstor).products();
      if (!list.ok) throw new Error(`xstor products could not be imported: ${list.error}`);
      return fromXstor(list.items);
    }
    default: {
      const never: never = provider;
      throw new UsageError(`unknown provider ${String(never)}`);
    }
  }
}

async function main(argv: string[]): Promise<number> {
  let args;
  try {
    args = parseArgs({ args: argv, options: { provider: { type: "string" }, mapping: { type: "string" } }, strict: true });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const provider = ProviderName.safeParse(args.values.provider);
  if (!provider.success) throw new UsageError("--provider must be znet or xstor");
  const mappingFile = args.values.mapping ?? process.env["CATALOG_FILE"];
  if (mappingFile === undefined || mappingFile.trim() === "") throw new UsageError("--mapping <file> (or CATALOG_FILE) is required");

  let configs;
  try {
    configs = loadProviderConfigs();
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  // The mapping is read and checked before anything is fetched or written.
  const catalog = readCatalogFile(mappingFile);
  const products = await fetchProducts(provider.data, configs);

  const pool = createPool(configs.databaseUrl, 2);
  try {
    await prepareDatabase(pool);
    const summary = await importCatalog(pool, provider.data, products, catalog);
    for (const warning of summary.warnings) process.stderr.write(`warning: ${warning}\n`);
    process.stdout.write(`${JSON.stringify({ imported: summary.provider, products: summary.products, packages: summary.packages, routes: summary.routes, mapping: mappingFile })}\n`);
    return 0;
  } finally {
    await pool.end();
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    const e = error as Error;
    process.stderr.write(`import-catalog: ${e?.name ?? "Error"}: ${e?.message ?? String(error)}\n`);
    if (error instanceof UsageError) {
      process.stderr.write("usage: node services/dispatcher/dist/import-catalog.js --provider znet|xstor [--mapping config/catalog.json]\n");
      process.exit(2);
    }
    process.exit(1);
  },
);
