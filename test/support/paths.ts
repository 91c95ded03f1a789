import { fileURLToPath } from "node:url";
import { resolve } from "node:path";

/** The repository root, found from this compiled file (test/dist/support/paths.js). */
export const REPO_ROOT = resolve(fileURLToPath(new URL("../../..", import.meta.url)));
export const CATALOG_FILE = resolve(REPO_ROOT, "config/catalog.json");
export const serviceMain = (name: ServiceName) => resolve(REPO_ROOT, "services", name, "dist/start.js");
/** The orders service's admin command (tenants and API keys). */
export const adminCli = () => resolve(REPO_ROOT, "services/orders/dist/admin.js");
export type ServiceName = "orders" | "dispatcher" | "status-poller";
export const SERVICE_NAMES: readonly ServiceName[] = ["orders", "dispatcher", "status-poller"];
