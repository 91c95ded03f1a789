import { connect, type ConnectionOptions as NatsClientOptions, type NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import { inboxPrefixOf } from "./nats-access.js";

export interface NatsCredentials {
  /** The process's own NATS user (`<env>-<role>`, see nats-access.ts). */
  user: string;
  /** Never logged. */
  password: string;
}

export interface NatsTlsOptions {
  /** The CA that signed the server's certificate (PEM file). */
  caFile?: string;
  /** A client certificate and key (PEM files), for servers that verify clients. */
  certFile?: string;
  keyFile?: string;
}

export interface ConnectionOptions {
  servers: string | string[];
  /** One name per service, shown in the server's connection list. */
  name: string;
  logger: Logger;
  /** Without them the connection is anonymous (a development server without authorization). */
  credentials?: NatsCredentials;
  /** TLS to the server (required when set). */
  tls?: NatsTlsOptions;
}

/** The client options connectNats uses (exported for tests: no secret leaves through them but to the server). */
export function natsClientOptions(opts: Omit<ConnectionOptions, "logger">): NatsClientOptions {
  return {
    servers: opts.servers,
    name: opts.name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
    waitOnFirstConnect: true,
    // A user may subscribe to its own inboxes only (nats-access.ts): replies and pulled messages come there.
    ...(opts.credentials ? { user: opts.credentials.user, pass: opts.credentials.password, inboxPrefix: inboxPrefixOf(opts.credentials.user) } : {}),
    ...(opts.tls ? { tls: { ...(opts.tls.caFile ? { caFile: opts.tls.caFile } : {}), ...(opts.tls.certFile ? { certFile: opts.tls.certFile } : {}), ...(opts.tls.keyFile ? { keyFile: opts.tls.keyFile } : {}) } } : {}),
  };
}

/** Connect with reconnect-forever; the caller decides what to do when the connection closes for good. */
export async function connectNats(opts: ConnectionOptions): Promise<NatsConnection> {
  const nc = await connect(natsClientOptions(opts));
  void (async () => {
    for await (const status of nc.status()) {
      if (status.type === "disconnect" || status.type === "reconnect" || status.type === "error") {
        // A status error (e.g. a permissions violation) names the subject and operation, never the credentials.
        const error = status.type === "error" ? String((status as { error?: unknown }).error ?? "") : undefined;
        opts.logger.warn({ natsStatus: status.type, server: "server" in status ? status.server : undefined, ...(error ? { error } : {}) }, "nats connection status");
      }
    }
  })();
  return nc;
}
