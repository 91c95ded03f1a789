import { readFileSync } from "node:fs";
import { z } from "zod";

const CatalogFile = z.object({
  packages: z.array(z.object({ id: z.string().min(1), name: z.string().min(1) }).loose()).min(1),
});

export interface SellablePackage {
  id: string;
  name: string;
}

/** The packages customers may order: ids and names from the shared catalog file (routes are the dispatcher's business). */
export class PackageCatalog {
  private readonly byId: Map<string, SellablePackage>;

  constructor(packages: readonly SellablePackage[]) {
    this.byId = new Map(packages.map((p) => [p.id, { id: p.id, name: p.name }]));
  }

  static fromFile(path: string): PackageCatalog {
    const parsed = CatalogFile.parse(JSON.parse(readFileSync(path, "utf8")));
    return new PackageCatalog(parsed.packages);
  }

  get(id: string): SellablePackage | undefined {
    return this.byId.get(id);
  }

  list(): SellablePackage[] {
    return [...this.byId.values()];
  }
}
