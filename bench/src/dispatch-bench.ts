/**
 * Dispatch speed of the whole running system. The three services run as processes on a private
 * NATS server and real PostgreSQL, with the provider simulators in this process.
 *
 *   node bench/dist/dispatch-bench.js [--scenario latency|throughput|head-of-line|p1|all] [--orders 60]
 *
 * - latency (default): POST round trip at the client, and from the stream the time between
 *   OrderCreated and OrderSent (`occurredAt`, both stamped on this machine's clock).
 * - throughput: znet answers every placement after 300 ms, the rate cap lifted; a backlog of orders
 *   is placed; placements a second against the limit the configured concurrency allows
 *   (ZNET_CONCURRENCY / 0.3 s), and the same with one handler per replica (the old behaviour).
 * - head-of-line: orders alternate between znet (pubg-60) and a package sold only through x-stor,
 *   10 a second for 30 s; x-stor dispatch latency (POST → x-stor receives the place request) with
 *   znet answering 30 % of its placements after 30 s (client timeout 15 s), next to a baseline run
 *   without znet faults in the same invocation.
 * - p1: 100 orders a second for 20 s, znet answering at once (finished when first checked), rate cap lifted: POST → znet receives
 *   pin_ekle, p50/p95/p99.
 * Each scenario runs for well under 3 minutes.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import type { OrderEvent } from "@pinflow/contracts";
import { CATALOG_FILE } from "@pinflow/test/support/paths";
import { TestSystem } from "@pinflow/test/support/system";
import { eventually } from "@pinflow/testkit";
import { cpuPerOrderTable, systemCpu } from "./cpu-account.js";

const arg = (name: string): string | undefined => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const ORDERS = Number(arg("--orders") ?? 60);
const SCENARIO = arg("--scenario") ?? "latency";

interface Scenario {
  name: string;
  /** Orders a second the customers send. */
  arrivalPerSec: number;
  /** The dispatcher's znet call rate (its share of the account). */
  znetRatePerSec: string;
}

const SCENARIOS: Scenario[] = [
  { name: "1 order/s, default znet cap (2 calls/s)", arrivalPerSec: 1, znetRatePerSec: "2" },
  { name: "10 orders/s, znet cap lifted to 50 calls/s", arrivalPerSec: 10, znetRatePerSec: "50" },
  { name: "10 orders/s, default znet cap (2 calls/s): queueing at the cap", arrivalPerSec: 10, znetRatePerSec: "2" },
];

const q = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;

async function run(s: Scenario): Promise<string> {
  const quiet = { LOG_LEVEL: "warn" };
  const system = new TestSystem({
    env: { orders: quiet, dispatcher: { ...quiet, ZNET_RATE_PER_SEC: s.znetRatePerSec }, "status-poller": quiet },
    znet: { completeAfterMs: 1000 },
  });
  await system.start();
  const nc = await system.connectNats("admin", "dispatch-bench");
  try {
    const ids: string[] = [];
    const postMs: number[] = [];
    const started = Date.now();
    for (let i = 0; i < ORDERS; i++) {
      const due = started + (i * 1000) / s.arrivalPerSec;
      if (due > Date.now()) await new Promise((r) => setTimeout(r, due - Date.now()));
      const t0 = performance.now();
      ids.push(await system.createOrder({ packageId: "pubg-60", playerId: `b${i}x${Date.now()}` }));
      postMs.push(performance.now() - t0);
    }
    const jsm = await jetstreamManager(nc);
    const decode = (data: Uint8Array) => JSON.parse(new TextDecoder().decode(data)) as OrderEvent;
    const dispatchMs = await eventually(async () => {
      const out: number[] = [];
      for (const id of ids) {
        const created = decode((await jsm.streams.getMessage(system.names.stream, { last_by_subj: system.names.orderEvent(id, "OrderCreated") }))!.data);
        const sent = await jsm.streams.getMessage(system.names.stream, { last_by_subj: system.names.orderEvent(id, "OrderSent") });
        if (!sent) throw new Error(`order ${id} not sent yet`);
        out.push(Date.parse(decode(sent.data).occurredAt) - Date.parse(created.occurredAt));
      }
      return out;
    }, 120_000, 250);
    postMs.sort((a, b) => a - b);
    dispatchMs.sort((a, b) => a - b);
    const f = (n: number) => n.toFixed(0);
    return `| ${s.name} | ${ORDERS} | ${f(q(postMs, 0.5))} / ${f(q(postMs, 0.95))} | ${f(q(dispatchMs, 0.5))} / ${f(q(dispatchMs, 0.95))} / ${f(dispatchMs.at(-1)!)} |`;
  } finally {
    await nc.close();
    await system.stop();
    system.cleanLogs();
  }
}

async function latency(): Promise<void> {
  const rows: string[] = [];
  for (const s of SCENARIOS) {
    rows.push(await run(s));
    console.error(`done: ${s.name}`);
  }
  console.log("| scenario | orders | POST round trip p50 / p95 (ms) | OrderCreated → OrderSent p50 / p95 / max (ms) |");
  console.log("| --- | ---: | ---: | ---: |");
  for (const row of rows) console.log(row);
}

// --- concurrency scenarios -------------------------------------------------------------------

const quiet = { LOG_LEVEL: "warn" };
/** `--cpu-prof DIR`: each service writes a CPU profile to DIR/<service> when it stops. */
const PROFILE_DIR = arg("--cpu-prof");
const profiledAs = (service: string): Record<string, string> => (PROFILE_DIR ? { SERVICE_NODE_ARGS: `--cpu-prof --cpu-prof-dir=${join(PROFILE_DIR, service)}` } : {});
const profiled = profiledAs("dispatcher");
/** `--env service:NAME=VALUE,…`: extra settings for a service (an experiment's knob, e.g. `status-poller:POLL_FIRST_DELAY_MS=60000`). */
const extraEnv = (service: string): Record<string, string> =>
  Object.fromEntries(
    (arg("--env") ?? "")
      .split(",")
      .filter((kv) => kv.startsWith(`${service}:`))
      .map((kv) => kv.slice(service.length + 1).split("=") as [string, string]),
  );
/** Ids in the query string of a simulator's request line: znet `oyuncu_bilgi=`, x-stor `uid=`. */
const ZNET_PLAYER = /[?&]oyuncu_bilgi=([A-Za-z0-9]+)/;
const XSTOR_PLAYER = /[?&]uid=([A-Za-z0-9]+)/;

/** config/catalog.json plus a package sold only through x-stor (its orders never need a znet slot). */
function xstorCatalog(): string {
  const dir = mkdtempSync(join(tmpdir(), "pinflow-bench-catalog-"));
  const file = join(dir, "catalog.json");
  const catalog = JSON.parse(readFileSync(CATALOG_FILE, "utf8")) as { packages: { id: string; offers: { provider: string }[] }[] };
  const pubg = catalog.packages.find((p) => p.id === "pubg-60")!;
  catalog.packages.push({ ...pubg, id: "xstor-pubg-60", offers: pubg.offers.filter((o) => o.provider === "xstor") });
  writeFileSync(file, JSON.stringify(catalog));
  return file;
}

/** When each player's first place request reached a simulator (ms, this process's clock). */
class PlaceTimes {
  readonly at = new Map<string, number>();
  readonly all: number[] = [];
  constructor(
    private readonly call: string,
    private readonly player: RegExp,
  ) {}
  readonly onRequest = (line: string): void => {
    if (!line.includes(this.call)) return;
    const now = Date.now();
    this.all.push(now);
    const p = this.player.exec(line)?.[1];
    if (p !== undefined && !this.at.has(p)) this.at.set(p, now);
  };
}

interface Posted {
  playerId: string;
  startedAt: number;
  orderId?: string;
  answeredAt?: number;
}

/** Open loop: POST one order every 1/rate s (not waiting for earlier answers), `count` in all. */
async function postAtRate(system: TestSystem, rate: number, count: number, order: (i: number) => { packageId: string; playerId: string }): Promise<Posted[]> {
  const posted: Posted[] = [];
  const pending: Promise<void>[] = [];
  const started = Date.now();
  for (let i = 0; i < count; i++) {
    const due = started + (i * 1000) / rate;
    if (due > Date.now()) await new Promise((r) => setTimeout(r, due - Date.now()));
    const body = order(i);
    const p: Posted = { playerId: body.playerId, startedAt: Date.now() };
    posted.push(p);
    pending.push(
      system.createOrder(body).then((id) => {
        p.orderId = id;
        p.answeredAt = Date.now();
      }),
    );
  }
  await Promise.all(pending);
  return posted;
}

/** Closed loop with `clients` at once: as fast as the orders service takes them. */
async function postBacklog(system: TestSystem, count: number, clients: number, order: (i: number) => { packageId: string; playerId: string }): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (next < count) await system.createOrder(order(next++));
    }),
  );
}

async function waitUntil(what: string, done: () => boolean, timeoutMs: number): Promise<void> {
  await eventually(async () => {
    if (!done()) throw new Error(`still waiting: ${what}`);
  }, timeoutMs, 100);
}

const pct = (values: number[], p: number): number => q([...values].sort((a, b) => a - b), p);
const ms = (n: number) => n.toFixed(0);
const tag = () => Date.now().toString(36);

async function withSystem<T>(opts: ConstructorParameters<typeof TestSystem>[0], body: (system: TestSystem) => Promise<T>): Promise<T> {
  const system = new TestSystem(opts);
  await system.start();
  try {
    return await body(system);
  } finally {
    await system.znet.stop(); // drops slow replies still pending, so the services stop at once
    await system.stop();
    system.cleanLogs();
  }
}

/** (a) Placements a second with a 300 ms znet round trip, rate cap lifted. */
async function throughput(): Promise<void> {
  const runs = [
    { concurrency: 4, dispatch: "48", orders: 300 },
    { concurrency: 8, dispatch: "48", orders: 400 },
    { concurrency: 4, dispatch: "1", orders: 40 },
  ];
  console.log("| ZNET_CONCURRENCY | DISPATCH_CONCURRENCY | orders | placements/s (steady) | limit (concurrency / 0.3 s) | share of limit |");
  console.log("| ---: | ---: | ---: | ---: | ---: | ---: |");
  for (const run of runs) {
    const places = new PlaceTimes("pin_ekle", ZNET_PLAYER);
    const prefix = `t${tag()}`;
    const rate = await withSystem(
      {
        znet: { completeAfterMs: 1000, onRequest: places.onRequest },
        env: {
          orders: quiet,
          "status-poller": quiet,
          dispatcher: { ...quiet, ZNET_RATE_PER_SEC: "1000", ZNET_BURST: "1000", ZNET_CONCURRENCY: String(run.concurrency), ZNET_TIMEOUT_MS: "15000", DISPATCH_CONCURRENCY: run.dispatch },
        },
      },
      async (system) => {
        system.znet.addRule({ playerId: prefix, match: "prefix", placeFault: "slow-accept", slowMs: 300 });
        await postBacklog(system, run.orders, 20, (i) => ({ packageId: "pubg-60", playerId: `${prefix}n${i}` }));
        await waitUntil(`${run.orders} placements`, () => places.at.size >= run.orders, 150_000);
        // Steady state: from the 10th answer to the last (the first ones start together).
        const t = [...places.at.values()].sort((a, b) => a - b);
        return (t.length - 10) / ((t.at(-1)! - t[9]!) / 1000);
      },
    );
    const limit = run.concurrency / 0.3;
    console.log(`| ${run.concurrency} | ${run.dispatch} | ${run.orders} | ${rate.toFixed(1)} | ${limit.toFixed(1)} | ${((100 * rate) / limit).toFixed(0)} % |`);
  }
}

/** (b) x-stor dispatch latency while znet answers 30 % of its placements after 30 s, next to a run without faults. */
async function headOfLine(): Promise<void> {
  const catalogFile = xstorCatalog();
  const RATE = 10;
  const COUNT = 300;
  const results: { name: string; xstor: number[]; znetPlaced: number; znetOrders: number }[] = [];
  for (const faults of [false, true]) {
    const xstorPlaces = new PlaceTimes("newOrder", XSTOR_PLAYER);
    const znetPlaces = new PlaceTimes("pin_ekle", ZNET_PLAYER);
    const prefix = `h${tag()}`;
    const r = await withSystem(
      {
        xstor: { completeAfterMs: 1000, onRequest: xstorPlaces.onRequest },
        znet: { completeAfterMs: 1000, onRequest: znetPlaces.onRequest },
        env: {
          orders: { ...quiet, CATALOG_FILE: catalogFile },
          "status-poller": quiet,
          dispatcher: {
            ...quiet,
            ...profiled,
            CATALOG_FILE: catalogFile,
            ZNET_TIMEOUT_MS: "15000",
            ZNET_RATE_PER_SEC: "100",
            ZNET_BURST: "100",
            XSTOR_RATE_PER_SEC: "100",
            XSTOR_BURST: "100",
          },
        },
      },
      async (system) => {
        // 30 % of the znet orders (every player id ending in s) are answered after 30 s: the client gives up at 15 s.
        if (faults) system.znet.addRule({ playerId: `${prefix}zs`, match: "prefix", placeFault: "slow-accept", slowMs: 30_000 });
        const posted = await postAtRate(system, RATE, COUNT, (i) =>
          i % 2 === 0
            ? { packageId: "pubg-60", playerId: `${prefix}z${(i / 2) % 10 < 3 ? "s" : "f"}${i}` }
            : { packageId: "xstor-pubg-60", playerId: `${prefix}x${i}` },
        );
        const xstorOrders = posted.filter((p) => p.playerId.startsWith(`${prefix}x`));
        await waitUntil("every x-stor order placed", () => xstorOrders.every((p) => xstorPlaces.at.has(p.playerId)), 60_000);
        const znetOrders = posted.filter((p) => p.playerId.startsWith(`${prefix}z`));
        return {
          xstor: xstorOrders.map((p) => xstorPlaces.at.get(p.playerId)! - p.startedAt),
          znetPlaced: znetOrders.filter((p) => znetPlaces.at.has(p.playerId)).length,
          znetOrders: znetOrders.length,
        };
      },
    );
    results.push({ name: faults ? "znet: 30 % of placements answered after 30 s" : "baseline: no znet faults", ...r });
  }
  rmSync(dirname(catalogFile), { recursive: true, force: true });
  console.log("| run | x-stor orders | x-stor POST → place request p50 / p95 / p99 / max (ms) | znet orders with a place request by the end |");
  console.log("| --- | ---: | ---: | ---: |");
  for (const r of results) {
    console.log(`| ${r.name} | ${r.xstor.length} | ${ms(pct(r.xstor, 0.5))} / ${ms(pct(r.xstor, 0.95))} / ${ms(pct(r.xstor, 0.99))} / ${ms(Math.max(...r.xstor))} | ${r.znetPlaced} of ${r.znetOrders} |`);
  }
  const [base, faulted] = results;
  console.log(`\nx-stor p99 with znet faults / baseline p99: ${(pct(faulted!.xstor, 0.99) / pct(base!.xstor, 0.99)).toFixed(2)} (goal ≤ 2)`);
}

/** When the stream's event of `type` for each order was stamped (`occurredAt`), by order id. */
async function stampedAt(system: TestSystem, ids: string[], type: "OrderCreated" | "PlacementStarted"): Promise<Map<string, number>> {
  const nc = await system.connectNats("admin", "dispatch-bench");
  try {
    const jsm = await jetstreamManager(nc);
    const out = new Map<string, number>();
    for (const id of ids) {
      const m = await jsm.streams.getMessage(system.names.stream, { last_by_subj: system.names.orderEvent(id, type) });
      if (m) out.set(id, Date.parse((JSON.parse(new TextDecoder().decode(m.data)) as OrderEvent).occurredAt));
    }
    return out;
  } finally {
    await nc.close();
  }
}

/** (c) P1: POST → znet receives pin_ekle at 100 orders/s, znet answering at once. */
async function p1(): Promise<void> {
  const RATE = Number(arg("--rate") ?? 100);
  const COUNT = Number(arg("--count") ?? 2_000);
  const places = new PlaceTimes("pin_ekle", ZNET_PLAYER);
  const prefix = `p${tag()}`;
  const r = await withSystem(
    {
      // "answering at once" (the P1): the poller finds each order done at its first check, one check an order.
      znet: { completeAfterMs: 0, onRequest: places.onRequest },
      env: {
        orders: { ...quiet, ...profiledAs("orders"), ...extraEnv("orders") },
        "status-poller": { ...quiet, ...profiledAs("status-poller"), ...extraEnv("status-poller") },
        dispatcher: { ...quiet, ...profiled, ZNET_RATE_PER_SEC: "500", ZNET_BURST: "500", ZNET_CONCURRENCY: "16", ZNET_TIMEOUT_MS: "15000", ...extraEnv("dispatcher") },
      },
    },
    async (system) => {
      const cpu = systemCpu(system);
      cpu.begin();
      const posted = await postAtRate(system, RATE, COUNT, (i) => ({ packageId: "pubg-60", playerId: `${prefix}n${i}` }));
      await waitUntil("every order placed", () => posted.every((p) => places.at.has(p.playerId)), 120_000);
      const cpuUsed = cpu.end();
      const created = await stampedAt(system, posted.map((p) => p.orderId!), "OrderCreated");
      const started = await stampedAt(system, posted.map((p) => p.orderId!), "PlacementStarted");
      return {
        total: posted.map((p) => places.at.get(p.playerId)! - p.startedAt),
        intake: posted.map((p) => created.get(p.orderId!)! - p.startedAt),
        dispatch: posted.map((p) => places.at.get(p.playerId)! - created.get(p.orderId!)!),
        beforeRequest: posted.map((p) => started.get(p.orderId!)! - created.get(p.orderId!)!),
        request: posted.map((p) => places.at.get(p.playerId)! - started.get(p.orderId!)!),
        post: posted.map((p) => p.answeredAt! - p.startedAt),
        cpuUsed,
      };
    },
  );
  const row = (v: number[]) => `${ms(pct(v, 0.5))} / ${ms(pct(v, 0.95))} / ${ms(pct(v, 0.99))} / ${ms(Math.max(...v))}`;
  console.log(`${COUNT} orders at ${RATE}/s (goal: POST → pin_ekle p99 ≤ 100 ms)\n`);
  console.log("| span | p50 / p95 / p99 / max (ms) |");
  console.log("| --- | ---: |");
  console.log(`| POST sent → znet receives pin_ekle | ${row(r.total)} |`);
  console.log(`| of which POST sent → OrderCreated stamped (orders service) | ${row(r.intake)} |`);
  console.log(`| of which OrderCreated stamped → pin_ekle received (dispatcher) | ${row(r.dispatch)} |`);
  console.log(`| of which OrderCreated → PlacementStarted stamped (dispatcher: pull, row, permit, claim) | ${row(r.beforeRequest)} |`);
  console.log(`| of which PlacementStarted stamped → pin_ekle received (its append to the stream, the HTTP request) | ${row(r.request)} |`);
  console.log(`| POST round trip (waits for the projection) | ${row(r.post)} |`);
  console.log(`\nCPU time from the first POST until every order was placed (${COUNT} orders):\n`);
  console.log(cpuPerOrderTable(r.cpuUsed, COUNT, availableParallelism()));
}


async function main(): Promise<void> {
  const scenarios: Record<string, () => Promise<void>> = { latency, throughput, "head-of-line": headOfLine, p1 };
  const chosen = SCENARIO === "all" ? Object.keys(scenarios) : [SCENARIO];
  for (const name of chosen) {
    const run = scenarios[name];
    if (!run) throw new Error(`unknown scenario ${name}; one of ${Object.keys(scenarios).join(", ")}, all`);
    console.log(`\n## ${name}\n`);
    await run();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
