/**
 * Replay speed of each rebuild (issue 8; DESIGN.md I5). Starts a private nats-server and throw-away
 * databases, fills the environment's stream (`eventNames("bench")`) with complete order lifecycles,
 * then times each rebuild on that stream through the services' own code paths:
 *  - orders: `resetOrderProjection` (what `rebuild-projection.js` does), then the service's
 *    projection as `main.ts` starts it (`startOrderProjection`: its `@EventPattern` handlers on the
 *    bus's projection transport, `OrderProjectionSink`, `PgOrderStore`), until the checkpoint
 *    reaches the stream's last sequence; `orders-bare`: the same sink and store fed by the bus's
 *    ProjectionConsumer without Nest (what the transport costs is the difference);
 *  - dispatcher: `rebuildDispatchRows` (what `rebuild-rows.js` does); before it, `foldStream` alone
 *    (reading and folding, without the writes) is timed once and reported beside it;
 *  - poller: `rebuildWatchRows` (what `rebuild-watches.js` does) with the default poll preset.
 *
 *   node bench/dist/replay-bench.js [--events 1000000] [--checks 3] [--window 4000] [--rebuilds orders,orders-bare,dispatcher,poller] [--timeout-s 900]
 *
 * Per order (4 + checks + 1 events): OrderCreated, PlacementStarted, PlacementAnswered (accepted),
 * OrderSent, `--checks` StatusChecked (pending), PinReceived with a sealed, bound PIN. Publishing uses
 * JetStream async publishes in windows of `--window` messages (one connection, so in order).
 * Each rebuild has a deadline (`--timeout-s`); one that misses it is reported with the events it did.
 */
import { cpus, totalmem } from "node:os";
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { headers } from "@nats-io/transport-node";
import {
  connectNats,
  encodeEvent,
  ensureOrderStream,
  factMsgId,
  makeEvent,
  ProjectionConsumer,
  type EventOrigin,
  type NatsConnection,
  type ProjectionConsumerOptions,
  type ProjectionEntry,
  type ProjectionMessage,
} from "@pinflow/bus";
import { eventNames, HEADERS, type OrderEvent } from "@pinflow/contracts";
import { createPool, ensureOutbox, isTransientDbError, migrate, type Pool } from "@pinflow/pg";
import { generatePinKeyring, PinCipher } from "@pinflow/secrets";
import { TestDatabase, TestNatsServer } from "@pinflow/testkit";
import { DEFAULT_POLICY } from "@pinflow/dispatcher/dist/dispatch.js";
import { foldStream, rebuildDispatchRows } from "@pinflow/dispatcher/dist/rebuild.js";
import { prepareDatabase } from "@pinflow/dispatcher/dist/runtime.js";
import { PgOrderStore, resetOrderProjection } from "@pinflow/orders/dist/pg-order-store.js";
import { rebuildWatchRows } from "@pinflow/status-poller/dist/rebuild.js";
import { DEFAULT_POLICY as DEFAULT_POLL_POLICY } from "@pinflow/status-poller/dist/policy.js";

import { OrderProjectionSink } from "@pinflow/orders/dist/projection-sink.js";
import { startOrderProjection } from "@pinflow/orders/dist/order-projection.js";
import { orderChange, type OrderChange } from "@pinflow/orders/dist/order-change.js";
import type { PinCheck } from "@pinflow/orders/dist/order.js";
import pino from "pino";
import { Counter, Registry } from "prom-client";

const arg = (name: string): string | undefined => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const EVENTS = Number(arg("events") ?? 1_000_000);
const CHECKS = Number(arg("checks") ?? 3);
const WINDOW = Number(arg("window") ?? 4_000);
const REBUILDS = (arg("rebuilds") ?? "orders,dispatcher,poller").split(",");
const TIMEOUT_MS = Number(arg("timeout-s") ?? 900) * 1000;
const PER_ORDER = 4 + CHECKS + 1;
const ORDERS = Math.ceil(EVENTS / PER_ORDER);
const GOAL = 20_000;

const names = eventNames("bench");
const logger = pino({ level: process.env.BENCH_LOG_LEVEL ?? "silent" });
const cipher = new PinCipher(generatePinKeyring());
const ORDERS_MIGRATIONS = fileURLToPath(new URL("../../services/orders/migrations", import.meta.url));
const POLLER_MIGRATIONS = fileURLToPath(new URL("../../services/status-poller/migrations", import.meta.url));
const T0 = Date.parse("2026-12-01T00:00:00.000Z");

interface Outgoing {
  event: OrderEvent;
  msgId: string;
  once: boolean;
}

/** One completed order's events, in stream order. */
function lifecycle(i: number): Outgoing[] {
  const orderId = `o-${i.toString(36).padStart(8, "0")}-bench`;
  const reference = String(100_000_000_000 + i);
  const origin: EventOrigin = { orderId, correlationId: orderId, causationId: null };
  const at = (s: number) => new Date(T0 + i * 100 + s * 1000);
  const created = makeEvent("OrderCreated", origin, { packageId: "pubg-60", playerId: `5${String(i).padStart(9, "0")}`, extra: null }, at(0));
  const then = { ...origin, causationId: created.id };
  const route = [{ provider: "znet" as const, productCode: { oyun: "101", kupur: "60" }, maxCost: "12.00", price: null, priceImportedAt: null }];
  const out: Outgoing[] = [
    { event: created, msgId: factMsgId(created), once: true },
    fact(makeEvent("PlacementStarted", then, { provider: "znet", offerIndex: 0, reference, placeCall: 1, route, openedAt: at(0).toISOString() }, at(1)), 1),
    fact(makeEvent("PlacementAnswered", then, { provider: "znet", reference, placeCall: 1, outcome: "accepted", cost: "10.12", balance: "90000.00", providerOrderId: null }, at(2)), 1),
    fact(
      makeEvent("OrderSent", then, { packageId: "pubg-60", provider: "znet", reference, cost: "10.12", balance: "90000.00", providerOrderId: null, maxCost: "12.00", costAboveMaximum: false }, at(2)),
    ),
  ];
  for (let n = 1; n <= CHECKS; n++) out.push(fact(makeEvent("StatusChecked", then, { provider: "znet", reference, attempt: n, outcome: "pending", note: "İşlem bekliyor" }, at(30 * n)), n));
  const pin = cipher.seal(`PIN-${i.toString(16).padStart(12, "0")}`, { orderId, reference });
  out.push(fact(makeEvent("PinReceived", then, { provider: "znet", reference, pin, note: "İşlem tamamlandı", checks: CHECKS + 1 }, at(30 * (CHECKS + 1)))));
  return out;
}

/** A once-only fact without a discriminator, a repeated one with it (as the services publish them). */
function fact(event: OrderEvent, discriminator?: number): Outgoing {
  return discriminator === undefined ? { event, msgId: factMsgId(event), once: true } : { event, msgId: factMsgId(event, discriminator), once: false };
}

async function fill(nc: NatsConnection): Promise<{ messages: number; seconds: number }> {
  const js = jetstream(nc, { timeout: 60_000 });
  const started = performance.now();
  let window: Promise<unknown>[] = [];
  let messages = 0;
  for (let i = 0; i < ORDERS; i++) {
    for (const m of lifecycle(i)) {
      const h = headers();
      h.set(HEADERS.type, m.event.type);
      h.set(HEADERS.schemaVersion, String(m.event.schemaVersion));
      h.set(HEADERS.correlationId, m.event.correlationId);
      const subject = names.orderEvent(m.event.orderId, m.event.type);
      window.push(js.publish(subject, encodeEvent(m.event), { msgID: m.msgId, headers: h, ...(m.once ? { expect: { lastSubjectSequence: 0 } } : {}) }));
      messages++;
      if (window.length >= WINDOW) {
        await Promise.all(window);
        window = [];
      }
    }
    if (i % 25_000 === 24_999) process.stderr.write(`  filled ${messages} events (${rate(messages, (performance.now() - started) / 1000)} ev/s)\n`);
  }
  await Promise.all(window);
  return { messages, seconds: (performance.now() - started) / 1000 };
}

interface Timed {
  name: string;
  events: number;
  seconds: number;
  done: boolean;
  note: string;
}

/**
 * The orders projection's rebuild. `via`: "nest" as main.ts starts it (the handlers on the Nest
 * projection transport); "bare" the same sink and store fed by the bus's ProjectionConsumer alone,
 * each message's change made by `orderChange` without Nest (what the transport adds is the difference).
 */
async function rebuildOrders(nc: NatsConnection, lastSeq: number, via: "nest" | "bare"): Promise<Timed> {
  const db = await new TestDatabase("bench_replay_orders").create();
  const pool = createPool(db.url, 4);
  try {
    await migrate(pool, ORDERS_MIGRATIONS);
    const pinOpens: PinCheck = (pin, binding) => cipher.opens(pin, binding);
    const store = new PgOrderStore(pool, pinOpens);
    const rejected = new Counter({ name: "bench_rejected_total", help: "bench", labelNames: ["reason"], registers: [new Registry()] });
    const started = performance.now();
    const cpuAtStart = process.cpuUsage();
    await resetOrderProjection(pool);
    const sink = new OrderProjectionSink(store, logger, rejected);
    const options = { isTransient: isTransientDbError };
    const projection = via === "nest" ? await startOrderProjection({ nc, names, sink, pinOpens, logger, options }) : bareProjection(nc, sink, pinOpens, options);
    const progress = setInterval(() => void store.checkpoint().then((c) => process.stderr.write(`  orders projection at ${c} of ${lastSeq}\n`)), 15_000);
    const done = await projection.waitFor(lastSeq, TIMEOUT_MS);
    const seconds = (performance.now() - started) / 1000;
    const cpu = process.cpuUsage(cpuAtStart);
    clearInterval(progress);
    await projection.stop();
    const checkpoint = await store.checkpoint();
    const counts = await pool.query<{ status: string; n: string }>("SELECT status, count(*) AS n FROM order_view GROUP BY status ORDER BY status");
    const rows = counts.rows.map((r) => `${r.status} ${r.n}`).join(", ");
    return { name: via === "nest" ? "orders projection" : "orders projection (bare)", events: checkpoint, seconds, done, note: `order_view: ${rows}; dead letters: ${await countRows(pool, "dead_letter")}; bench process CPU ${((cpu.user + cpu.system) / 1e6).toFixed(1)} s` };
  } finally {
    await pool.end();
    await db.drop();
  }
}

function bareProjection(nc: NatsConnection, sink: OrderProjectionSink, pinOpens: PinCheck, options: ProjectionConsumerOptions): { waitFor: ProjectionConsumer["waitFor"]; stop(): Promise<void> } {
  const entry = (m: ProjectionMessage): ProjectionEntry<OrderChange> => (m.ok ? { message: m, change: orderChange(m.event, pinOpens) } : { message: m, change: undefined });
  const consumer = new ProjectionConsumer(
    nc,
    names,
    {
      checkpoint: () => sink.checkpoint(),
      apply: (m) => sink.commit([entry(m)]),
      applyBatch: (ms) => sink.commit(ms.map(entry)),
      deadLetter: (m, error, tries) => sink.deadLetter(m, error, tries),
    },
    logger,
    options,
  );
  consumer.start();
  return { waitFor: (seq, ms) => consumer.waitFor(seq, ms), stop: () => consumer.stop() };
}

async function rebuildDispatcher(nc: NatsConnection, lastSeq: number): Promise<Timed> {
  const db = await new TestDatabase("bench_replay_dispatch").create();
  const pool = createPool(db.url, 4);
  try {
    await prepareDatabase(pool);
    // Reading and folding alone (the first half of the rebuild), to tell reading from writing.
    const folding = performance.now();
    await foldStream(nc, names, DEFAULT_POLICY, logger);
    const foldSeconds = (performance.now() - folding) / 1000;
    const started = performance.now();
    const result = await rebuildDispatchRows(pool, nc, names, DEFAULT_POLICY, logger, new Date(T0 + 86_400_000));
    const seconds = (performance.now() - started) / 1000;
    const states = await pool.query<{ state: string; n: string }>("SELECT state, count(*) AS n FROM dispatch GROUP BY state ORDER BY state");
    const rows = states.rows.map((r) => `${r.state} ${r.n}`).join(", ");
    return {
      name: "dispatcher rows",
      events: lastSeq,
      seconds,
      done: true,
      note: `read + fold alone ${foldSeconds.toFixed(1)} s; orders ${result.orders}, rows ${result.rows} (${rows}), pending events ${result.pendingEvents}, malformed ${result.malformed}`,
    };
  } finally {
    await pool.end();
    await db.drop();
  }
}

async function rebuildPoller(nc: NatsConnection, lastSeq: number): Promise<Timed> {
  const db = await new TestDatabase("bench_replay_poller").create();
  const pool = createPool(db.url, 4);
  try {
    await migrate(pool, POLLER_MIGRATIONS);
    await ensureOutbox(pool);
    const started = performance.now();
    const result = await rebuildWatchRows(pool, nc, names, () => DEFAULT_POLL_POLICY, logger);
    const seconds = (performance.now() - started) / 1000;
    const states = await pool.query<{ state: string; n: string }>("SELECT state, count(*) AS n FROM watch GROUP BY state ORDER BY state");
    const rows = states.rows.map((r) => `${r.state} ${r.n}`).join(", ");
    return { name: "poller watches", events: lastSeq, seconds, done: true, note: `orders ${result.orders}, watches ${result.watches} (${rows}), samples ${result.samples}, malformed ${result.malformed}` };
  } finally {
    await pool.end();
    await db.drop();
  }
}

async function countRows(pool: Pool, table: string): Promise<string> {
  try {
    return (await pool.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`)).rows[0]!.n;
  } catch {
    return "-";
  }
}

async function postgresVersion(): Promise<string> {
  const db = await new TestDatabase("bench_replay_version").create();
  const pool = createPool(db.url, 1);
  try {
    return (await pool.query<{ server_version: string }>("SHOW server_version")).rows[0]!.server_version;
  } finally {
    await pool.end();
    await db.drop();
  }
}

const rate = (n: number, s: number): string => Math.round(n / s).toLocaleString("en-US");

function versions(): string {
  const nats = (() => {
    try {
      return execFileSync(process.env.NATS_SERVER_BIN ?? "/usr/sbin/nats-server", ["--version"], { encoding: "utf8" }).trim();
    } catch {
      return "nats-server ?";
    }
  })();
  return `Node.js ${process.version}, ${nats}, ${cpus().length} cores (${cpus()[0]?.model.trim()}), ${Math.round(totalmem() / 2 ** 30)} GB RAM`;
}

async function main(): Promise<void> {
  const server = new TestNatsServer();
  await server.start();
  const nc = await connectNats({ servers: server.url, name: "replay-bench", logger });
  try {
    await ensureOrderStream(nc, names);
    const pg = await postgresVersion();
    console.log(`# Replay benchmark\n${versions()}, PostgreSQL ${pg}`);
    console.log(`orders: ${ORDERS} × ${PER_ORDER} events (${CHECKS} status checks), publish window ${WINDOW}, stream ${names.stream}`);
    const filled = await fill(nc);
    const info = await (await jetstreamManager(nc)).streams.info(names.stream);
    const lastSeq = info.state.last_seq;
    console.log(`fill: ${filled.messages} events in ${filled.seconds.toFixed(1)} s = ${rate(filled.messages, filled.seconds)} events/s (stream: ${info.state.messages} messages, ${(info.state.bytes / 2 ** 20).toFixed(0)} MiB)`);
    const results: Timed[] = [];
    for (const which of REBUILDS) {
      const r =
        which === "orders" ? await rebuildOrders(nc, lastSeq, "nest") : which === "orders-bare" ? await rebuildOrders(nc, lastSeq, "bare") : which === "dispatcher" ? await rebuildDispatcher(nc, lastSeq) : which === "poller" ? await rebuildPoller(nc, lastSeq) : null;
      if (r === null) throw new Error(`unknown rebuild ${which} (orders, orders-bare, dispatcher, poller)`);
      results.push(r);
      console.log(`${r.name}: ${r.events} events in ${r.seconds.toFixed(1)} s = ${rate(r.events, r.seconds)} events/s${r.done ? "" : " (DEADLINE MISSED)"}; ${r.note}`);
    }
    console.log("\n| rebuild | events | seconds | events/s | goal ≥ 20,000 events/s |\n| --- | ---: | ---: | ---: | --- |");
    for (const r of results) console.log(`| ${r.name} | ${r.events} | ${r.seconds.toFixed(1)} | ${rate(r.events, r.seconds)} | ${r.done && r.events / r.seconds >= GOAL ? "pass" : "fail"} |`);
  } finally {
    await nc.close();
    await server.destroy();
  }
}

await main();
