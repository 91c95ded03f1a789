import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PgKeyStore } from "@pinflow/auth";
import { eventNames, type CreateOrderResponse, type EventNames, type OrderView } from "@pinflow/contracts";
import { generatePinKeyring } from "@pinflow/secrets";
import type { NatsConnection, NatsRole } from "@pinflow/bus";
import { eventually, freePort, TestDatabase, TestNatsServer } from "@pinflow/testkit";
import pg from "pg";
import { XstorSimulator, type XstorSimOptions } from "../simulators/xstor.js";
import { ZnetSimulator, type ZnetSimOptions } from "../simulators/znet.js";
import { importProviderCatalogs } from "./catalog-import.js";
import { NatsUsers, runNatsSetup } from "./nats-users.js";
import { CATALOG_FILE, SERVICE_NAMES, type ServiceName } from "./paths.js";
import { ServiceProcess } from "./service-process.js";

export const ZNET_CODE = "5301234567";
export const ZNET_PASSWORD = "s3cret-Zn3t-pass";
export const XSTOR_TOKEN = "s3cret-Xst0r-t0ken";
/** The orders replicas' stream-token key (test value). */
export const STREAM_TOKEN_SECRET = "e2e-stream-token-secret-0123456789abcdef";

/** The tenants of every test system: a customer of each, and the keys the tests act with. */
export const TENANT = "acme";
export const OTHER_TENANT = "globex";

/** API keys issued when the system starts (the tokens: never logged by the services). */
export interface SystemKeys {
  /** A customer of TENANT: `request()` sends it unless told otherwise. */
  customer: string;
  /** A customer of OTHER_TENANT. */
  otherCustomer: string;
  /** An operator of every tenant: `call()` sends it unless told otherwise. */
  operator: string;
  /** An operator of OTHER_TENANT only. */
  otherOperator: string;
  admin: string;
  /** The public key ids, by the same names. */
  ids: Record<"customer" | "otherCustomer" | "operator" | "otherOperator" | "admin", string>;
}

export interface SystemOptions {
  /** Extra environment per service (e.g. short poll delays). */
  env?: Partial<Record<ServiceName, Record<string, string>>>;
  znet?: Partial<ZnetSimOptions>;
  /**
   * Also run the x-stor simulator and give its account to the dispatcher and the status-poller
   * (config/catalog.json lists an x-stor offer after each znet one). Off by default.
   */
  xstor?: boolean | Partial<XstorSimOptions>;
  /**
   * Import the providers' product lists into the dispatcher's database before it starts, as an
   * operator does (default true): offers have known prices, which the dispatcher's price guard needs.
   */
  importCatalogs?: boolean;
  /** Processes per service, all started at the same moment on the fresh databases and stream (default 1). */
  processesPerService?: number;
  /** PINFLOW_ENV of every service (default `e2e`): the stream, subjects and durable names derive from it. */
  environment?: string;
  /**
   * Run on this nats-server (started and stopped by the caller) instead of a private one: two systems
   * in two environments on one server. Give its users too when it runs with them (`natsUsers`).
   */
  nats?: TestNatsServer;
  /** The users of the caller's server (`nats`); default: fresh ones for the system's own server. */
  natsUsers?: NatsUsers;
  /** The script each service runs (default: its start.js in the repository), e.g. a `pnpm deploy` bundle's. */
  serviceEntry?: (name: ServiceName) => string;
  /**
   * The maintenance URL of the PostgreSQL server the services' databases go on (a PrivatePostgres's
   * `adminUrl`, for tests that restart the database server); default the machine's shared server.
   */
  pgAdminUrl?: string;
}

/**
 * Short poll delays so the real scheduler runs through its whole policy in seconds; a short ack
 * wait so an OrderSent a killed poller had taken comes back in seconds; provider rates high enough
 * for those delays (the limits still apply: every check goes through the poller's ProviderGate).
 */
export const FAST_POLLING: Record<string, string> = {
  POLL_FIRST_DELAY_MS: "300",
  POLL_DELAYS_MS: "200,300,400",
  POLL_GROWTH: "2",
  POLL_MAX_DELAY_MS: "1000",
  SCHEDULER_TICK_MS: "100",
  LEASE_MS: "5000",
  CONSUMER_ACK_WAIT_MS: "3000",
  GATE_MAX_WAIT_MS: "500",
  ZNET_RATE_PER_SEC: "50",
  XSTOR_RATE_PER_SEC: "50",
};

/**
 * Redelivery after a crash waits for the ack deadline; the same code runs
 * with a shorter one so crash tests take seconds (the bus keeps long calls
 * alive with working() either way).
 */
export const FAST_REDELIVERY: Record<string, string> = {
  CONSUMER_ACK_WAIT_MS: "3000",
  LEASE_MARGIN_MS: "2000",
};

/**
 * The whole pipeline for an end-to-end test: a private JetStream server, one
 * real PostgreSQL database per service, the znet simulator, and the three
 * services as separate OS processes.
 */
export class TestSystem {
  readonly nats: TestNatsServer;
  readonly natsUsers: NatsUsers;
  /** The stream, subjects and durable names of the system's environment. */
  readonly names: EventNames;
  readonly databases: Record<ServiceName, TestDatabase>;
  readonly znet: ZnetSimulator;
  /** Listening only when the system was built with `xstor`. */
  readonly xstor: XstorSimulator;
  readonly logDir = mkdtempSync(join(tmpdir(), "pinflow-e2e-"));
  readonly pinKeys = generatePinKeyring();
  services!: Record<ServiceName, ServiceProcess>;
  keys!: SystemKeys;
  /** Extra service processes (same database and stream): `processesPerService`, addDispatcherReplica(). */
  readonly replicas: ServiceProcess[] = [];

  constructor(private readonly opts: SystemOptions = {}) {
    this.names = eventNames(opts.environment ?? "e2e");
    this.databases = Object.fromEntries(SERVICE_NAMES.map((n) => [n, new TestDatabase(n.replace("-", "_"), opts.pgAdminUrl)])) as Record<ServiceName, TestDatabase>;
    // Every service connects as its own NATS user with least privilege (the bus's nats-access.ts).
    this.natsUsers = opts.natsUsers ?? new NatsUsers([this.names.environment]);
    this.nats = opts.nats ?? new TestNatsServer({ config: this.natsUsers.config() });
    this.znet = new ZnetSimulator({ code: ZNET_CODE, password: ZNET_PASSWORD, balance: 100_000, completeAfterMs: 500, ...opts.znet });
    const xstorOpts = typeof opts.xstor === "object" ? opts.xstor : {};
    this.xstor = new XstorSimulator({ token: XSTOR_TOKEN, balance: 100_000, completeAfterMs: 500, ...xstorOpts });
  }

  async start(): Promise<this> {
    if (!this.opts.nats) await this.nats.start();
    // The set-up step as deployed (nats-setup.js): the environment's admin user creates the stream; the services' users may not.
    await runNatsSetup({ NATS_URL: this.nats.url, PINFLOW_ENV: this.names.environment, ...this.natsUsers.env(this.names.environment, "admin") });
    await Promise.all(Object.values(this.databases).map((db) => db.create()));
    const znetUrl = await this.znet.start(0, "127.0.0.1");
    const shared = { NATS_URL: this.nats.url, PINFLOW_ENV: this.names.environment, LOG_LEVEL: "debug", CATALOG_FILE, PIN_KEYS: this.pinKeys };
    const providerEnv: Record<string, string> = { ZNET_BASE_URL: znetUrl, ZNET_CODE, ZNET_PASSWORD, ZNET_TIMEOUT_MS: "2000" };
    if (this.opts.xstor) {
      const xstorUrl = await this.xstor.start(0, "127.0.0.1");
      Object.assign(providerEnv, { XSTOR_BASE_URL: xstorUrl, XSTOR_TOKEN, XSTOR_TIMEOUT_MS: "2000" });
    }
    const entries = await Promise.all(
      SERVICE_NAMES.map(async (name) => {
        const env: Record<string, string> = {
          ...shared,
          DATABASE_URL: this.databases[name].url,
          // The dispatcher and the poller check API keys in the orders database (read only).
          ...(name === "orders" ? {} : { AUTH_DATABASE_URL: this.databases.orders.url }),
          ...this.natsUsers.env(this.names.environment, name),
          ...(name === "orders" ? {} : providerEnv),
          ...(name === "status-poller" ? FAST_POLLING : {}),
          ...(name === "dispatcher" ? FAST_REDELIVERY : {}),
          // Every orders replica signs and checks stream tokens with the same key.
          ...(name === "orders" ? { STREAM_TOKEN_SECRET: STREAM_TOKEN_SECRET } : {}),
          ...(this.opts.env?.[name] ?? {}),
        };
        return [name, new ServiceProcess(name, env, join(this.logDir, `${name}.log`), await freePort(), this.opts.serviceEntry?.(name))] as const;
      }),
    );
    this.services = Object.fromEntries(entries) as Record<ServiceName, ServiceProcess>;
    // The operator console (orders) calls the dispatcher's and the poller's provider and action endpoints.
    Object.assign(this.services.orders.env, { DISPATCHER_URL: this.services.dispatcher.url, STATUS_POLLER_URL: this.services["status-poller"].url, ...(this.opts.env?.orders ?? {}) });
    if (this.opts.importCatalogs ?? true) await importProviderCatalogs(this.services.dispatcher.env);
    for (const first of Object.values(this.services)) {
      for (let n = 2; n <= (this.opts.processesPerService ?? 1); n++) {
        this.replicas.push(new ServiceProcess(first.name, { ...first.env }, join(this.logDir, `${first.name}-${n}.log`), await freePort(), first.entry));
      }
    }
    const all = [...Object.values(this.services), ...this.replicas];
    for (const service of all) service.start();
    await Promise.all(all.map((s) => s.waitReady()));
    this.keys = await this.issueKeys();
    return this;
  }

  /** Tenants and keys, as an admin creates them (`admin.js`), in the orders database the services just migrated. */
  private async issueKeys(): Promise<SystemKeys> {
    const pool = new pg.Pool({ connectionString: this.databases.orders.url, max: 1 });
    try {
      const store = new PgKeyStore(pool);
      for (const tenant of [TENANT, OTHER_TENANT]) if (!(await store.tenants()).some((t) => t.tenantId === tenant)) await store.createTenant(tenant, tenant);
      const customer = await store.issue({ role: "customer", tenantId: TENANT, label: "e2e customer" });
      const otherCustomer = await store.issue({ role: "customer", tenantId: OTHER_TENANT, label: "e2e other customer" });
      const operator = await store.issue({ role: "operator", tenantId: null, label: "e2e operator" });
      const otherOperator = await store.issue({ role: "operator", tenantId: OTHER_TENANT, label: "e2e other operator" });
      const admin = await store.issue({ role: "admin", tenantId: null, label: "e2e admin" });
      return {
        customer: customer.token,
        otherCustomer: otherCustomer.token,
        operator: operator.token,
        otherOperator: otherOperator.token,
        admin: admin.token,
        ids: { customer: customer.keyId, otherCustomer: otherCustomer.keyId, operator: operator.keyId, otherOperator: otherOperator.keyId, admin: admin.keyId },
      };
    } finally {
      await pool.end();
    }
  }

  /** Every API token of the system (none may ever appear in a log). */
  allTokens(): string[] {
    const { ids: _ids, ...tokens } = this.keys;
    return Object.values(tokens);
  }

  async restart(name: ServiceName): Promise<void> {
    const service = this.services[name];
    await service.kill("SIGKILL");
    service.start();
    await service.waitReady();
  }

  /** Every process of service `name`: the first and its replicas. */
  processes(name: ServiceName): ServiceProcess[] {
    return [this.services[name], ...this.replicas.filter((r) => r.name === name)];
  }

  /** One more process of `name` with the first one's environment (same database and stream), started and ready. */
  async addReplica(name: ServiceName): Promise<ServiceProcess> {
    const first = this.services[name];
    const n = this.replicas.filter((r) => r.name === name).length + 2;
    const replica = new ServiceProcess(name, { ...first.env }, join(this.logDir, `${name}-${n}.log`), await freePort());
    this.replicas.push(replica);
    replica.start();
    await replica.waitReady();
    return replica;
  }

  /**
   * One more dispatcher process with the first one's environment (same database, same durable
   * consumer on the same stream), started and ready.
   */
  async addDispatcherReplica(): Promise<ServiceProcess> {
    const first = this.services.dispatcher;
    const n = this.replicas.filter((r) => r.name === "dispatcher").length + 2;
    const replica = new ServiceProcess("dispatcher", { ...first.env }, join(this.logDir, `dispatcher-${n}.log`), await freePort());
    this.replicas.push(replica);
    replica.start();
    await replica.waitReady();
    return replica;
  }

  async stop(): Promise<void> {
    if (this.services) await Promise.all([...Object.values(this.services), ...this.replicas].map((s) => s.close()));
    await this.znet.stop();
    await this.xstor.stop();
    const refused = this.refusedServiceSubjects();
    if (!this.opts.nats) await this.nats.destroy();
    await Promise.all(Object.values(this.databases).map((db) => db.drop()));
    // Every end-to-end run also proves the permissions are enough: the server refused the services nothing.
    if (refused.length > 0) throw new Error(`the NATS server refused the services' users:\n${refused.join("\n")}`);
  }

  /** The server's log lines of subjects it refused to this system's services (their users have too few permissions). */
  refusedServiceSubjects(): string[] {
    if (!existsSync(this.nats.logFile)) return [];
    const users = SERVICE_NAMES.map((name) => `User "${this.natsUsers.credentials(this.names.environment, name).user}"`);
    return readFileSync(this.nats.logFile, "utf8")
      .split("\n")
      .filter((line) => /violation/i.test(line) && users.some((user) => line.includes(user)));
  }

  /** A NATS connection as one of the environment's users (tests inspect and inject as `admin`). */
  connectNats(role: NatsRole, name: string): Promise<NatsConnection> {
    return this.natsUsers.connect(this.nats.url, this.names.environment, role, name);
  }

  cleanLogs(): void {
    rmSync(this.logDir, { recursive: true, force: true });
  }

  allLogs(): string {
    return [...Object.values(this.services), ...this.replicas].map((s) => s.readLog()).join("\n");
  }

  // --- the public HTTP API, as a customer uses it ---

  /** A request to the orders API with TENANT's customer key (pass `authorization` in the headers to send another, `""` for none). */
  async request(path: string, init: RequestInit = {}): Promise<{ status: number; body: unknown; headers: Headers }> {
    return this.call("orders", path, init, this.keys.customer);
  }

  /** `fetch` with a key (default: the operator of every tenant), for tests that read the raw Response. */
  operatorFetch(url: string, init: RequestInit = {}, key: string = this.keys.operator): Promise<Response> {
    return fetch(url, { ...init, headers: { authorization: `Bearer ${key}`, ...(init.headers ?? {}) } });
  }

  /** An HTTP request to any service, with `key` (default: the operator of every tenant; null: no key at all). */
  async call(service: ServiceName, path: string, init: RequestInit = {}, key: string | null = this.keys.operator): Promise<{ status: number; body: unknown; headers: Headers }> {
    const res = await fetch(`${this.services[service].url}${path}`, {
      ...init,
      headers: { "content-type": "application/json", ...(key === null ? {} : { authorization: `Bearer ${key}` }), ...(init.headers ?? {}) },
    });
    const text = await res.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // not JSON
    }
    return { status: res.status, body, headers: res.headers };
  }

  async createOrder(body: Record<string, unknown>, headers: Record<string, string> = {}): Promise<string> {
    const res = await this.request("/v1/orders", { method: "POST", body: JSON.stringify(body), headers });
    if (res.status !== 201 && res.status !== 200) throw new Error(`create failed: ${res.status} ${JSON.stringify(res.body)}`);
    return (res.body as CreateOrderResponse).orderId;
  }

  /** One order, read with `key` (default: TENANT's customer). */
  async getOrder(orderId: string, key: string = this.keys.customer): Promise<OrderView> {
    const res = await this.call("orders", `/v1/orders/${orderId}`, {}, key);
    if (res.status !== 200) throw new Error(`GET order ${orderId}: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body as OrderView;
  }

  /** Every order completes with its PIN, and each player's znet order was placed exactly once (I1, I3). */
  async expectCompletedAndPlacedOnce(orderIds: readonly string[], playerIds: readonly string[], timeoutMs = 60_000): Promise<void> {
    for (const orderId of orderIds) {
      const order = await this.waitForStatus(orderId, "completed", timeoutMs);
      assert.ok(order.pin, `order ${orderId} has its PIN`);
    }
    for (const playerId of playerIds) {
      const refs = this.znet.referencesFor(playerId);
      assert.equal(refs.length, 1, `player ${playerId} has exactly one provider order`);
      assert.equal(this.znet.placements(refs[0]!), 1, `reference ${refs[0]} was placed once`);
    }
  }

  /** Wait until the order reaches `status` (a wrong terminal status fails at once). */
  async waitForStatus(orderId: string, status: OrderView["status"], timeoutMs = 20_000, key: string = this.keys.customer): Promise<OrderView> {
    return eventually(async () => {
      const order = await this.getOrder(orderId, key);
      if (order.status !== status) throw new Error(`order ${orderId} is ${order.status}, waiting for ${status}`);
      return order;
    }, timeoutMs, 100);
  }
}
