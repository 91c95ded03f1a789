/**
 * Status checks a second per status-poller replica (issue 10): a real poller process (one, then two
 * on the same database) against the znet simulator answering at once, with the znet rate cap
 * lifted, and `--watched` orders (default 1,000,000) all due, so claims never run dry. Each
 * configuration runs `--seconds` after a warm-up; the rate is the growth of
 * `pinflow_status_checks_total` summed over the replicas' /metrics, divided by the time.
 *
 *   node bench/dist/poller-rate-bench.js [--watched 1000000] [--seconds 30] [--configs default,tuned]
 *
 * Configurations: `default` is the poller's own defaults (CHECK_CONCURRENCY 4, CLAIM_BATCH 10,
 * ZNET_CONCURRENCY 2); `tuned` raises the in-process concurrency and the claim size
 * (CHECK_CONCURRENCY 32, CLAIM_BATCH 64, ZNET_CONCURRENCY 64). Every configuration runs with 1
 * and with 2 replicas; the orders' next-check times are reset between runs.
 */
import { cpus } from "node:os";
import { fileURLToPath } from "node:url";
import { createPool, migrate, type Pool } from "@pinflow/pg";
import { ZnetSimulator } from "@pinflow/test/simulators/znet";
import { TestDatabase, TestNatsServer } from "@pinflow/testkit";
import { checksIn, pollerMetrics, startPoller, stopPoller, type PollerProcess } from "./poller-process.js";
import { BROKER_AND_DATABASE, CpuAccount, cpuPerUnit } from "./cpu-account.js";

const POLLER_MIGRATIONS = fileURLToPath(new URL("../../services/status-poller/migrations", import.meta.url));
const arg = (name: string): string | undefined => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const WATCHED = Number(arg("watched") ?? 1_000_000);
const SECONDS = Number(arg("seconds") ?? 30);
const WARMUP_S = 5;
const CONFIGS: Record<string, Record<string, string>> = {
  default: {},
  tuned: { CHECK_CONCURRENCY: "32", CLAIM_BATCH: "64", ZNET_CONCURRENCY: "64" },
};
const CHOSEN = (arg("configs") ?? "default,tuned").split(",");
const GOAL = 1_000;

/** Every watched order due now (spread over the last 10 minutes), as many finished ones beside them. */
async function fill(pool: Pool, watched: number): Promise<void> {
  await pool.query("TRUNCATE watch");
  await pool.query(
    `INSERT INTO watch (order_id, provider, reference, package_id, correlation_id, sent_event_id, state, attempt,
                        next_check_at, deadline_at, sent_at, created_at, updated_at)
     SELECT 'o' || i, 'znet', (100000000000 + i)::text, 'pubg-60', 'o' || i, gen_random_uuid()::text,
            CASE WHEN i > $1 THEN 'completed' ELSE 'watching' END, 1,
            now() - (i % 600) * interval '1 second', now() + interval '24 hours', now() - interval '1 minute', now(), now()
       FROM generate_series(1, $1 * 2) AS i`,
    [watched],
  );
  await pool.query("VACUUM ANALYZE watch");
}

async function resetDue(pool: Pool): Promise<void> {
  await pool.query("UPDATE watch SET next_check_at = now() - (attempt % 600) * interval '1 second', lease_owner = NULL, lease_until = NULL WHERE state = 'watching'");
  await pool.query("VACUUM ANALYZE watch");
}

async function checksOf(poller: PollerProcess): Promise<number> {
  return checksIn(await pollerMetrics(poller));
}

async function run(dbUrl: string, natsUrl: string, znetUrl: string, env: Record<string, string>, replicas: number): Promise<{ rate: number; cpuPerCheck: string }> {
  const started = await Promise.all(
    Array.from({ length: replicas }, (_, i) => startPoller({ dbUrl, natsUrl, znetUrl, env: { POLLER_ID: `bench-${i}`, ZNET_BURST: "10000", ...env } })),
  );
  try {
    await Promise.all(started.map(checksOf)); // up and serving
    await new Promise((r) => setTimeout(r, WARMUP_S * 1000));
    const cpu = new CpuAccount([{ name: "status-poller", pids: () => started.flatMap((p) => (p.child.pid === undefined ? [] : [p.child.pid])) }, ...BROKER_AND_DATABASE]);
    const before = await Promise.all(started.map(checksOf));
    cpu.begin();
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, SECONDS * 1000));
    const after = await Promise.all(started.map(checksOf));
    const used = cpu.end();
    const seconds = (performance.now() - t0) / 1000;
    const checks = after.reduce((n, a, i) => n + a - before[i]!, 0);
    const { parts, total } = cpuPerUnit(used, checks);
    return { rate: checks / seconds, cpuPerCheck: `${total.toFixed(2)} (${parts.map(([name, ms]) => `${name} ${ms.toFixed(2)}`).join(", ")})` };
  } finally {
    await Promise.all(started.map(stopPoller));
  }
}

async function main(): Promise<void> {
  const nats = await new TestNatsServer().start();
  const znet = new ZnetSimulator({ code: "bench", password: "bench-pass" });
  const znetUrl = await znet.start();
  const db = await new TestDatabase("poller_rate").create();
  const pool = createPool(db.url, { max: 2, timeouts: { statementMs: 0, queryMs: 0 } });
  try {
    await migrate(pool, POLLER_MIGRATIONS);
    const t0 = Date.now();
    await fill(pool, WATCHED);
    console.log(`# Poller check rate\nNode.js ${process.version}, ${cpus().length} cores (${cpus()[0]?.model.trim()}); ${WATCHED.toLocaleString("en-US")} watched orders (all due) + as many finished, filled in ${((Date.now() - t0) / 1000).toFixed(0)} s; ${SECONDS} s per run after ${WARMUP_S} s warm-up; znet simulator in this process, answering at once; znet rate cap lifted\n`);
    console.log("| configuration | replicas | checks/s | per replica | goal ≥ 1,000 per replica | CPU ms per check (of which) |\n| --- | ---: | ---: | ---: | --- | --- |");
    for (const name of CHOSEN) {
      const env = CONFIGS[name];
      if (!env) throw new Error(`unknown configuration ${name}`);
      for (const replicas of [1, 2]) {
        await resetDue(pool);
        const { rate, cpuPerCheck } = await run(db.url, nats.url, znetUrl, env, replicas);
        const settings = Object.entries(env).map(([k, v]) => `${k}=${v}`).join(" ") || "defaults";
        console.log(`| ${name} (${settings}) | ${replicas} | ${rate.toFixed(0)} | ${(rate / replicas).toFixed(0)} | ${rate / replicas >= GOAL ? "pass" : "fail"} | ${cpuPerCheck} |`);
      }
    }
  } finally {
    await pool.end();
    await db.drop();
    await znet.stop();
    await nats.destroy();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
