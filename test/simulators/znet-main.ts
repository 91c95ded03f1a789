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
import { ZnetSimulator } from "./znet.js";

function envNumber(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === "") return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0) {
    console.error(`znet-sim: ${name} must be a non-negative number, got ${JSON.stringify(raw)}`);
    process.exit(2);
  }
  return n;
}

const port = envNumber("ZNET_SIM_PORT", 8081);
const host = process.env["ZNET_SIM_HOST"] || "0.0.0.0";
const code = process.env["ZNET_SIM_CODE"] || "5550000000";
const password = process.env["ZNET_SIM_PASSWORD"] || "sim-sifre";
const balance = envNumber("ZNET_SIM_BALANCE", 10000);
const minMs = envNumber("ZNET_SIM_COMPLETE_MIN_MS", 2000);
const maxMs = envNumber("ZNET_SIM_COMPLETE_MAX_MS", Math.max(minMs, 10000));
if (maxMs < minMs) {
  console.error(`znet-sim: ZNET_SIM_COMPLETE_MAX_MS (${maxMs}) is below ZNET_SIM_COMPLETE_MIN_MS (${minMs})`);
  process.exit(2);
}

const sim = new ZnetSimulator({
  code,
  password,
  balance,
  completeAfterMs: () => minMs + Math.random() * (maxMs - minMs),
  onRequest: (line) => console.log(`${new Date().toISOString()} ${line}`),
});
sim.addRule({ playerId: "refuse-", match: "prefix", placeReply: "3|Oyuncu bulunamadı" });
sim.addRule({ playerId: "cancel-", match: "prefix", outcome: "cancel" });
sim.addRule({ playerId: "nobalance-", match: "prefix", placeReply: "8|Yetersiz bakiye" });

const baseUrl = await sim.start(port, host);
console.log(`znet simulator listening on ${host}:${port} (${baseUrl}), kod=${code}, balance ${balance.toFixed(2)} TRY, completes in ${minMs}-${maxMs} ms`);

const shutdown = (): void => {
  void sim.stop().then(() => process.exit(0));
};
process.once("SIGINT", shutdown);
process.once("SIGTERM", shutdown);
