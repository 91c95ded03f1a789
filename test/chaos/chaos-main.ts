/**
 * The chaos run as one command (issue 14), e.g. the documented long run and the soak:
 *   node test/dist/chaos/chaos-main.js --orders 10000 --rate 20 --seed 14
 *   node test/dist/chaos/chaos-main.js --soak-minutes 60 --rate 5 --seed 14
 * Options: --orders N, --rate per second, --seed, --grace-s (settle time after the faults),
 * --kill-rounds, --restarts (nats and PostgreSQL each), --windows, --hostile-bursts,
 * --provider-concurrency N (ZNET_/XSTOR_CONCURRENCY: calls at once each provider allows),
 * --soak-minutes M (orders = rate × 60 × M; memory and open handles sampled every --sample-s;
 * the first replica of each service is never killed, so its growth over the whole soak is seen).
 * Prints the report; exit code 0 only when every check passed.
 */
import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { runChaos } from "./chaos-run.js";
import { formatReport } from "./chaos-report.js";

const { values } = parseArgs({
  options: {
    orders: { type: "string", default: "10000" },
    rate: { type: "string", default: "20" },
    seed: { type: "string", default: "14" },
    "grace-s": { type: "string", default: "180" },
    "kill-rounds": { type: "string" },
    restarts: { type: "string" },
    windows: { type: "string" },
    "hostile-bursts": { type: "string" },
    "soak-minutes": { type: "string" },
    "sample-s": { type: "string", default: "10" },
    json: { type: "string" },
    "provider-concurrency": { type: "string" },
  },
});
const rate = Number(values.rate);
const soakMinutes = values["soak-minutes"] === undefined ? undefined : Number(values["soak-minutes"]);
const orders = soakMinutes === undefined ? Number(values.orders) : Math.round(rate * 60 * soakMinutes);
const loadS = orders / rate;
const scaled = (given: string | undefined, per10Min: number) => (given !== undefined ? Number(given) : Math.max(1, Math.round((loadS / 600) * per10Min)));
const report = await runChaos({
  orders,
  ratePerSec: rate,
  seed: Number(values.seed),
  graceMs: Number(values["grace-s"]) * 1000,
  schedule: {
    killRounds: scaled(values["kill-rounds"], 2),
    natsRestarts: scaled(values.restarts, 2),
    postgresRestarts: scaled(values.restarts, 2),
    providerWindows: scaled(values.windows, 14),
    hostileBursts: scaled(values["hostile-bursts"], 10),
    spare: soakMinutes === undefined ? [] : ["orders#1", "dispatcher#1", "status-poller#1"],
  },
  providerConcurrency: values["provider-concurrency"] === undefined ? undefined : Number(values["provider-concurrency"]),
  sampleEveryMs: soakMinutes === undefined ? undefined : Number(values["sample-s"]) * 1000,
  log: (line) => console.log(`[chaos ${new Date().toISOString().slice(11, 19)}] ${line}`),
});
console.log(formatReport(report));
if (values.json) writeFileSync(values.json, JSON.stringify(report, null, 2));
process.exit(report.checks.passed && report.crashes.length === 0 ? 0 : 1);
