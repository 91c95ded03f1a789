/**
 * Runs the x-stor simulator as a standalone server for demos and manual testing:
 *   node test/dist/simulators/xstor-main.js
 *
 * Environment:
 *   XSTOR_SIM_PORT      listen port (default 8082)
 *   XSTOR_SIM_HOST      listen address (default 127.0.0.1)
 *   XSTOR_SIM_TOKEN     the accepted `api-token` header value (default "sim-xstor-token"); never printed
 *   XSTOR_SIM_BALANCE   starting balance in TRY (default 10000)
 *   XSTOR_SIM_COMPLETE_MIN_MS / XSTOR_SIM_COMPLETE_MAX_MS
 *                       each order completes after a uniform random delay in [min, max]
 *                       (defaults 2000 / 10000)
 *
 * Built-in demo rules, by player id (`uid`):
 *   refuse-…  newOrder is refused with `{"status":"ERROR","message":"Invalid player ID","error":"uid"}`
 *   reject-…  the order is accepted, then rejected (refunded)
 * Every other player id is accepted and completes with a generated PIN.
 * One line per request is logged to stdout; the token is never printed and PINs are masked.
 */
import { XstorSimulator } from "./xstor.js";

function envNumber(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === "") return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0) {
    console.error(`xstor-sim: ${name} must be a non-negative number, got ${JSON.stringify(raw)}`);
    process.exit(2);
  }
  return n;
}

const port = envNumber("XSTOR_SIM_PORT", 8082);
const host = process.env["XSTOR_SIM_HOST"] || "127.0.0.1";
const token = process.env["XSTOR_SIM_TOKEN"] || "sim-xstor-token";
const balance = envNumber("XSTOR_SIM_BALANCE", 10000);
const minMs = envNumber("XSTOR_SIM_COMPLETE_MIN_MS", 2000);
const maxMs = envNumber("XSTOR_SIM_COMPLETE_MAX_MS", Math.max(minMs, 10000));
if (maxMs < minMs) {
  console.error(`xstor-sim: XSTOR_SIM_COMPLETE_MAX_MS (${maxMs}) is below XSTOR_SIM_COMPLETE_MIN_MS (${minMs})`);
  process.exit(2);
}

const sim = new XstorSimulator({
  token,
  balance,
  completeAfterMs: () => minMs + Math.random() * (maxMs - minMs),
  onRequest: (line) => console.log(`${new Date().toISOString()} ${line}`),
});
sim.addRule({ playerId: "refuse-", match: "prefix", placeReply: { status: "ERROR", message: "Invalid player ID", error: "uid" } });
sim.addRule({ playerId: "reject-", match: "prefix", outcome: "reject" });

const baseUrl = await sim.start(port, host);
console.log(
  `x-stor simulator listening on ${host}:${port} (${baseUrl}), token ${token === "sim-xstor-token" ? "default" : "from XSTOR_SIM_TOKEN"}, balance ${balance.toFixed(2)} TRY, completes in ${minMs}-${maxMs} ms`,
);

const shutdown = (): void => {
  void sim.stop().then(() => process.exit(0));
};
process.once("SIGINT", shutdown);
process.once("SIGTERM", shutdown);
