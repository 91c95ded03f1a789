/**
 * Live order streams under load (issue 11): `--streams` (default 1,000) Server-Sent Events streams
 * open at once on ONE orders replica, one per order, each opened with a stream token as a browser
 * does. The orders are held at znet (its clock is held back) until every stream is open and has its
 * first event; then znet's clock jumps and the orders complete over about `--spread-s` seconds
 * while all streams stay open. For each order: the time from `PinReceived` (its `occurredAt`, which
 * the poller stamps when the provider's answer is in; the SSE event's `updatedAt` carries it) to the
 * client holding the event with the PIN. Status checks keep changing the orders meanwhile (each a
 * stream event too), as in production.
 *
 *   node bench/dist/sse-bench.js [--streams 1000] [--spread-s 20] [--max-check-delay-ms 10000] [--create-concurrency 16]
 */
import { cpus, totalmem } from "node:os";
import { jetstream } from "@nats-io/jetstream";
import type { OrderView } from "@pinflow/contracts";
import { SseStream } from "@pinflow/test/support/sse-client";
import { TestSystem } from "@pinflow/test/support/system";

const arg = (name: string): string | undefined => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const STREAMS = Number(arg("streams") ?? 1000);
const SPREAD_MS = Number(arg("spread-s") ?? 20) * 1000;
const CREATE_CONCURRENCY = Number(arg("create-concurrency") ?? 16);
/** The poller's longest gap between two checks of an order (POLL_MAX_DELAY_MS): 1,000 watched orders give ~1,000,000 / this checks a second, each a stream event. */
const MAX_CHECK_DELAY_MS = Number(arg("max-check-delay-ms") ?? 10_000);
const HOLD_MS = 24 * 3_600_000;
const DEADLINE_MS = 240_000;

const LIFTED = { ZNET_RATE_PER_SEC: "10000", ZNET_BURST: "10000", ZNET_CONCURRENCY: "64" };
const q = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;

async function inParallel<T>(n: number, concurrency: number, work: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array(n);
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) {
        const i = next++;
        out[i] = await work(i);
      }
    }),
  );
  return out;
}

/** One gauge of the orders service's /metrics (labels ignored). */
async function gauge(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const m = new RegExp(`^\\w*${name}(?:\\{[^}]*\\})? (\\S+)$`, "m").exec(text);
  return m ? Number(m[1]) : NaN;
}
const residentMb = async (url: string) => Math.round((await gauge(url, "process_resident_memory_bytes")) / 1e6);

async function main(): Promise<void> {
  let clockAhead = 0;
  const quiet = { LOG_LEVEL: "warn" };
  const system = new TestSystem({
    env: {
      orders: { ...quiet, STREAM_MAX_PER_KEY: String(STREAMS + 10) },
      dispatcher: { ...quiet, ...LIFTED },
      "status-poller": { ...quiet, ...LIFTED, CHECK_CONCURRENCY: "32", CLAIM_BATCH: "64", POLL_MAX_DELAY_MS: String(MAX_CHECK_DELAY_MS) },
    },
    // Each order completes HOLD + up to SPREAD after it was placed on znet's clock, which stays held until the jump.
    znet: { now: () => Date.now() + clockAhead, completeAfterMs: () => HOLD_MS + Math.random() * SPREAD_MS },
  });
  await system.start();
  const orders = system.services.orders.url;
  const streams: SseStream[] = [];
  try {
    const t0 = Date.now();
    const ids = await inParallel(STREAMS, CREATE_CONCURRENCY, (i) => system.createOrder({ packageId: "pubg-60", playerId: `sse${i}x${t0}` }));
    const createdIn = Date.now() - t0;
    const rssBefore = await residentMb(orders);
    const t1 = Date.now();
    const opened = await inParallel(STREAMS, 32, async (i) => {
      const token = (await system.request(`/v1/orders/${ids[i]}/stream-token`, { method: "POST" })).body as { streamUrl: string };
      const s = await SseStream.open(`${orders}${token.streamUrl}`);
      if (s.status !== 200) throw new Error(`stream ${i}: ${s.status} ${s.errorBody}`);
      streams.push(s);
      const first = JSON.parse((await s.nextEvent(60_000)).data) as { version: number };
      return { s, url: `${orders}${token.streamUrl}`, version: first.version };
    });
    const openIn = Date.now() - t1;
    const rssOpen = await residentMb(orders);
    const live = await gauge(orders, "pinflow_live_streams");
    console.log(`poller: a check of each order at least every ${MAX_CHECK_DELAY_MS} ms`);
    console.log(`${STREAMS} orders created in ${createdIn} ms; ${STREAMS} streams open in ${openIn} ms (pinflow_live_streams ${live}); orders RSS ${rssBefore} MB → ${rssOpen} MB`);

    // When each PinReceived is in JetStream (an ordered consumer of the bench): splits the latency into
    // the poller's part (answer in → committed → relayed) and the orders replica's (projection → stream).
    const nc = await system.connectNats("admin", "sse-bench");
    const onStream = new Map<string, number>();
    const consumer = await jetstream(nc).consumers.get(system.names.stream, { filter_subjects: system.names.eventType("PinReceived") });
    const pinMessages = await consumer.consume();
    void (async () => {
      for await (const m of pinMessages) onStream.set(m.subject.split(".")[2]!, Date.now());
    })();

    // znet finishes the orders now, spread over SPREAD_MS.
    clockAhead = HOLD_MS;
    const tJump = Date.now();
    let events = 0;
    let reconnects = 0;
    const ordersPart: number[] = [];
    const pollerPart: number[] = [];
    const lags = await Promise.all(
      opened.map(async (stream) => {
        let { s } = stream;
        for (;;) {
          let m;
          try {
            m = await s.nextEvent(Math.max(1, DEADLINE_MS - (Date.now() - tJump)));
          } catch (error) {
            if (!/the stream ended/.test(String(error))) throw error;
            // The server ended the stream (e.g. a failed read): reconnect as a browser does, with Last-Event-ID.
            reconnects++;
            s = await SseStream.open(stream.url, { "last-event-id": String(stream.version) });
            streams.push(s);
            if (s.status !== 200) throw new Error(`reconnect: ${s.status} ${s.errorBody}`);
            continue;
          }
          events++;
          const o = JSON.parse(m.data) as OrderView & { version: number };
          stream.version = o.version;
          if (o.status === "completed" && o.pin) {
            const at = performance.timeOrigin + m.at;
            const inStream = onStream.get(o.orderId);
            if (inStream !== undefined) {
              ordersPart.push(at - inStream);
              pollerPart.push(inStream - Date.parse(o.updatedAt));
            }
            return at - Date.parse(o.updatedAt);
          }
          if (o.status === "failed" || o.status === "review") throw new Error(`order ${o.orderId} ended ${o.status}`);
        }
      }),
    );
    const doneIn = Date.now() - tJump;
    await pinMessages.close();
    await nc.close();
    const rssEnd = await residentMb(orders);
    lags.sort((a, b) => a - b);
    const p99 = q(lags, 0.99);
    console.log(
      `PIN latency PinReceived → client event, ${STREAMS} open streams on one orders replica: ` +
        `p50 ${Math.round(q(lags, 0.5))} ms, p95 ${Math.round(q(lags, 0.95))} ms, p99 ${Math.round(p99)} ms, max ${Math.round(lags.at(-1)!)} ms ` +
        `(goal p99 ≤ 250 ms: ${p99 <= 250 ? "pass" : "fail"}); all ${STREAMS} PINs within ${doneIn} ms of the jump; ${events} stream events meanwhile; ${reconnects} reconnects (server ended a stream); orders RSS ${rssEnd} MB`,
    );
    ordersPart.sort((a, b) => a - b);
    pollerPart.sort((a, b) => a - b);
    const split = (xs: number[]) => `p50 ${Math.round(q(xs, 0.5))} ms, p95 ${Math.round(q(xs, 0.95))} ms, p99 ${Math.round(q(xs, 0.99))} ms`;
    console.log(`  of which PinReceived → in JetStream (status-poller: commit, outbox relay): ${split(pollerPart)}`);
    console.log(`  of which in JetStream → client event (orders replica: projection commit, stream write, client): ${split(ordersPart)} (${ordersPart.length} orders; the bench's consumer adds its own delivery time to the first part)`);
    console.log(`machine: ${cpus().length} × ${cpus()[0]?.model ?? "?"}, ${Math.round(totalmem() / 1e9)} GB, node ${process.version}`);
  } finally {
    for (const s of streams) s.close();
    const ended = system.services.orders.readLog().split("\n").filter((line) => line.includes("live stream could not read"));
    if (ended.length > 0) console.log(`orders ended ${ended.length} streams; first: ${ended[0]!.slice(0, 400)}`);
    await system.stop();
    system.cleanLogs();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
