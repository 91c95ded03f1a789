/**
 * End-to-end flow benchmarks of issue 10, on the whole running system (the three services as
 * processes, a private nats-server, PostgreSQL, the znet simulator in this process finishing each
 * order at once, provider rate caps lifted, the poller's first check after 300 ms):
 *
 *  - P3, PIN visibility: for orders sent one at a time, the time from the poller's decision that the
 *    provider is done (`PinReceived.occurredAt`, stamped when the answer is in) until
 *    `GET /v1/orders/:id` first shows the PIN, the client asking every `--probe-ms` (default 10 ms;
 *    the figure is exact to within that);
 *  - P4, sustained rate: customers POST at each offered rate (`--rates`, orders a second) for
 *    `--seconds`; the achieved rate is the orders completed divided by the time from the first POST
 *    to the last completion, and every order must end `completed` (zero loss).
 *
 *   node bench/dist/flow-bench.js [--rates 100,200,300,400] [--seconds 20] [--p3-orders 100] [--probe-ms 10] [--clients 32]
 */
import { cpus } from "node:os";
import { createPool } from "@pinflow/pg";
import type { OrderView } from "@pinflow/contracts";
import { TestSystem } from "@pinflow/test/support/system";
import { cpuPerOrderTable, systemCpu } from "./cpu-account.js";

const arg = (name: string): string | undefined => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const RATES = (arg("rates") ?? "100,200,300,400").split(",").map(Number);
const SECONDS = Number(arg("seconds") ?? 20);
const P3_ORDERS = Number(arg("p3-orders") ?? 100);
const PROBE_MS = Number(arg("probe-ms") ?? 10);
const CLIENTS = Number(arg("clients") ?? 32);
const SETTLE_TIMEOUT_MS = 180_000;

const LIFTED = { ZNET_RATE_PER_SEC: "10000", ZNET_BURST: "10000", ZNET_CONCURRENCY: "64" };

function newSystem(): TestSystem {
  const quiet = { LOG_LEVEL: "warn" };
  return new TestSystem({
    env: {
      orders: quiet,
      // FLOW_PROFILE_DIR: CPU profiles of the dispatcher (node --cpu-prof), to see where its time goes.
      dispatcher: { ...quiet, ...LIFTED, ...(process.env.FLOW_PROFILE_DIR ? { SERVICE_NODE_ARGS: `--cpu-prof --cpu-prof-dir=${process.env.FLOW_PROFILE_DIR}` } : {}) },
      "status-poller": { ...quiet, ...LIFTED, CHECK_CONCURRENCY: "32", CLAIM_BATCH: "64" },
    },
    znet: { completeAfterMs: 0 },
  });
}

const q = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function p3(system: TestSystem): Promise<string> {
  const db = createPool(system.databases.orders.url, 2);
  const lags: number[] = [];
  try {
    for (let i = 0; i < P3_ORDERS; i++) {
      const orderId = await system.createOrder({ packageId: "pubg-60", playerId: `p3${i}x${Date.now()}` });
      let seenAt = 0;
      for (;;) {
        const order = (await system.request(`/v1/orders/${orderId}`)).body as OrderView;
        if (order.status === "completed" && order.pin) {
          seenAt = Date.now();
          break;
        }
        await sleep(PROBE_MS);
      }
      const r = await db.query<{ occurred_at: Date }>("SELECT occurred_at FROM order_timeline WHERE order_id = $1 AND type = 'PinReceived'", [orderId]);
      lags.push(seenAt - r.rows[0]!.occurred_at.getTime());
    }
  } finally {
    await db.end();
  }
  lags.sort((a, b) => a - b);
  return `P3 PIN visible on GET after PinReceived (${P3_ORDERS} orders, one at a time, probe every ${PROBE_MS} ms): p50 ${q(lags, 0.5)} ms, p95 ${q(lags, 0.95)} ms, p99 ${q(lags, 0.99)} ms, max ${lags.at(-1)} ms (goal p99 ≤ 250 ms: ${q(lags, 0.99) <= 250 ? "pass" : "fail"})`;
}

async function p4(system: TestSystem, rate: number): Promise<{ row: string; cpu: string }> {
  const total = Math.round(rate * SECONDS);
  const db = createPool(system.databases.orders.url, 2);
  const cpu = systemCpu(system);
  try {
    cpu.begin();
    const ids: string[] = [];
    const postMs: number[] = [];
    let failedPosts = 0;
    const started = Date.now();
    let next = 0;
    // CLIENTS customers; order i is due at started + i / rate.
    await Promise.all(
      Array.from({ length: CLIENTS }, async () => {
        for (;;) {
          const i = next++;
          if (i >= total) return;
          const due = started + (i * 1000) / rate;
          if (due > Date.now()) await sleep(due - Date.now());
          const t0 = performance.now();
          try {
            ids.push(await system.createOrder({ packageId: "pubg-60", playerId: `p4${i}x${started}` }));
          } catch {
            failedPosts++;
          }
          postMs.push(performance.now() - t0);
        }
      }),
    );
    const postedIn = (Date.now() - started) / 1000;
    const deadline = Date.now() + SETTLE_TIMEOUT_MS;
    let counts: Record<string, number> = {};
    for (;;) {
      const r = await db.query<{ status: string; n: string }>("SELECT status, count(*) AS n FROM order_view WHERE order_id = ANY($1) GROUP BY status", [ids]);
      counts = Object.fromEntries(r.rows.map((row) => [row.status, Number(row.n)]));
      const settled = (counts.completed ?? 0) + (counts.failed ?? 0) + (counts.review ?? 0);
      if (settled === ids.length || Date.now() > deadline) break;
      await sleep(250);
    }
    const cpuUsed = cpu.end();
    const last = await db.query<{ last: Date; p50: number; p99: number }>(
      `SELECT max(p.occurred_at) AS last,
              percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM p.occurred_at - c.occurred_at) * 1000) AS p50,
              percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM p.occurred_at - c.occurred_at) * 1000) AS p99
         FROM order_timeline p JOIN order_timeline c ON c.order_id = p.order_id AND c.type = 'OrderCreated'
        WHERE p.type = 'PinReceived' AND p.order_id = ANY($1)`,
      [ids],
    );
    const row = last.rows[0]!;
    const span = (row.last.getTime() - started) / 1000;
    const completed = counts.completed ?? 0;
    postMs.sort((a, b) => a - b);
    const lost = total - completed;
    const cpuTable = `CPU time at ${rate} orders/s offered, from the first POST until every order settled (${completed} completed):\n\n${cpuPerOrderTable(cpuUsed, Math.max(1, completed), cpus().length)}`;
    return { cpu: cpuTable, row: `| ${rate} | ${total} | ${(total / postedIn).toFixed(0)} | ${completed} | ${lost} | ${(completed / span).toFixed(0)} | ${q(postMs, 0.5).toFixed(0)} / ${q(postMs, 0.99).toFixed(0)} | ${Number(row.p50).toFixed(0)} / ${Number(row.p99).toFixed(0)} | ${failedPosts} |` };
  } finally {
    await db.end();
  }
}

async function main(): Promise<void> {
  console.log(`# Flow benchmark\nNode.js ${process.version}, ${cpus().length} cores (${cpus()[0]?.model.trim()}); all services, nats-server and PostgreSQL on this machine; znet simulator (in this process) finishing at once, rate caps lifted, poller's first check after 300 ms\n`);
  let system = newSystem();
  await system.start();
  try {
    console.log(await p3(system));
  } finally {
    await system.stop();
    system.cleanLogs();
  }
  console.log(`\nP4 sustained rate, ${SECONDS} s per offered rate, ${CLIENTS} concurrent clients, a fresh system per rate\n`);
  console.log("| offered orders/s | orders | posted/s | completed | not completed | achieved orders/s (first POST → last PIN) | POST p50 / p99 ms | created → PinReceived p50 / p99 ms | failed POSTs |");
  console.log("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
  const cpuTables: string[] = [];
  for (const rate of RATES) {
    system = newSystem();
    await system.start();
    try {
      const { row, cpu } = await p4(system, rate);
      console.log(row);
      cpuTables.push(cpu);
    } finally {
      await system.stop();
      system.cleanLogs();
    }
  }
  for (const table of cpuTables) console.log(`\n${table}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
