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
 *   finish-…  the order is finished in its place reply (`data.status` success with the PIN)
 * Every other player id is accepted and completes with a generated PIN.
 * One line per request is logged to stdout; the token is never printed and PINs are masked.
 */
import { completionWindow, envNumber, logRequestLine, stopOnSignal } from "./sim-main.js";
import { XstorSimulator } from "./xstor.js";

const port = envNumber("xstor-sim", "XSTOR_SIM_PORT", 8082);
const host = process.env["XSTOR_SIM_HOST"] || "127.0.0.1";
const token = process.env["XSTOR_SIM_TOKEN"] || "sim-xstor-token";
const balance = envNumber("xstor-sim", "XSTOR_SIM_BALANCE", 10000);
const { minMs, maxMs, completeAfterMs } = completionWindow("xstor-sim", "XSTOR_SIM");

const sim = new XstorSimulator({
  token,
  balance,
  completeAfterMs,
  onRequest: logRequestLine,
});
sim.addRule({ playerId: "refuse-", match: "prefix", placeReply: { status: "ERROR", message: "Invalid player ID", error: "uid" } });
sim.addRule({ playerId: "reject-", match: "prefix", outcome: "reject" });
sim.addRule({ playerId: "finish-", match: "prefix", finishInPlaceReply: true });

const baseUrl = await sim.start(port, host);
console.log(
  `x-stor simulator listening on ${host}:${port} (${baseUrl}), token ${token === "sim-xstor-token" ? "default" : "from XSTOR_SIM_TOKEN"}, balance ${balance.toFixed(2)} TRY, completes in ${minMs}-${maxMs} ms`,
);

stopOnSignal(sim);
