/**
 * Runs the znet simulator as a standalone server for demos and manual testing:
 *   node test/dist/simulators/znet-main.js
 *
 * Environment:
 *   ZNET_SIM_PORT      listen port (default 8081)
 *   ZNET_SIM_HOST      listen address (default 0.0.0.0)
 *   ZNET_SIM_CODE      reseller code, `kod` (default "5550000000")
 *   ZNET_SIM_PASSWORD  password, `sifre` (default "sim-sifre"); never printed
 *   ZNET_SIM_BALANCE   starting balance in TRY (default 10000)
 *   ZNET_SIM_COMPLETE_MIN_MS / ZNET_SIM_COMPLETE_MAX_MS
 *                      each order completes after a uniform random delay in [min, max]
 *                      (defaults 2000 / 10000)
 *
 * Built-in demo rules, by the first word of the player id (oyuncu_bilgi):
 *   refuse-…  pin_ekle is refused with `3|Oyuncu bulunamadı` (nothing charged)
 *   cancel-…  the order is accepted, then cancelled (`OK|3| |İşlem iptal edildi`, refunded)
 *   nobalance-…  pin_ekle is refused with `8|Yetersiz bakiye` (insufficient balance: the dispatcher falls back to x-stor)
 * Every other player id is accepted and completes with a generated PIN.
 * One line per request is logged to stdout, with `sifre` masked.
 */
import { completionWindow, envNumber, logRequestLine, stopOnSignal } from "./sim-main.js";
import { ZnetSimulator } from "./znet.js";

const port = envNumber("znet-sim", "ZNET_SIM_PORT", 8081);
const host = process.env["ZNET_SIM_HOST"] || "0.0.0.0";
const code = process.env["ZNET_SIM_CODE"] || "5550000000";
const password = process.env["ZNET_SIM_PASSWORD"] || "sim-sifre";
const balance = envNumber("znet-sim", "ZNET_SIM_BALANCE", 10000);
const { minMs, maxMs, completeAfterMs } = completionWindow("znet-sim", "ZNET_SIM");

const sim = new ZnetSimulator({
  code,
  password,
  balance,
  completeAfterMs,
  onRequest: logRequestLine,
});
sim.addRule({ playerId: "refuse-", match: "prefix", placeReply: "3|Oyuncu bulunamadı" });
sim.addRule({ playerId: "cancel-", match: "prefix", outcome: "cancel" });
sim.addRule({ playerId: "nobalance-", match: "prefix", placeReply: "8|Yetersiz bakiye" });

const baseUrl = await sim.start(port, host);
console.log(`znet simulator listening on ${host}:${port} (${baseUrl}), kod=${code}, balance ${balance.toFixed(2)} TRY, completes in ${minMs}-${maxMs} ms`);

stopOnSignal(sim);
