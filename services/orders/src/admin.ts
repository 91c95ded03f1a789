/**
 * Tenants and API keys of the orders database (admins; DESIGN §6):
 *   DATABASE_URL=… node services/orders/dist/admin.js tenant create <tenantId> [--name <name>]
 *   DATABASE_URL=… node services/orders/dist/admin.js tenant list
 *   DATABASE_URL=… node services/orders/dist/admin.js key issue --role customer|operator|admin [--tenant <tenantId>] [--label <text>]
 *   DATABASE_URL=… node services/orders/dist/admin.js key list [--tenant <tenantId>]
 *   DATABASE_URL=… node services/orders/dist/admin.js key rotate <keyId> [--grace-seconds <n>]
 *   DATABASE_URL=… node services/orders/dist/admin.js key revoke <keyId>
 * `key issue` and `key rotate` print the new key once, as JSON on stdout (`token`): it is stored
 * only as a hash and cannot be shown again. Migrations run first. Exit 2: bad usage.
 */
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { PgKeyStore, ROLES, UsageError, type Role } from "@pinflow/auth";
import { createPool, migrate } from "@pinflow/pg";

const USAGE = "usage: admin.js tenant create <id> [--name N] | tenant list | key issue --role R [--tenant T] [--label L] | key list [--tenant T] | key rotate <keyId> [--grace-seconds N] | key revoke <keyId>";

async function run(store: PgKeyStore, argv: string[]): Promise<unknown> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: { name: { type: "string" }, role: { type: "string" }, tenant: { type: "string" }, label: { type: "string" }, "grace-seconds": { type: "string" } },
  });
  const [noun, verb, arg] = positionals;
  switch (`${noun} ${verb}`) {
    case "tenant create":
      if (!arg) throw new UsageError(USAGE);
      await store.createTenant(arg, values.name ?? arg);
      return { tenantId: arg, name: values.name ?? arg };
    case "tenant list":
      return { tenants: await store.tenants() };
    case "key issue": {
      const role = values.role as Role;
      if (!ROLES.includes(role)) throw new UsageError(`--role must be one of ${ROLES.join(", ")}`);
      const key = await store.issue({ role, tenantId: values.tenant ?? null, label: values.label ?? "" });
      return { keyId: key.keyId, role, tenantId: values.tenant ?? null, token: key.token };
    }
    case "key list":
      return { keys: await store.list(values.tenant ? { tenantId: values.tenant } : {}) };
    case "key rotate": {
      if (!arg) throw new UsageError(USAGE);
      const grace = Number(values["grace-seconds"] ?? 0);
      if (!Number.isInteger(grace) || grace < 0) throw new UsageError("--grace-seconds must be a whole number ≥ 0");
      const key = await store.rotate(arg, grace);
      return { replaced: arg, keyId: key.keyId, token: key.token, oldKeyValidForSeconds: grace };
    }
    case "key revoke":
      if (!arg) throw new UsageError(USAGE);
      if (!(await store.revoke(arg))) throw new UsageError(`no active key ${arg}`);
      return { revoked: arg };
    default:
      throw new UsageError(USAGE);
  }
}

async function main(argv: string[]): Promise<number> {
  const url = process.env.DATABASE_URL;
  if (!url) {
    console.error("DATABASE_URL (the orders service's database) is required");
    return 2;
  }
  const pool = createPool(url, 2);
  try {
    await migrate(pool, fileURLToPath(new URL("../migrations", import.meta.url)));
    console.log(JSON.stringify(await run(new PgKeyStore(pool), argv), null, 2));
    return 0;
  } catch (error) {
    if (error instanceof UsageError || (error as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")) {
      console.error((error as Error).message);
      return 2;
    }
    throw error;
  } finally {
    await pool.end();
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`admin failed: ${(error as Error).message}`);
    process.exit(1);
  },
);
