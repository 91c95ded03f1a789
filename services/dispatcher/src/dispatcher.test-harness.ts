/**
 * Shared setup of the dispatcher integration specs: a private nats-server, a fresh database, the
 * provider simulators and an in-process dispatcher for the whole file, plus helpers that read the
 * order events back from the stream.
 */
import { randomUUID } from "node:crypto";
import { after, before } from "node:test";
import { fileURLToPath } from "node:url";
import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { connectNats, decodeEvent, ensureOrderStream, EventPublisher, makeEvent, type NatsConnection } from "@pinflow/bus";
import { eventNames, parseOrderSubject, type EventOf, type EventType } from "@pinflow/contracts";
import { createPool, type Pool } from "@pinflow/pg";
import { eventually, TestDatabase, TestNatsServer } from "@pinflow/testkit";
import pino from "pino";
import type { XstorClient, ZnetClient } from "@pinflow/providers";
import type { Catalog } from "./catalog.js";
import { fromXstor, fromZnet, importCatalog } from "./catalog-import.js";
import { prepareDatabase, type Dispatcher } from "./runtime.js";

export const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? "silent" });
export const CATALOG = fileURLToPath(new URL("../../../config/catalog.json", import.meta.url));

export interface SimulatorLike {
  start(): Promise<string>;
  stop(): Promise<void>;
}

/** The environment every dispatcher integration test runs in (its stream, subjects and durable names). */
export const TEST_NAMES = eventNames("test");

export interface DispatcherBed {
  readonly pool: Pool;
  readonly nc: NatsConnection;
  readonly jsm: JetStreamManager;
  readonly publisher: EventPublisher;
  readonly dispatcher: Dispatcher;
}

export interface DispatcherBedOptions {
  /** NATS connection name. */
  natsName: string;
  /** Test database name prefix. */
  dbPrefix: string;
  /** Started in order after the database is prepared; stopped after the dispatcher and the connection. */
  simulators: SimulatorLike[];
  /** Builds the dispatcher (not started yet); `urls` are the simulators' base URLs, in order. */
  dispatcher: (ctx: { pool: Pool; nc: NatsConnection; urls: string[] }) => Promise<Dispatcher>;
}

function ready<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`${what} is not set up yet`);
  return value;
}

/** Registers the file's `before`/`after` hooks; the bed's members are available once `before` ran. */
export function useDispatcherBed(opts: DispatcherBedOptions): DispatcherBed {
  const nats = new TestNatsServer();
  const db = new TestDatabase(opts.dbPrefix);
  let pool: Pool | undefined;
  let nc: NatsConnection | undefined;
  let jsm: JetStreamManager | undefined;
  let publisher: EventPublisher | undefined;
  let dispatcher: Dispatcher | undefined;

  before(async () => {
    await nats.start();
    await db.create();
    pool = createPool(db.url);
    await prepareDatabase(pool);
    const urls: string[] = [];
    for (const sim of opts.simulators) urls.push(await sim.start());
    nc = await connectNats({ servers: nats.url, name: opts.natsName, logger });
    await ensureOrderStream(nc, TEST_NAMES);
    jsm = await jetstreamManager(nc);
    publisher = new EventPublisher(nc, TEST_NAMES);
    dispatcher = await opts.dispatcher({ pool, nc, urls });
    dispatcher.start();
  });

  after(async () => {
    await dispatcher?.stop();
    await nc?.close();
    for (const sim of opts.simulators) await sim.stop();
    await pool?.end();
    await db.drop();
    await nats.destroy();
  });

  return {
    get pool() {
      return ready(pool, "pool");
    },
    get nc() {
      return ready(nc, "nats connection");
    },
    get jsm() {
      return ready(jsm, "jetstream manager");
    },
    get publisher() {
      return ready(publisher, "publisher");
    },
    get dispatcher() {
      return ready(dispatcher, "dispatcher");
    },
  };
}

/**
 * Import the providers' product lists (through their real clients, as import-catalog does), so
 * offers have known prices: an operator imports them before taking orders.
 */
export async function importCatalogs(pool: Pool, catalog: Catalog, clients: { znet?: ZnetClient; xstor?: XstorClient }): Promise<void> {
  if (clients.znet) {
    const list = await clients.znet.products();
    if (!list.ok) throw new Error(`znet product list: ${list.error}`);
    await importCatalog(pool, "znet", fromZnet(list.items), catalog);
  }
  if (clients.xstor) {
    const list = await clients.xstor.products();
    if (!list.ok) throw new Error(`xstor product list: ${list.error}`);
    await importCatalog(pool, "xstor", fromXstor(list.items), catalog);
  }
}

export function created(playerId: string, packageId = "pubg-60", extra: string | null = null): EventOf<"OrderCreated"> {
  const orderId = `o-${randomUUID()}`;
  return makeEvent("OrderCreated", { orderId, correlationId: `c-${orderId}`, causationId: null }, { packageId, playerId, extra });
}

/** A fresh player id per test, so simulator rules never leak across tests. */
export function player(tag: string): string {
  return `${tag}-${randomUUID().slice(0, 8)}`;
}

/** The last event of `type` for the order, once it is on the stream. */
export async function waitForEvent<T extends EventType>(jsm: JetStreamManager, orderId: string, type: T, timeoutMs = 15_000): Promise<EventOf<T>> {
  return eventually(async () => {
    const msg = await jsm.streams.getMessage(TEST_NAMES.stream, { last_by_subj: TEST_NAMES.orderEvent(orderId, type) });
    if (msg === null) throw new Error(`no ${type} for ${orderId} yet`);
    const decoded = decodeEvent(msg.data, msg.subject);
    if (!decoded.ok) throw new Error(`malformed ${type}: ${decoded.reason}`);
    return decoded.event as EventOf<T>;
  }, timeoutMs);
}

/** The dispatcher's attempt facts (one per request and per answer): left out of `eventCounts` unless asked for. */
export const ATTEMPT_FACTS: readonly string[] = ["PlacementStarted", "PlacementAnswered", "ReconcileAnswered"];

/**
 * How many messages the stream holds for each event type of the order: the order's outcome events,
 * and with `attemptFacts` also the attempt facts.
 */
export async function eventCounts(jsm: JetStreamManager, orderId: string, opts: { attemptFacts?: boolean } = {}): Promise<Record<string, number>> {
  const info = await jsm.streams.info(TEST_NAMES.stream, { subjects_filter: TEST_NAMES.orderEvents(orderId) });
  const counts: Record<string, number> = {};
  for (const [subject, n] of Object.entries(info.state.subjects ?? {})) {
    const type = parseOrderSubject(subject)?.type ?? subject;
    if (opts.attemptFacts === true || !ATTEMPT_FACTS.includes(type)) counts[type] = n;
  }
  return counts;
}
