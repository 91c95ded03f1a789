/**
 * The chaos run (issue 14): the whole system — orders, dispatcher and status-poller with two
 * replicas each, a private nats-server, a private PostgreSQL cluster, the znet and x-stor simulators
 * — takes orders at a steady rate while a seeded fault schedule kills and restarts every replica,
 * restarts nats-server and PostgreSQL, opens provider fault windows and sends hostile requests.
 * When the faults stop and the orders settle (bounded grace), the checks of chaos-checks.ts run and
 * the report says what they found. One function for the test command's short run, the documented
 * long run and the soak (chaos-main.ts).
 */
import { eventually, PrivatePostgres, seededRandom } from "@pinflow/testkit";
import { hostileRequests } from "../support/hostile-input.js";
import type { ServiceName } from "../support/paths.js";
import { sendRaw } from "../support/raw-http.js";
import type { ServiceProcess } from "../support/service-process.js";
import { TestSystem } from "../support/system.js";
import { defaultSimPin } from "../simulators/sim-server.js";
import { checkRun, type ChaosChecks, type OrderOutcome } from "./chaos-checks.js";
import { whyNotStarted } from "./chaos-report.js";
import { ProcessSampler, type ProcessGrowth } from "./process-sampler.js";
import { CHAOS_BALANCE, ProviderFaults } from "./provider-faults.js";
import { describeFault, faultSchedule, planOrders, type FaultEvent, type PlannedOrder, type ReplicaName, type ScheduleOptions } from "./scenario.js";

export interface ChaosOptions {
  orders: number;
  /** Orders created a second (steady). */
  ratePerSec: number;
  seed: number;
  /** After the last order and the last fault, how long the orders may take to settle. */
  graceMs: number;
  schedule?: Omit<ScheduleOptions, "durationMs">;
  /**
   * ZNET_CONCURRENCY and XSTOR_CONCURRENCY of the dispatcher and the poller (default: the services'
   * own, 4 and 8): the provider's allowance of calls at once, which bounds the throughput when a share
   * of the calls hang until the time-out.
   */
  providerConcurrency?: number;
  /** Sample memory and open handles of every process this often (the soak). */
  sampleEveryMs?: number;
  log?: (line: string) => void;
}

export interface ChaosReport {
  seed: number;
  orders: number;
  created: number;
  durationMs: number;
  loadMs: number;
  settleMs: number;
  faults: string[];
  faultErrors: string[];
  /** Starts that failed and were repeated by the supervisor (not a defect: a start fails fast when a dependency is down). */
  startFailures: string[];
  /** Replicas that died on their own (a defect). */
  crashes: string[];
  hostile: { sent: number; byStatus: Record<string, number> };
  createRetries: number;
  outcomes: Record<string, number>;
  checks: ChaosChecks;
  growth: ProcessGrowth[];
  logDir: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Settings that keep a run short, time compressed as the fast polling of system.ts is: short provider
 * time-outs, reconcile spacing and poll deadline, and a circuit breaker that cools down in seconds
 * (its defaults, 10 s doubling to 5 min, would hold every znet order for minutes, as they should in
 * production when a fifth of the calls are unclear).
 */
const BREAKER = { BREAKER_THRESHOLD: "8", BREAKER_COOLDOWN_MS: "1000", BREAKER_MAX_COOLDOWN_MS: "4000" };
const CHAOS_ENV: Partial<Record<ServiceName, Record<string, string>>> = {
  dispatcher: {
    ...BREAKER,
    ZNET_TIMEOUT_MS: "2000",
    XSTOR_TIMEOUT_MS: "2000",
    RECONCILE_BASE_MS: "300",
    RECONCILE_MAX_DELAY_MS: "2000",
    RECONCILE_MAX_TRIES: "6",
    ZNET_RATE_PER_SEC: "200",
    XSTOR_RATE_PER_SEC: "200",
    LOG_LEVEL: "info",
  },
  "status-poller": {
    ...BREAKER,
    POLL_DEADLINE_MS: "20000",
    ZNET_RATE_PER_SEC: "400",
    XSTOR_RATE_PER_SEC: "400",
    LEASE_MS: "8000",
    LOG_LEVEL: "info",
  },
  orders: { LOG_LEVEL: "info" },
};

export async function runChaos(o: ChaosOptions): Promise<ChaosReport> {
  const log = o.log ?? (() => undefined);
  const rng = seededRandom(o.seed);
  const started = Date.now();
  const issuedPins = new Set<string>();
  const hostileRng = seededRandom(o.seed ^ 0x5eed);
  const pinFactory = () => {
    const pin = defaultSimPin();
    issuedPins.add(pin);
    return pin;
  };
  const completeAfterMs = () => 200 + Math.floor(Math.random() * 1_500);
  const postgres = new PrivatePostgres();
  await postgres.start();
  const system = new TestSystem({
    processesPerService: 2,
    pgAdminUrl: postgres.adminUrl,
    environment: "chaos",
    znet: { balance: CHAOS_BALANCE, completeAfterMs, pinFactory },
    xstor: { balance: CHAOS_BALANCE, completeAfterMs, pinFactory },
    env: withConcurrency(CHAOS_ENV, o.providerConcurrency),
  });
  const sampler = new ProcessSampler(() => processes(system, postgres));
  try {
    await system.start();
    log(`system up in ${Date.now() - started} ms (logs in ${system.logDir})`);
    const faults = new ProviderFaults(system.znet, system.xstor);
    const planned = planOrders(rng, o.orders, o.seed);
    const loadMs = Math.ceil((o.orders / o.ratePerSec) * 1000);
    const schedule = faultSchedule(rng, { durationMs: loadMs, ...o.schedule });
    for (const f of schedule) log(`planned: ${describeFault(f)}`);
    if (o.sampleEveryMs) sampler.start(o.sampleEveryMs);

    const known = { orderIds: [] as string[], providers: ["znet", "xstor"], packageIds: ["pubg-60", "pubg-325"], idempotencyKeys: [] as string[] };
    const hostileStatuses: Record<string, number> = {};
    let hostileSent = 0;
    const faultErrors: string[] = [];
    const runner = new FaultRunner(system, postgres, faults, log);
    runner.startWatchdog();
    const loadStart = Date.now();
    const faultsDone = Promise.all(
      schedule.map(async (f) => {
        await sleep(Math.max(0, loadStart + f.atMs - Date.now()));
        try {
          if (f.kind === "hostile") {
            const cases = hostileRequests(hostileRng, f.requests, known);
            for (const c of cases) {
              const target = runner.anyRunning(c.service);
              if (!target) continue;
              const res = await sendRaw(target.port, { ...c.request, headers: [["authorization", Buffer.from(`Bearer ${system.keys.customer}`)], ...c.request.headers] }, 10_000).catch(
                () => ({ status: 0 }),
              );
              hostileSent++;
              hostileStatuses[String(res.status)] = (hostileStatuses[String(res.status)] ?? 0) + 1;
            }
          } else await runner.run(f);
        } catch (error) {
          faultErrors.push(`${describeFault(f)}: ${(error as Error).message.slice(0, 500)}`);
        }
      }),
    );

    const load = new LoadClient(system, runner, log);
    const outcomes: OrderOutcome[] = await load.createAll(planned, o.ratePerSec, known);
    const loadDone = Date.now();
    log(`created ${outcomes.filter((x) => x.orderId).length}/${planned.length} orders in ${loadDone - loadStart} ms (${load.retries} retried requests)`);
    await faultsDone;
    faults.closeAll();
    await runner.allUp();
    await eventually(() => {
      if (!Object.values(runner.replicas).every((p) => p.running)) throw new Error("a replica is still starting");
    }, 180_000, 500);
    log(`faults done at ${Date.now() - loadStart} ms; waiting up to ${o.graceMs} ms for the orders to settle`);
    const settleStart = Date.now();
    const statuses = await waitSettled(system, outcomes, o.graceMs);
    const settleMs = Date.now() - settleStart;
    log(`settle wait ${settleMs} ms: ${JSON.stringify(countBy(statuses))}`);
    if (o.sampleEveryMs) sampler.stop();
    runner.stopWatchdog();
    const checks = await checkRun({ system, outcomes, issuedPins, log });
    return {
      seed: o.seed,
      orders: o.orders,
      created: outcomes.filter((x) => x.orderId).length,
      durationMs: Date.now() - started,
      loadMs: loadDone - loadStart,
      settleMs,
      faults: schedule.map(describeFault),
      faultErrors,
      startFailures: runner.startFailures,
      crashes: runner.crashes,
      hostile: { sent: hostileSent, byStatus: hostileStatuses },
      createRetries: load.retries,
      outcomes: countBy(statuses),
      checks,
      growth: o.sampleEveryMs ? sampler.growth(Math.min(60_000, loadMs / 10)) : [],
      logDir: system.logDir,
    };
  } finally {
    sampler.stop();
    await system.stop().catch((e: Error) => log(`stop: ${e.message.slice(0, 2000)}`));
    await postgres.destroy();
  }
}

function withConcurrency(env: typeof CHAOS_ENV, concurrency: number | undefined): typeof CHAOS_ENV {
  if (concurrency === undefined) return env;
  const limits = { ZNET_CONCURRENCY: String(concurrency), XSTOR_CONCURRENCY: String(concurrency) };
  return { ...env, dispatcher: { ...env.dispatcher, ...limits }, "status-poller": { ...env["status-poller"], ...limits } };
}

function processes(system: TestSystem, postgres: PrivatePostgres): Record<string, number | undefined> {
  const out: Record<string, number | undefined> = { runner: process.pid, "nats-server": system.nats.pid, postgres: postgres.pid };
  if (!system.services) return out;
  for (const [name, p] of Object.entries(replicaMap(system))) out[name] = p.pid;
  return out;
}

export function replicaMap(system: TestSystem): Record<ReplicaName, ServiceProcess> {
  const second = (name: ServiceName) => system.replicas.find((r) => r.name === name)!;
  return {
    "orders#1": system.services.orders,
    "orders#2": second("orders"),
    "dispatcher#1": system.services.dispatcher,
    "dispatcher#2": second("dispatcher"),
    "status-poller#1": system.services["status-poller"],
    "status-poller#2": second("status-poller"),
  };
}

/** Runs the faults; each target's faults one after the other, different targets at once. */
class FaultRunner {
  private readonly chains = new Map<string, Promise<void>>();
  readonly replicas: Record<ReplicaName, ServiceProcess>;
  /** Replicas the schedule has down on purpose at the moment. */
  private readonly busy = new Set<ReplicaName>();
  /** Starts that failed (the process exited while starting, e.g. PostgreSQL was down): the supervisor started it again. */
  readonly startFailures: string[] = [];
  /** Replicas that died without being killed (crashes): the watchdog restarted them. */
  readonly crashes: string[] = [];
  private watchdog: NodeJS.Timeout | undefined;

  constructor(
    private readonly system: TestSystem,
    private readonly postgres: PrivatePostgres,
    private readonly faults: ProviderFaults,
    private readonly log: (line: string) => void,
  ) {
    this.replicas = replicaMap(system);
  }

  /** A running replica of `service` (the first when both run), or undefined. */
  anyRunning(service: ServiceName): ServiceProcess | undefined {
    return Object.values(this.replicas).find((p) => p.name === service && p.running);
  }

  run(f: Exclude<FaultEvent, { kind: "hostile" }>): Promise<void> {
    const target = f.kind === "kill" ? f.replica : f.kind === "provider-window" ? `window:${f.window}:${f.atMs}` : f.kind;
    const next = (this.chains.get(target) ?? Promise.resolve()).then(() => this.apply(f));
    this.chains.set(target, next.catch(() => undefined));
    return next;
  }

  async allUp(): Promise<void> {
    await Promise.all(this.chains.values());
  }

  /**
   * As a supervisor (Kubernetes) does: a replica that exits while starting is started again (a start
   * that finds PostgreSQL or NATS down fails fast by design), up to 20 times.
   */
  private async startSupervised(name: ReplicaName): Promise<void> {
    const p = this.replicas[name];
    for (let attempt = 1; ; attempt++) {
      p.start();
      try {
        await p.waitReady(180_000);
        return;
      } catch (error) {
        const why = whyNotStarted((error as Error).message);
        this.startFailures.push(`${name}: ${why}`);
        if (attempt >= 20) throw error;
        await p.kill("SIGKILL");
        await sleep(1_000);
      }
    }
  }

  /** Every second: a replica that is down though no fault holds it down crashed; it is counted and started again. */
  startWatchdog(): void {
    this.watchdog = setInterval(() => {
      for (const name of Object.keys(this.replicas) as ReplicaName[]) {
        if (this.busy.has(name) || this.replicas[name].running) continue;
        this.crashes.push(`${name} at ${new Date().toISOString()}: ${this.replicas[name].readLog().split("\n").filter((l) => l.includes('"level":60')).pop()?.slice(0, 400) ?? "no fatal log line"}`);
        this.busy.add(name);
        void this.startSupervised(name)
          .catch((error: Error) => this.log(`${name} does not start again: ${error.message.slice(0, 300)}`))
          .finally(() => this.busy.delete(name));
      }
    }, 1_000);
  }

  stopWatchdog(): void {
    if (this.watchdog) clearInterval(this.watchdog);
  }

  private async apply(f: Exclude<FaultEvent, { kind: "hostile" }>): Promise<void> {
    this.log(`fault: ${describeFault(f)}`);
    switch (f.kind) {
      case "kill": {
        const p = this.replicas[f.replica];
        this.busy.add(f.replica);
        try {
          await p.kill("SIGKILL");
          await sleep(f.downMs);
          await this.startSupervised(f.replica);
        } finally {
          this.busy.delete(f.replica);
        }
        return;
      }
      case "restart-nats":
        await this.system.nats.stop();
        await sleep(f.downMs);
        await this.system.nats.start();
        return;
      case "restart-postgres":
        await this.postgres.stop("immediate");
        await sleep(f.downMs);
        await this.postgres.start();
        return;
      case "provider-window":
        this.faults.openWindow(f.window);
        await sleep(f.durationMs);
        this.faults.closeWindow(f.window);
        return;
    }
  }
}

/**
 * Creates the orders at a steady rate through both orders replicas, as a client behind a load
 * balancer does: a failed or refused request (replica down, 5xx while PostgreSQL restarts) is sent
 * again, to the other replica, with the same Idempotency-Key, until it is answered 201/200.
 */
class LoadClient {
  retries = 0;
  private turn = 0;
  private static readonly GIVE_UP_MS = 180_000;

  constructor(
    private readonly system: TestSystem,
    private readonly runner: FaultRunner,
    private readonly log: (line: string) => void,
  ) {}

  async createAll(planned: PlannedOrder[], ratePerSec: number, known: { orderIds: string[]; idempotencyKeys: string[] }): Promise<OrderOutcome[]> {
    const start = Date.now();
    const results = planned.map(async (order, i): Promise<OrderOutcome> => {
      await sleep(Math.max(0, start + (i * 1000) / ratePerSec - Date.now()));
      const orderId = await this.create(order);
      if (orderId) {
        known.orderIds.push(orderId);
        known.idempotencyKeys.push(order.playerId);
      }
      return { ...order, orderId };
    });
    return Promise.all(results);
  }

  private async create(order: PlannedOrder): Promise<string | undefined> {
    const deadline = Date.now() + LoadClient.GIVE_UP_MS;
    let lastError = "";
    for (let attempt = 0; Date.now() < deadline; attempt++) {
      if (attempt > 0) {
        this.retries++;
        await sleep(Math.min(2_000, 100 * 2 ** Math.min(attempt, 5)));
      }
      const replica = [this.runner.replicas["orders#1"], this.runner.replicas["orders#2"]][this.turn++ % 2]!;
      if (!replica.running) continue;
      try {
        const res = await fetch(`${replica.url}/v1/orders`, {
          method: "POST",
          headers: { "content-type": "application/json", authorization: `Bearer ${this.system.keys.customer}`, "idempotency-key": order.playerId },
          body: JSON.stringify({ packageId: order.packageId, playerId: order.playerId }),
          signal: AbortSignal.timeout(15_000),
        });
        const body = (await res.json().catch(() => ({}))) as { orderId?: string };
        if ((res.status === 201 || res.status === 200) && body.orderId) return body.orderId;
        lastError = `HTTP ${res.status} ${JSON.stringify(body).slice(0, 200)}`;
        if (res.status >= 400 && res.status < 500 && res.status !== 409 && res.status !== 429) break;
      } catch (error) {
        lastError = (error as Error).message;
      }
    }
    this.log(`order of ${order.playerId} not created: ${lastError}`);
    return undefined;
  }
}

const SETTLED = new Set(["completed", "failed", "review"]);

/** Waits until every created order is completed, failed or in review (by the orders projection), or the grace ends. */
async function waitSettled(system: TestSystem, outcomes: OrderOutcome[], graceMs: number): Promise<Map<string, string>> {
  const deadline = Date.now() + graceMs;
  const { default: pg } = await import("pg");
  const ids = outcomes.flatMap((x) => (x.orderId ? [x.orderId] : []));
  for (;;) {
    const statuses = new Map<string, string>();
    const client = new pg.Client({ connectionString: system.databases.orders.url });
    try {
      await client.connect();
      const rows = (await client.query<{ order_id: string; status: string }>("SELECT order_id, status FROM order_view WHERE order_id = ANY($1)", [ids])).rows;
      for (const r of rows) statuses.set(r.order_id, r.status);
    } catch {
      // the database is coming back
    } finally {
      await client.end().catch(() => undefined);
    }
    const open = ids.filter((id) => !SETTLED.has(statuses.get(id) ?? "missing"));
    if (open.length === 0 || Date.now() > deadline) {
      for (const id of ids) if (!statuses.has(id)) statuses.set(id, "missing");
      return statuses;
    }
    await sleep(1_000);
  }
}

function countBy(statuses: Map<string, string>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of statuses.values()) out[s] = (out[s] ?? 0) + 1;
  return out;
}

