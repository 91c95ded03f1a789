import { randomBytes } from "node:crypto";
import type { PinCipher } from "@pinflow/secrets";
import { readSecret } from "@pinflow/service-kit";
import type { Logger } from "pino";
import { Gauge, type Registry } from "prom-client";
import type { OrdersConfig } from "./config.js";
import { LiveStreams } from "./live-streams.js";
import type { OrderChanges } from "./order-changes.js";
import type { OrderStore } from "./order-store.js";
import { StreamSlots } from "./stream-slots.js";
import type { StreamTokenSettings } from "./stream.controller.js";

/** The live streams of this replica and the stream-token settings, from the configuration. */
export function liveStreams(
  config: OrdersConfig,
  store: OrderStore,
  pins: PinCipher,
  changes: OrderChanges,
  registry: Registry,
  logger: Logger,
): { streams: LiveStreams; tokens: StreamTokenSettings } {
  let secret: string;
  if (config.STREAM_TOKEN_SECRET !== undefined || config.STREAM_TOKEN_SECRET_FILE !== undefined) {
    secret = readSecret("STREAM_TOKEN_SECRET", config.STREAM_TOKEN_SECRET, config.STREAM_TOKEN_SECRET_FILE);
  } else {
    secret = randomBytes(32).toString("base64url");
    logger.warn("STREAM_TOKEN_SECRET is not set: stream tokens of this process open streams on this process only");
  }
  const slots = new StreamSlots(config.STREAM_MAX_PER_KEY);
  new Gauge({
    name: "pinflow_live_streams",
    help: "Open live order streams (Server-Sent Events) on this replica",
    registers: [registry],
    collect() {
      this.set(slots.total);
    },
  });
  const streams = new LiveStreams(store, pins, changes, slots, { heartbeatMs: config.STREAM_HEARTBEAT_MS, retryMs: 2_000 }, logger);
  return { streams, tokens: { secret, ttlMs: config.STREAM_TOKEN_TTL_MS, now: () => Date.now() } };
}
