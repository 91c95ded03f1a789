/**
 * What a chaos run must show once the faults stopped and the orders settled: no double placement,
 * every order completed/failed/in review, every PIN a provider issued readable by its customer,
 * exactly one terminal event per settled order, each service's state rebuilt from the stream equal
 * to its live state, and no plaintext PIN or secret in any log, table or event.
 */
import { execFile } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { readStream } from "@pinflow/bus";
import { TERMINAL_EVENT_TYPES, type OrderView } from "@pinflow/contracts";
import { eventually, freePort, TestDatabase } from "@pinflow/testkit";
import pg from "pg";
import { REPO_ROOT, SERVICE_NAMES, type ServiceName } from "../support/paths.js";
import { ServiceProcess } from "../support/service-process.js";
import { XSTOR_TOKEN, ZNET_PASSWORD, type TestSystem } from "../support/system.js";
import type { PlannedOrder } from "./scenario.js";

const run = promisify(execFile);

export interface OrderOutcome extends PlannedOrder {
  /** Undefined when the API never accepted it (the run reports it). */
  orderId?: string;
}

export interface Finding {
  count: number;
  /** The first few, for the report. */
  examples: string[];
}

export interface ChaosChecks {
  notCreated: Finding;
  doublePlacements: Finding;
  notSettled: Finding;
  pinsUnreadable: Finding;
  /** PINs a provider holds for orders that went to review (an operator completes them): reported, not a fault. */
  pinsAwaitingReview: number;
  terminalEvents: Finding;
  malformedEvents: number;
  rebuild: Record<ServiceName, Finding>;
  secretsFound: Finding;
  passed: boolean;
}

const EXAMPLES = 8;
const finding = (all: string[]): Finding => ({ count: all.length, examples: all.slice(0, EXAMPLES) });
export async function checkRun(ctx: { system: TestSystem; outcomes: OrderOutcome[]; issuedPins: Set<string>; log: (line: string) => void }): Promise<ChaosChecks> {
  const { system, outcomes, issuedPins, log } = ctx;
  const created = outcomes.filter((o): o is OrderOutcome & { orderId: string } => o.orderId !== undefined);
  const statuses = await orderStatuses(system, created.map((o) => o.orderId));

  // Providers' side: how many orders each player got, and the PINs they hold.
  const double: string[] = [];
  const unreadable: string[] = [];
  let awaitingReview = 0;
  const providerPins = new Map<string, string>();
  for (const o of outcomes) {
    const znetRefs = [...new Set(system.znet.referencesFor(o.playerId))];
    const xstorRefs = [...new Set(system.xstor.referencesFor(o.playerId))];
    const placed = znetRefs.reduce((n, r) => n + system.znet.placements(r), 0) + xstorRefs.reduce((n, r) => n + system.xstor.placements(r), 0);
    if (placed > 1) double.push(`${o.playerId} (${o.kind}): znet ${znetRefs.map((r) => `${r}×${system.znet.placements(r)}`).join(",")} x-stor ${xstorRefs.map((r) => `${r}×${system.xstor.placements(r)}`).join(",")}`);
    const pins = [
      ...znetRefs.flatMap((r) => system.znet.order(r)?.pin ?? []),
      ...xstorRefs.flatMap((r) => {
        const x = system.xstor.order(r);
        return x?.state === "done" && x.pin ? [x.pin] : [];
      }),
    ];
    if (pins.length > 0 && o.orderId) providerPins.set(o.orderId, pins[0]!);
    if (pins.length > 0 && !o.orderId) unreadable.push(`${o.playerId}: a provider issued a PIN for an order the API never accepted`);
  }

  const notSettled = created.filter((o) => !["completed", "failed", "review"].includes(statuses.get(o.orderId) ?? "missing"));
  for (const o of created) {
    const status = statuses.get(o.orderId);
    const pin = providerPins.get(o.orderId);
    if (status === "completed") {
      const view = await system.getOrder(o.orderId).catch((e: Error) => ({ pin: `unreadable: ${e.message}` }) as Partial<OrderView>);
      if (pin === undefined) unreadable.push(`${o.orderId} (${o.playerId}) completed but no provider holds a PIN for it`);
      else if (view.pin !== pin) unreadable.push(`${o.orderId} (${o.playerId}) the customer reads ${JSON.stringify(view.pin ?? null).slice(0, 60)}, the provider issued another PIN`);
    } else if (pin !== undefined && status === "failed") unreadable.push(`${o.orderId} (${o.playerId}) failed, but the provider issued a PIN`);
    else if (pin !== undefined && status === "review") awaitingReview++;
  }

  // The stream: exactly one terminal event per completed or failed order, none for one in review.
  const nc = await system.connectNats("admin", "chaos-checks");
  const terminal: string[] = [];
  let malformed = 0;
  const eventTexts: string[] = [];
  const byOrder = new Map<string, string[]>();
  const detailByOrder = new Map<string, string[]>();
  try {
    for (const m of await readStream(nc, system.names)) {
      eventTexts.push(Buffer.from(m.data).toString("utf8"));
      if (!m.ok) {
        malformed++;
        continue;
      }
      byOrder.set(m.event.orderId, [...(byOrder.get(m.event.orderId) ?? []), m.event.type]);
      detailByOrder.set(m.event.orderId, [...(detailByOrder.get(m.event.orderId) ?? []), describeEvent(m.seq, m.event)]);
    }
    const terminalTypes = new Set<string>(TERMINAL_EVENT_TYPES);
    for (const o of created) {
      const types = byOrder.get(o.orderId) ?? [];
      const n = types.filter((t) => terminalTypes.has(t)).length;
      const status = statuses.get(o.orderId);
      const want = status === "review" ? 0 : 1;
      if (n !== want) terminal.push(`${o.orderId} (${o.playerId}, ${status}): ${n} terminal events [${types.join(" ")}]`);
    }
  } finally {
    await nc.close();
  }

  // Rebuilt state against live state, with every service stopped (nothing changes meanwhile).
  const replicas = [...Object.values(system.services), ...system.replicas];
  await Promise.all(replicas.map((p) => p.kill("SIGTERM")));
  const rebuild = {
    orders: await compareOrdersRebuild(system, log, detailByOrder),
    dispatcher: await compareCliRebuild(system, "dispatcher", "rebuild-rows.js", "dispatch", ["version", "updated_at", "lease_until", "next_try_at"], log, detailByOrder),
    // trace_context: the OrderSent's tracing headers kept for the checks' spans (observability, not order
    // state); a rebuild reads event bodies, so its watches continue no trace.
    "status-poller": await compareCliRebuild(system, "status-poller", "rebuild-watches.js", "watch", ["next_check_at", "lease_owner", "lease_until", "created_at", "updated_at", "trace_context"], log, detailByOrder),
  };

  const secrets = await scanSecrets(system, issuedPins, eventTexts);
  const checks: ChaosChecks = {
    notCreated: finding(outcomes.filter((o) => !o.orderId).map((o) => o.playerId)),
    doublePlacements: finding(double),
    notSettled: finding(notSettled.map((o) => `${o.orderId} (${o.playerId}, ${o.kind}): ${statuses.get(o.orderId) ?? "missing"}`)),
    pinsUnreadable: finding(unreadable),
    pinsAwaitingReview: awaitingReview,
    terminalEvents: finding(terminal),
    malformedEvents: malformed,
    rebuild,
    secretsFound: secrets,
    passed: false,
  };
  checks.passed =
    checks.notCreated.count === 0 &&
    checks.doublePlacements.count === 0 &&
    checks.notSettled.count === 0 &&
    checks.pinsUnreadable.count === 0 &&
    checks.terminalEvents.count === 0 &&
    Object.values(rebuild).every((f) => f.count === 0) &&
    secrets.count === 0;
  return checks;
}

async function orderStatuses(system: TestSystem, ids: string[]): Promise<Map<string, string>> {
  const client = new pg.Client({ connectionString: system.databases.orders.url });
  await client.connect();
  try {
    const rows = (await client.query<{ order_id: string; status: string }>("SELECT order_id, status FROM order_view WHERE order_id = ANY($1)", [ids])).rows;
    return new Map(rows.map((r) => [r.order_id, r.status]));
  } finally {
    await client.end();
  }
}

type Row = Record<string, unknown>;

/** The fields the projections' folds decide on (never a PIN or a message text), for a rebuild difference's report. */
const DECIDING_FIELDS = ["provider", "offerIndex", "reference", "placeCall", "step", "outcome", "reasonCode", "providerCode", "generation", "stage", "checks", "nextReference"] as const;

function describeEvent(seq: number, event: { type: string; occurredAt: string; data: unknown }): string {
  const data = (event.data ?? {}) as Record<string, unknown>;
  const fields = DECIDING_FIELDS.filter((k) => data[k] !== undefined && data[k] !== null).map((k) => `${k}=${String(data[k])}`);
  return `#${seq}@${event.occurredAt.slice(11, 23)} ${event.type}${fields.length > 0 ? `(${fields.join(",")})` : ""}`;
}

async function tableRows(url: string, table: string, skip: readonly string[]): Promise<Map<string, string>> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const rows = (await client.query<Row>(`SELECT * FROM ${table} ORDER BY order_id`)).rows;
    return new Map(rows.map((r) => [String(r.order_id), JSON.stringify(Object.fromEntries(Object.entries(r).filter(([k]) => !skip.includes(k))))]));
  } finally {
    await client.end();
  }
}

/** `field: live → rebuilt` for each field that differs. */
function changedFields(live: string, rebuilt: string): string {
  const a = JSON.parse(live) as Row;
  const b = JSON.parse(rebuilt) as Row;
  return Object.keys({ ...a, ...b })
    .filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k]))
    .map((k) => `${k}: ${JSON.stringify(a[k])?.slice(0, 200)} → ${JSON.stringify(b[k])?.slice(0, 200)}`)
    .join("; ");
}

function diffRows(live: Map<string, string>, rebuilt: Map<string, string>): string[] {
  const out: string[] = [];
  for (const [id, row] of live) {
    const other = rebuilt.get(id);
    if (other === undefined) out.push(`${id}: missing after the rebuild`);
    else if (other !== row) {
      out.push(`${id}: ${changedFields(row, other)}`);
    }
  }
  for (const id of rebuilt.keys()) if (!live.has(id)) out.push(`${id}: only in the rebuilt rows`);
  return out;
}

/** A fresh orders process on an empty database replays the stream into its projection; its rows must equal the live ones. */
async function compareOrdersRebuild(system: TestSystem, log: (line: string) => void, eventsByOrder: Map<string, string[]>): Promise<Finding> {
  const live = await tableRows(system.databases.orders.url, "order_view", []);
  const fresh = await new TestDatabase("orders_rebuilt", adminUrlOf(system.databases.orders.url)).create();
  const env = { ...system.services.orders.env, DATABASE_URL: fresh.url };
  const proc = new ServiceProcess("orders", env, join(system.logDir, "orders-rebuild.log"), await freePort());
  try {
    proc.start();
    await proc.waitReady(120_000);
    let diffs: string[] = [];
    await eventually(async () => {
      diffs = diffRows(live, await tableRows(fresh.url, "order_view", []));
      if (diffs.length > 0) throw new Error(`${diffs.length} rows differ`);
    }, 90_000, 1_000).catch(() => undefined);
    log(`orders rebuild: ${live.size} rows, ${diffs.length} differ`);
    return finding(withEvents(diffs, eventsByOrder));
  } finally {
    await proc.close();
    await fresh.drop().catch(() => undefined);
  }
}

/** The service's rebuild command into an empty database; its table must equal the live one (derived columns aside). */
export async function compareCliRebuild(
  system: TestSystem,
  service: ServiceName,
  command: string,
  table: string,
  derived: readonly string[],
  log: (line: string) => void,
  eventsByOrder: Map<string, string[]>,
): Promise<Finding> {
  const live = await tableRows(system.databases[service].url, table, derived);
  const fresh = await new TestDatabase(`${service.replace("-", "_")}_rebuilt`, adminUrlOf(system.databases[service].url)).create();
  try {
    const env = { PATH: process.env.PATH ?? "", ...system.services[service].env, DATABASE_URL: fresh.url, HTTP_PORT: String(await freePort()) };
    const { stdout } = await run(process.execPath, [resolve(REPO_ROOT, "services", service, "dist", command)], { env, maxBuffer: 64 * 1024 * 1024 });
    const diffs = withEvents(diffRows(live, await tableRows(fresh.url, table, derived)), eventsByOrder);
    log(`${service} rebuild: ${live.size} rows, ${diffs.length} differ (${stdout.trim().split("\n").pop()?.slice(0, 300)})`);
    return finding(diffs);
  } finally {
    await fresh.drop().catch(() => undefined);
  }
}

/** Each differing row (`<orderId>: …`) with its order's events, so the report says which event the live side took differently. */
function withEvents(diffs: string[], eventsByOrder: Map<string, string[]>): string[] {
  return diffs.map((d) => `${d} events: ${(eventsByOrder.get(d.split(":")[0]!) ?? []).join(" ")}`);
}

function adminUrlOf(databaseUrl: string): string {
  const url = new URL(databaseUrl);
  url.pathname = "/postgres";
  return url.toString();
}

const PIN_SHAPE = /[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}/g;

/** Every secret of the run and every PIN the simulators issued, searched in the logs, every table of every database and every event. */
async function scanSecrets(system: TestSystem, issuedPins: Set<string>, eventTexts: string[]): Promise<Finding> {
  const secrets = new Map<string, string>([
    [ZNET_PASSWORD, "znet password"],
    [XSTOR_TOKEN, "x-stor token"],
    [system.pinKeys.split(":")[1] ?? system.pinKeys, "PIN key"],
    ...system.allTokens().map((t) => [t, "API key"] as [string, string]),
    ...SERVICE_NAMES.map((role) => [system.natsUsers.credentials(system.names.environment, role).password, `NATS password of ${role}`] as [string, string]),
  ]);
  const found: string[] = [];
  const scan = (where: string, text: string) => {
    for (const [secret, what] of secrets) if (secret && text.includes(secret)) found.push(`${what} in ${where}`);
    for (const m of text.matchAll(PIN_SHAPE)) if (issuedPins.has(m[0])) found.push(`plaintext PIN in ${where}`);
  };
  for (const file of readdirSync(system.logDir)) scan(`log ${file}`, readFileSync(join(system.logDir, file), "utf8"));
  try {
    scan("nats-server log", readFileSync(system.nats.logFile, "utf8"));
  } catch {
    // no log
  }
  eventTexts.forEach((text, i) => scan(`event #${i + 1}`, text));
  for (const service of SERVICE_NAMES) {
    const client = new pg.Client({ connectionString: system.databases[service].url });
    await client.connect();
    try {
      const tables = (await client.query<{ table_name: string }>("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")).rows;
      for (const { table_name } of tables) {
        const rows = (await client.query<{ t: string }>(`SELECT t::text AS t FROM "${table_name}" t`)).rows;
        for (const r of rows) scan(`table ${service}.${table_name}`, r.t);
      }
    } finally {
      await client.end();
    }
  }
  return finding([...new Set(found)]);
}
