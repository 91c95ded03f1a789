import { connect, type NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";

export interface ConnectionOptions {
  servers: string | string[];
  /** One name per service, shown in the server's connection list. */
  name: string;
  logger: Logger;
}

/** Connect with reconnect-forever; the caller decides what to do when the connection closes for good. */
export async function connectNats(opts: ConnectionOptions): Promise<NatsConnection> {
  const nc = await connect({
    servers: opts.servers,
    name: opts.name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
    waitOnFirstConnect: true,
  });
  void (async () => {
    for await (const status of nc.status()) {
      if (status.type === "disconnect" || status.type === "reconnect" || status.type === "error") {
        opts.logger.warn({ natsStatus: status.type, server: "server" in status ? status.server : undefined }, "nats connection status");
      }
    }
  })();
  return nc;
}
