/**
 * Broker memory per order (issue 8, point 6; docs/stream-retention.md). Starts a private
 * nats-server, publishes N orders' events in a stream layout, restarts the server, and reports
 * the server's resident memory (VmRSS from /proc/<pid>/status) per order:
 *  - after publishing (every message id still in the 15-minute duplicate window), and
 *  - after a restart (what the stream costs at rest: mostly its per-subject index).
 *
 *   node bench/dist/stream-memory-bench.js [--orders 50000] [--layouts current,archive,horizon,order-subject] [--checks 3] [--horizon-seconds 30]
 *
 * Layouts:
 *  - current: the live layout, `<env>.orders.<orderId>.<type>` on ORDER_EVENTS_<ENV> (eventNames),
 *    once-only facts with expected-last-subject-sequence 0, msgID per fact;
 *  - archive: the proposed archive (docs/stream-retention.md): the same events copied in order to
 *    one subject per month, `<env>.archive.<yyyymm>` on ORDER_ARCHIVE_<ENV>, msgID = live sequence;
 *  - horizon: the proposed live stream: the current layout with a max age (`--horizon-seconds`,
 *    default 30; days in production): memory is measured once every order has aged out, i.e. what
 *    settled orders leave behind on the broker;
 *  - order-subject: for comparison, one subject per order (`<env>.orders.<orderId>`, type in a header).
 * Per order: OrderCreated, one attempt event (a stand-in for the dispatcher's attempt events), OrderSent,
 * `--checks` StatusChecked, PinReceived.
 */
import { readFileSync } from "node:fs";
import { jetstream, jetstreamManager, StorageType, type JetStreamClient } from "@nats-io/jetstream";
import { connect, headers, nanos, type NatsConnection } from "@nats-io/transport-node";
import { eventNames, HEADERS } from "@pinflow/contracts";
import { eventually, TestNatsServer } from "@pinflow/testkit";

const arg = (name: string): string | undefined => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const ORDERS = Number(arg("orders") ?? 50_000);
const CHECKS = Number(arg("checks") ?? 3);
const LAYOUTS = (arg("layouts") ?? "current,archive,horizon,order-subject").split(",") as Layout[];
const HORIZON_S = Number(arg("horizon-seconds") ?? 30);
const IN_FLIGHT = Number(arg("in-flight") ?? 2_000);
const NAMES = eventNames("bench");
const DUPLICATE_WINDOW_MS = 15 * 60 * 1000;
const ARCHIVE_STREAM = "ORDER_ARCHIVE_BENCH";
const ARCHIVE_SUBJECT = `${NAMES.environment}.archive.202612`;

type Layout = "current" | "archive" | "horizon" | "order-subject";

interface Message {
  subject: string;
  type: string;
  msgId: string;
  once: boolean;
}

/** The events of one completed order, in the order they are published. */
function orderEvents(orderId: string): Array<{ type: string; once: boolean; msgId: string }> {
  const out = [
    { type: "OrderCreated", once: true, msgId: `OrderCreated:${orderId}` },
    { type: "PlaceAttempted", once: false, msgId: `PlaceAttempted:${orderId}:1` },
    { type: "OrderSent", once: true, msgId: `OrderSent:${orderId}` },
  ];
  for (let n = 1; n <= CHECKS; n++) out.push({ type: "StatusChecked", once: false, msgId: `StatusChecked:${orderId}:${n}` });
  out.push({ type: "PinReceived", once: true, msgId: `PinReceived:${orderId}` });
  return out;
}

function messagesOf(layout: Layout, orderId: string, liveSeq: () => number): Message[] {
  return orderEvents(orderId).map((e) => {
    switch (layout) {
      case "current":
      case "horizon":
        return { ...e, subject: NAMES.orderEvent(orderId, e.type as Parameters<typeof NAMES.orderEvent>[1]) };
      case "order-subject":
        return { ...e, subject: `${NAMES.subjectPrefix}.${orderId}`, once: false };
      case "archive":
        return { ...e, subject: ARCHIVE_SUBJECT, once: false, msgId: `live:${liveSeq()}` };
      default: {
        const never: never = layout;
        throw new Error(`unknown layout ${String(never)}`);
      }
    }
  });
}

const streamOf = (layout: Layout): { name: string; subjects: string[] } =>
  layout === "archive" ? { name: ARCHIVE_STREAM, subjects: [`${NAMES.environment}.archive.>`] } : { name: NAMES.stream, subjects: [NAMES.allEvents] };

/** A payload the size of a real event (about 420 bytes of JSON). */
function payload(orderId: string, type: string): Uint8Array {
  return new TextEncoder().encode(
    JSON.stringify({
      id: "0f8f3c1e-7f7a-4a57-9a38-6d1f2b3c4d5e",
      type,
      schemaVersion: 1,
      orderId,
      correlationId: orderId,
      causationId: "5b0c1d2e-3f40-4152-8637-48596a7b8c9d",
      occurredAt: "2026-12-02T14:00:00.000Z",
      data: { provider: "znet", reference: "123456789012", packageId: "pubg-60", playerId: "5123456789", cost: "61.50", note: "İşlem tamamlandı" },
    }),
  );
}

function rssMiB(pid: number): number {
  const kb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? NaN);
  return kb / 1024;
}

/** The server's RSS once it has settled: the median of five samples a second apart. */
async function settledRss(server: TestNatsServer): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < 5; i++) {
    await new Promise((r) => setTimeout(r, 1000));
    samples.push(rssMiB(server.pid!));
  }
  return samples.sort((a, b) => a - b)[2]!;
}

async function restart(server: TestNatsServer, stream: string, messages: number): Promise<NatsConnection> {
  await server.stop();
  await server.start();
  const nc = await connect({ servers: server.url, name: "stream-memory-bench" });
  const jsm = await jetstreamManager(nc);
  await eventually(async () => {
    const state = (await jsm.streams.info(stream)).state;
    if (state.messages !== messages) throw new Error(`recovered ${state.messages} of ${messages}`);
  }, 300_000, 500);
  return nc;
}

async function publishAll(js: JetStreamClient, layout: Layout): Promise<{ messages: number; subjects: number; seconds: number }> {
  const started = performance.now();
  let seq = 0;
  const liveSeq = () => ++seq;
  const subjects = new Set<string>();
  let messages = 0;
  const pending = new Set<Promise<void>>();
  for (let i = 0; i < ORDERS; i++) {
    const orderId = `o-${i.toString(36).padStart(8, "0")}-bench`;
    // An order's events go out in order (once-only facts and their expectations), orders concurrently.
    const one = (async () => {
      for (const m of messagesOf(layout, orderId, liveSeq)) {
        const h = headers();
        h.set(HEADERS.type, m.type);
        await js.publish(m.subject, payload(orderId, m.type), { msgID: m.msgId, headers: h, ...(m.once ? { expect: { lastSubjectSequence: 0 } } : {}) });
        subjects.add(m.subject);
      }
    })();
    messages += orderEvents(orderId).length;
    const tracked = one.finally(() => pending.delete(tracked));
    pending.add(tracked);
    if (pending.size >= IN_FLIGHT) await Promise.race(pending);
  }
  await Promise.all(pending);
  return { messages, subjects: subjects.size, seconds: (performance.now() - started) / 1000 };
}

async function run(layout: Layout): Promise<string> {
  const server = new TestNatsServer();
  await server.start();
  const { name, subjects } = streamOf(layout);
  let nc = await connect({ servers: server.url, name: "stream-memory-bench" });
  try {
    await (await jetstreamManager(nc)).streams.add({
      name,
      subjects,
      storage: StorageType.File,
      deny_delete: true,
      deny_purge: true,
      // The duplicate window may not exceed the max age (days in production, seconds here).
      duplicate_window: nanos(layout === "horizon" ? Math.min(DUPLICATE_WINDOW_MS, HORIZON_S * 1000) : DUPLICATE_WINDOW_MS),
      ...(layout === "horizon" ? { max_age: nanos(HORIZON_S * 1000) } : {}),
    });
    await nc.close();
    nc = await restart(server, name, 0);
    const emptyMiB = await settledRss(server);
    const published = await publishAll(jetstream(nc, { timeout: 30_000 }), layout);
    // The horizon layout: wait until every order has aged out of the live stream.
    const left = layout === "horizon" ? 0 : published.messages;
    if (layout === "horizon") {
      const jsm = await jetstreamManager(nc);
      await eventually(async () => {
        const state = (await jsm.streams.info(name)).state;
        if (state.messages !== 0) throw new Error(`${state.messages} messages not aged out yet`);
      }, 600_000, 1000);
    }
    const hotMiB = await settledRss(server);
    await nc.close();
    nc = await restart(server, name, left);
    const restMiB = await settledRss(server);
    const perOrder = (mib: number) => ((mib - emptyMiB) * 1024 * 1024) / ORDERS;
    return `| ${layout} | ${ORDERS} | ${published.messages} | ${published.subjects} | ${published.seconds.toFixed(0)} | ${emptyMiB.toFixed(0)} | ${hotMiB.toFixed(0)} | ${restMiB.toFixed(0)} | ${perOrder(hotMiB).toFixed(0)} | ${perOrder(restMiB).toFixed(0)} |`;
  } finally {
    await nc.close();
    await server.destroy();
  }
}

console.log("# Stream memory benchmark");
console.log(`orders: ${ORDERS}; per order: OrderCreated, 1 attempt event, OrderSent, ${CHECKS} StatusChecked, PinReceived; duplicate window 15 min; ${IN_FLIGHT} publishes in flight`);
console.log("");
console.log("| layout | orders | messages | subjects | publish (s) | RSS empty (MiB) | RSS after publishing (MiB) | RSS after restart (MiB) | bytes/order, publishing | bytes/order, at rest |");
console.log("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
for (const layout of LAYOUTS) console.log(await run(layout));
