/**
 * Scale benchmark of the status-poller's durable schedule (issue: a million
 * watched orders). For 10 k and 1 M watched orders in a real PostgreSQL
 * database it reports
 *  - the due-claim query time (the scheduler's `claimDue`, batch of 10), and
 *  - the resident memory of a real poller process working that database
 *    (its scheduler claiming and checking due orders against the znet simulator).
 *
 *   node bench/dist/scale-bench.js [--sizes 10000,1000000]
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { createPool, migrate, type Pool } from "@pinflow/pg";
import { ZnetSimulator } from "@pinflow/test/simulators/znet";
import { TestDatabase, TestNatsServer } from "@pinflow/testkit";
import { checksIn, pollerMetrics, startPoller, stopPoller } from "./poller-process.js";
import { PgWatchStore } from "../../services/status-poller/dist/pg-watch-store.js";

const POLLER_MIGRATIONS = fileURLToPath(new URL("../../services/status-poller/migrations", import.meta.url));
const DUE_FRACTION = 0.01; // 1 % of the watched orders are due at any moment (at least MIN_DUE)
const MIN_DUE = 2_000;
const PROCESS_DUE = 10_000;
const IN_FLIGHT = 500; // due rows already leased by other replicas, which every claim must skip
const CLAIMS = 300;

const secondsArg = process.argv.indexOf("--seconds");
/** How long the poller process runs at each size. */
const RUN_SECONDS = secondsArg > 0 ? Number(process.argv[secondsArg + 1]) : 30;
const sizesArg = process.argv.indexOf("--sizes");
const SIZES = sizesArg > 0 ? process.argv[sizesArg + 1]!.split(",").map(Number) : [10_000, 100_000, 1_000_000];

async function fill(pool: Pool, watched: number, now: Date, due: number): Promise<void> {
  await pool.query("TRUNCATE watch");
  // Watched orders spread over the next 24 h, 1 % overdue; plus as many finished ones (they stay in the table).
  await pool.query(
    `INSERT INTO watch (order_id, provider, reference, package_id, correlation_id, sent_event_id, state, attempt,
                        next_check_at, deadline_at, sent_at, created_at, updated_at)
     SELECT 'o' || i, 'znet', (100000000000 + i)::text, 'pubg-60', 'o' || i, gen_random_uuid()::text,
            CASE WHEN i > $1 THEN 'completed' ELSE 'watching' END, (i % 7),
            CASE WHEN i <= $3::int THEN $2::timestamptz - (i % 600) * interval '1 second'
                 ELSE $2::timestamptz + ((i::bigint * 7919) % 86400) * interval '1 second' END,
            $2::timestamptz + interval '24 hours', $2::timestamptz - interval '1 hour', $2, $2
       FROM generate_series(1, $1 * 2) AS i`,
    [watched, now, due],
  );
  await pool.query("VACUUM ANALYZE watch");
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

async function claimTimes(pool: Pool, now: Date): Promise<number[]> {
  const store = new PgWatchStore(pool);
  await store.claimDue(now, "other-replicas", 60_000, IN_FLIGHT);
  const times: number[] = [];
  for (let i = 0; i < CLAIMS; i++) {
    const started = process.hrtime.bigint();
    // A zero lease puts the rows back at once, so every claim finds due rows behind the in-flight ones.
    const claims = await store.claimDue(now, `bench-${i % 4}`, 0, 10);
    times.push(Number(process.hrtime.bigint() - started) / 1e6);
    if (claims.length === 0) throw new Error("nothing due: the fill is wrong");
  }
  return times.sort((a, b) => a - b);
}

function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  return kb / 1024;
}

async function pollerRss(dbUrl: string, natsUrl: string, znetUrl: string): Promise<{ rss: number[]; heapMiB: number; checks: number }> {
  const poller = await startPoller({ dbUrl, natsUrl, znetUrl, env: { ZNET_CONCURRENCY: "8", CHECK_CONCURRENCY: "8", CLAIM_BATCH: "20" } });
  const rss: number[] = [];
  try {
    const samples = 5;
    const ticks = RUN_SECONDS * 2;
    for (let s = 1; s <= ticks; s++) {
      await new Promise((r) => setTimeout(r, 500));
      if (s % Math.floor(ticks / samples) === 0) rss.push(rssMiB(poller.child.pid!));
    }
    const metrics = await pollerMetrics(poller);
    const heap = Number(/^nodejs_heap_size_used_bytes\{[^}]*\} ([\d.e+]+)/m.exec(metrics)?.[1] ?? NaN);
    return { rss, heapMiB: heap / 1024 / 1024, checks: checksIn(metrics) };
  } finally {
    await stopPoller(poller);
  }
}

async function main(): Promise<void> {
  const nats = await new TestNatsServer().start();
  const znet = new ZnetSimulator({ code: "bench", password: "bench-pass" });
  const znetUrl = await znet.start();
  const db = await new TestDatabase("scale").create();
  // Filling a million rows is one long statement: no statement limits for the bench's own set-up.
  const pool = createPool(db.url, { max: 4, timeouts: { statementMs: 0, queryMs: 0 } });
  const rows: string[] = [];
  try {
    await migrate(pool, POLLER_MIGRATIONS);
    for (const size of SIZES) {
      const now = new Date();
      const t0 = Date.now();
      await fill(pool, size, now, Math.max(MIN_DUE, Math.round(size * DUE_FRACTION)));
      const fillS = (Date.now() - t0) / 1000;
      const times = await claimTimes(pool, now);
      // The same work for the process at every size: PROCESS_DUE orders due now, the rest later.
      await fill(pool, size, new Date(), Math.min(size, PROCESS_DUE));
      const proc = await pollerRss(db.url, nats.url, znetUrl);
      rows.push(
        `| ${size.toLocaleString("en-US")} | ${(size * 2).toLocaleString("en-US")} | ${quantile(times, 0.5).toFixed(2)} | ${quantile(times, 0.95).toFixed(2)} | ${times.at(-1)!.toFixed(2)} | ${proc.rss.map((r) => r.toFixed(0)).join(" / ")} | ${proc.heapMiB.toFixed(0)} | ${proc.checks} | ${fillS.toFixed(0)} s |`,
      );
      console.error(`done ${size}`);
    }
  } finally {
    await pool.end();
    await db.drop();
    await znet.stop();
    await nats.destroy();
  }
  console.log(`due-claim query (claimDue, batch 10, ${CLAIMS} claims; ${DUE_FRACTION * 100} % of watched orders due, at least ${MIN_DUE}; ${IN_FLIGHT} due rows leased by other replicas) and poller RSS (a real poller process working ${PROCESS_DUE} due orders of the table against the znet simulator; RSS sampled 5 times evenly over ${RUN_SECONDS} s)\n`);
  console.log("| watched orders | rows in table | claim p50 ms | claim p95 ms | claim max ms | poller RSS MiB | heap used MiB (end) | checks made | fill time |");
  console.log("| ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: |");
  for (const row of rows) console.log(row);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
