import { spawn } from "node:child_process";
import { resolve } from "node:path";
import { REPO_ROOT } from "./paths.js";

export const IMPORT_CATALOG = resolve(REPO_ROOT, "services/dispatcher/dist/import-catalog.js");

export interface ImportRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run the dispatcher's catalog import command (`import-catalog.js`) with exactly `env`. */
export function runImportCatalog(args: string[], env: Record<string, string>): Promise<ImportRun> {
  return new Promise((resolvePromise) => {
    const child = spawn(process.execPath, [IMPORT_CATALOG, ...args], { env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (b: Buffer) => (stdout += b.toString("utf8")));
    child.stderr.on("data", (b: Buffer) => (stderr += b.toString("utf8")));
    child.once("exit", (code) => resolvePromise({ code, stdout, stderr }));
  });
}

/**
 * What an operator does before the dispatcher takes orders: import each configured provider's
 * product list (prices and codes) into the dispatcher's database. `env` holds DATABASE_URL,
 * CATALOG_FILE and the providers' accounts (as for the dispatcher); throws when an import fails.
 */
export async function importProviderCatalogs(env: Record<string, string>): Promise<void> {
  const providers = [env["ZNET_BASE_URL"] ? "znet" : null, env["XSTOR_BASE_URL"] ? "xstor" : null].filter((p): p is string => p !== null);
  for (const provider of providers) {
    const run = await runImportCatalog(["--provider", provider], { PATH: process.env.PATH ?? "", ...env });
    if (run.code !== 0) throw new Error(`${provider} catalog import failed (${run.code}): ${run.stderr.slice(-500)}`);
  }
}
