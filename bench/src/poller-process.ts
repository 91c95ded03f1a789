/**
 * A real status-poller process for the benchmarks: its own `main.js` on a given database, NATS server
 * and znet simulator (account `bench` / `bench-pass`, the rate cap lifted so that the scheduler, not
 * the politeness cap, is measured), and what its open /metrics say.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { generatePinKeyring } from "@pinflow/secrets";
import { freePort } from "@pinflow/testkit";

const POLLER_MAIN = fileURLToPath(new URL("../../services/status-poller/dist/main.js", import.meta.url));

export interface PollerProcess {
  child: ChildProcess;
  port: number;
}

export interface PollerSetup {
  dbUrl: string;
  natsUrl: string;
  znetUrl: string;
  /** Settings on top of the bench defaults (e.g. CHECK_CONCURRENCY). */
  env?: Record<string, string>;
}

export async function startPoller(setup: PollerSetup): Promise<PollerProcess> {
  const port = await freePort();
  // e.g. POLLER_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" to profile the pollers.
  const nodeArgs = process.env.POLLER_NODE_ARGS?.split(" ").filter(Boolean) ?? [];
  const child = spawn(process.execPath, [...nodeArgs, POLLER_MAIN], {
    env: {
      PATH: process.env.PATH ?? "",
      DATABASE_URL: setup.dbUrl,
      // No HTTP calls but /metrics (open): the key table is not needed.
      AUTH_DATABASE_URL: setup.dbUrl,
      NATS_URL: setup.natsUrl,
      PINFLOW_ENV: "bench",
      HTTP_PORT: String(port),
      LOG_LEVEL: "warn",
      PIN_KEYS: generatePinKeyring(),
      ZNET_BASE_URL: setup.znetUrl,
      ZNET_CODE: "bench",
      ZNET_PASSWORD: "bench-pass",
      SCHEDULER_TICK_MS: "50",
      ZNET_RATE_PER_SEC: "10000",
      ...setup.env,
    },
    stdio: ["ignore", "ignore", "inherit"],
  });
  return { child, port };
}

export async function stopPoller(poller: PollerProcess): Promise<void> {
  if (poller.child.exitCode !== null) return;
  const exited = new Promise((resolve) => poller.child.once("exit", resolve));
  poller.child.kill("SIGTERM");
  await exited;
}

/** The poller's /metrics text, waiting (up to ~20 s) for it to serve. */
export async function pollerMetrics(poller: PollerProcess): Promise<string> {
  for (let tries = 0; ; tries++) {
    try {
      return await (await fetch(`http://127.0.0.1:${poller.port}/metrics`)).text();
    } catch (error) {
      if (tries > 100) throw error;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}

/** Status checks made so far (`pinflow_status_checks_total`, summed over its labels). */
export function checksIn(metrics: string): number {
  return [...metrics.matchAll(/^pinflow_status_checks_total\{[^}]*\} (\d+)/gm)].reduce((n, m) => n + Number(m[1]), 0);
}
