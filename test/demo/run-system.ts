/**
 * Runs the whole system on this machine: the znet simulator, the three
 * services (the demo's own nats-server with JetStream on 127.0.0.1:4230, each
 * service as its own NATS user with least privilege, as deployed; one
 * PostgreSQL database each), then
 * sends a few orders through it and shows them going from pending to a PIN.
 * Keeps running until Ctrl-C (or exits after the demo with --once).
 *
 *   bash scripts/demo.sh            # what the README says
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createWriteStream, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { PgKeyStore } from "@pinflow/auth";
import pg from "pg";
import type { OrderView } from "@pinflow/contracts";
import { generatePinKeyring } from "@pinflow/secrets";
import { TestNatsServer, waitForPort } from "@pinflow/testkit";
import { CATALOG_FILE, REPO_ROOT, SERVICE_NAMES, type ServiceName } from "../support/paths.js";
import { importProviderCatalogs } from "../support/catalog-import.js";
import { NatsUsers, runNatsSetup } from "../support/nats-users.js";
import { ServiceProcess } from "../support/service-process.js";

const RUN_DIR = join(REPO_ROOT, ".run");
const LOG_DIR = join(RUN_DIR, "logs");
const PG_URL = process.env.PINFLOW_PG_URL ?? "postgres://postgres@127.0.0.1:5432";
/** The demo's own nats-server (JetStream files in .run/nats, kept across runs). */
const NATS_PORT = Number(process.env.DEMO_NATS_PORT ?? 4230);
const NATS_DIR = join(RUN_DIR, "nats");
/** The demo's own environment: its stream, subjects and durables never mix with another environment on the same server. */
const PINFLOW_ENV = process.env.PINFLOW_ENV ?? "demo";
const PORTS: Record<ServiceName, number> = { orders: 3000, dispatcher: 3001, "status-poller": 3002 };
const ZNET_PORT = 8081;
const ZNET_CODE = "5550000000";
const XSTOR_PORT = 8082;
const once = process.argv.includes("--once");
let nats: TestNatsServer | undefined;

/** Secrets the demo makes once and keeps in .run/ (git-ignored), so stored PINs stay readable across runs. */
function persistentSecret(name: string, make: () => string): string {
  const file = join(RUN_DIR, name);
  if (!existsSync(file)) writeFileSync(file, make(), { mode: 0o600 });
  return readFileSync(file, "utf8").trim();
}

async function dropDatabase(name: string): Promise<void> {
  const admin = new pg.Client({ connectionString: `${PG_URL}/postgres` });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${name}`);
  } finally {
    await admin.end();
  }
}

async function ensureDatabase(name: string): Promise<string> {
  const admin = new pg.Client({ connectionString: `${PG_URL}/postgres` });
  await admin.connect();
  try {
    const exists = await admin.query("SELECT 1 FROM pg_database WHERE datname = $1", [name]);
    if (exists.rowCount === 0) await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  return `${PG_URL}/${name}`;
}

function startSimulator(name: "znet" | "xstor", env: Record<string, string>): ChildProcess {
  const log = createWriteStream(join(LOG_DIR, `${name}-sim.log`), { flags: "a" });
  const sim = spawn(process.execPath, [join(REPO_ROOT, `test/dist/simulators/${name}-main.js`)], {
    env: { PATH: process.env.PATH ?? "", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  sim.stdout.pipe(log);
  sim.stderr.pipe(log);
  return sim;
}

async function main(): Promise<void> {
  mkdirSync(LOG_DIR, { recursive: true });
  const pinKeys = persistentSecret("pin-keys", () => generatePinKeyring("demo1"));
  const znetPassword = persistentSecret("znet-password", () => randomBytes(12).toString("base64url"));

  const xstorToken = persistentSecret("xstor-token", () => randomBytes(16).toString("hex"));
  const simulators = [
    startSimulator("znet", { ZNET_SIM_PORT: String(ZNET_PORT), ZNET_SIM_HOST: "127.0.0.1", ZNET_SIM_CODE: ZNET_CODE, ZNET_SIM_PASSWORD: znetPassword, ZNET_SIM_COMPLETE_MIN_MS: "3000", ZNET_SIM_COMPLETE_MAX_MS: "12000" }),
    startSimulator("xstor", { XSTOR_SIM_PORT: String(XSTOR_PORT), XSTOR_SIM_HOST: "127.0.0.1", XSTOR_SIM_TOKEN: xstorToken, XSTOR_SIM_COMPLETE_MIN_MS: "2000", XSTOR_SIM_COMPLETE_MAX_MS: "8000" }),
  ];
  await waitForPort(ZNET_PORT, 10_000);
  await waitForPort(XSTOR_PORT, 10_000);

  // NATS as deployed: users and permissions rendered from the bus (nats-access.ts), passwords kept in .run/.
  const freshStream = !existsSync(NATS_DIR);
  const natsUsers = new NatsUsers([PINFLOW_ENV], (user) => persistentSecret(`nats-${user}`, () => `pf${randomBytes(24).toString("hex")}`));
  nats = new TestNatsServer({ config: natsUsers.config(), storeDir: NATS_DIR, port: NATS_PORT });
  await nats.start();
  await runNatsSetup({ NATS_URL: nats.url, PINFLOW_ENV, ...natsUsers.env(PINFLOW_ENV, "admin") });
  // The projections follow the stream: a new stream (first run on this server) starts them afresh.
  if (freshStream) await Promise.all(SERVICE_NAMES.map((name) => dropDatabase(`pinflow_${name.replace("-", "_")}`)));

  const services = {} as Record<ServiceName, ServiceProcess>;
  for (const name of SERVICE_NAMES) {
    const env: Record<string, string> = {
      NATS_URL: nats.url,
      ...natsUsers.env(PINFLOW_ENV, name),
      PINFLOW_ENV,
      DATABASE_URL: await ensureDatabase(`pinflow_${name.replace("-", "_")}`),
      CATALOG_FILE,
      PIN_KEYS: pinKeys,
      LOG_LEVEL: "info",
      // The dispatcher and the poller check API keys in the orders database.
      ...(name === "orders" ? {} : { AUTH_DATABASE_URL: services.orders.env["DATABASE_URL"]! }),
      // The operator console (orders) reaches the dispatcher's and the poller's provider controls.
      ...(name === "orders" ? { DISPATCHER_URL: `http://127.0.0.1:${PORTS.dispatcher}`, STATUS_POLLER_URL: `http://127.0.0.1:${PORTS["status-poller"]}` } : {}),
      ZNET_BASE_URL: `http://127.0.0.1:${ZNET_PORT}`,
      ZNET_CODE,
      ZNET_PASSWORD: znetPassword,
      XSTOR_BASE_URL: `http://127.0.0.1:${XSTOR_PORT}`,
      XSTOR_TOKEN: xstorToken,
      // A demo preset so the show takes seconds; production keeps the seed schedule (60 s, 30 s, 1 m, 2 m … 10 m).
      POLL_FIRST_DELAY_MS: "2000",
      POLL_DELAYS_MS: "1000,2000,3000",
      POLL_GROWTH: "1.5",
      POLL_MAX_DELAY_MS: "5000",
      // Traces to Jaeger (README "Tracing") when the shell sets an OTLP endpoint.
      ...Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => e[0].startsWith("OTEL_") && e[1] !== undefined)),
    };
    services[name] = new ServiceProcess(name, env, join(LOG_DIR, `${name}.log`), PORTS[name]);
  }
  // As an operator does before taking orders: import both product lists (prices the dispatcher checks).
  await importProviderCatalogs(services.dispatcher.env);
  console.log("imported the znet and x-stor product lists into the dispatcher's database");
  for (const service of Object.values(services)) service.start();
  await Promise.all(Object.values(services).map((s) => s.waitReady(30_000)));
  const api = services.orders.url;
  const keys = await demoKeys(services.orders.env["DATABASE_URL"]!);
  const auth = { authorization: `Bearer ${keys.customer}` };
  console.log(`\npinflow is running: orders API ${api}  (logs in .run/logs)`);
  console.log(`tenant "${DEMO_TENANT}": customer key ${keys.customer}`);
  console.log(`operator key (every tenant, also for the dispatcher ${services.dispatcher.url} and the poller ${services["status-poller"].url}): ${keys.operator}`);
  console.log("(keys are shown once: only their hashes are stored; more with: DATABASE_URL=… node services/orders/dist/admin.js key issue …)\n");

  const samples = [
    { packageId: "pubg-60", playerId: "5123456789" },
    { packageId: "pubg-325", playerId: "7788990011", extra: "+905321234567" },
    { packageId: "freefire-100", playerId: "refuse-42" },
    { packageId: "pubg-60", playerId: "cancel-7" },
    { packageId: "pubg-60", playerId: "nobalance-9" },
  ];
  const ids: string[] = [];
  for (const body of samples) {
    const res = await fetch(`${api}/v1/orders`, { method: "POST", headers: { "content-type": "application/json", ...auth }, body: JSON.stringify(body) });
    const created = (await res.json()) as { orderId: string };
    ids.push(created.orderId);
    console.log(`POST /v1/orders ${JSON.stringify(body)} -> ${res.status} ${created.orderId}`);
  }

  const last = new Map<string, string>();
  const deadline = Date.now() + 120_000;
  for (;;) {
    const views = await Promise.all(ids.map(async (id) => (await (await fetch(`${api}/v1/orders/${id}`, { headers: auth })).json()) as OrderView));
    for (const v of views) {
      const via = v.provider ? ` via ${v.provider}` : "";
      const line = `${v.status}${via}${v.pin ? ` PIN ${v.pin}` : ""}${v.reasonCode ? ` (${v.reasonCode}: ${v.providerNote})` : ""}`;
      if (last.get(v.orderId) !== line) {
        console.log(`${new Date().toISOString().slice(11, 19)}  ${v.orderId.slice(0, 8)}  ${v.packageId.padEnd(13)} ${line}`);
        last.set(v.orderId, line);
      }
    }
    if (views.every((v) => v.status === "completed" || v.status === "failed" || v.status === "review")) break;
    if (Date.now() > deadline) throw new Error("demo orders did not settle in 2 minutes; see .run/logs");
    await new Promise((r) => setTimeout(r, 500));
  }
  console.log("\nall demo orders settled.");
  // The customer's live page of the first order (a stream token in the URL fragment) and the operator console.
  const token = await fetch(`${api}/v1/orders/${ids[0]}/stream-token`, { method: "POST", headers: auth });
  if (token.ok) console.log(`customer page of ${ids[0]!.slice(0, 8)} (live, en; ?lang=ar for Arabic): ${api}${((await token.json()) as { pageUrl: string }).pageUrl}`);
  console.log(`operator console: ${api}/console (paste the operator key)`);

  const stopAll = async () => {
    await Promise.all(Object.values(services).map((s) => s.close()));
    for (const sim of simulators) sim.kill("SIGTERM");
    await nats?.stop();
  };
  if (once) {
    await stopAll();
    return;
  }
  console.log(`try: curl -s -XPOST ${api}/v1/orders -H 'authorization: Bearer ${keys.customer}' -H 'content-type: application/json' -d '{"packageId":"pubg-60","playerId":"123"}'`);
  console.log(`     curl -s ${api}/v1/review -H 'authorization: Bearer ${keys.operator}'`);
  console.log("Ctrl-C stops everything.");
  await new Promise<void>((resolve) => process.once("SIGINT", () => resolve()));
  await stopAll();
}

const DEMO_TENANT = "demo";

/** The demo's tenant and a fresh customer and operator key, as an admin makes them (admin.js tenant create / key issue). */
async function demoKeys(ordersDatabaseUrl: string): Promise<{ customer: string; operator: string }> {
  const pool = new pg.Pool({ connectionString: ordersDatabaseUrl, max: 1 });
  try {
    const store = new PgKeyStore(pool);
    if (!(await store.tenants()).some((t) => t.tenantId === DEMO_TENANT)) await store.createTenant(DEMO_TENANT, "the demo reseller");
    const customer = await store.issue({ role: "customer", tenantId: DEMO_TENANT, label: "demo customer" });
    const operator = await store.issue({ role: "operator", tenantId: null, label: "demo operator" });
    return { customer: customer.token, operator: operator.token };
  } finally {
    await pool.end();
  }
}

main().catch(async (error: unknown) => {
  console.error(error);
  await nats?.stop();
  process.exit(1);
});
