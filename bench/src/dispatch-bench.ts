/**
 * Dispatch latency of the whole running system: how long from a customer's
 * POST /v1/orders until the provider has accepted the order (the promise:
 * "dispatch to provider in well under 2 s"). The three services run as
 * processes on a private NATS server and real PostgreSQL, with the znet
 * simulator answering at once.
 *
 *   node bench/dist/dispatch-bench.js [--orders 60]
 *
 * Per order it measures the POST round trip at the client, and from the
 * stream the time between OrderCreated and OrderSent (`occurredAt`, both
 * stamped on this machine's clock).
 */
import { jetstreamManager } from "@nats-io/jetstream";
import type { OrderEvent } from "@pinflow/contracts";
import { TestSystem } from "@pinflow/test/support/system";
import { eventually } from "@pinflow/testkit";

const ordersArg = process.argv.indexOf("--orders");
const ORDERS = ordersArg > 0 ? Number(process.argv[ordersArg + 1]) : 60;

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

async function main(): Promise<void> {
  const rows: string[] = [];
  for (const s of SCENARIOS) {
    rows.push(await run(s));
    console.error(`done: ${s.name}`);
  }
  console.log("| scenario | orders | POST round trip p50 / p95 (ms) | OrderCreated → OrderSent p50 / p95 / max (ms) |");
  console.log("| --- | ---: | ---: | ---: |");
  for (const row of rows) console.log(row);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
