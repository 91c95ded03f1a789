import type { NatsCredentials, NatsTlsOptions } from "@pinflow/bus";
import { z } from "zod";
import { ConfigError } from "./config.js";
import { readSecret } from "./secret.js";

const optionalText = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === "" ? undefined : v));

/**
 * How a process reaches NATS besides NATS_URL: its own user (`<env>-<role>`, see the bus's
 * nats-access.ts) with the password in NATS_PASSWORD or in the file NATS_PASSWORD_FILE (a mounted
 * secret), and TLS (NATS_TLS_CA: the server's CA; NATS_TLS_CERT + NATS_TLS_KEY: a client
 * certificate for servers that verify clients). Without NATS_USER the connection is anonymous (a
 * development server without authorization).
 */
export const NatsSettings = {
  NATS_USER: optionalText,
  NATS_PASSWORD: optionalText,
  NATS_PASSWORD_FILE: optionalText,
  NATS_TLS_CA: optionalText,
  NATS_TLS_CERT: optionalText,
  NATS_TLS_KEY: optionalText,
};

export interface NatsAccess {
  credentials?: NatsCredentials;
  tls?: NatsTlsOptions;
}

type NatsEnv = { [K in keyof typeof NatsSettings]?: string | undefined };

/** The credentials and TLS options of connectNats from the parsed settings; a ConfigError (never echoing the password) when they do not fit together. */
export function natsAccess(e: NatsEnv): NatsAccess {
  const out: NatsAccess = {};
  if (e.NATS_USER !== undefined) {
    if ((e.NATS_PASSWORD === undefined) === (e.NATS_PASSWORD_FILE === undefined)) {
      throw new ConfigError("invalid configuration: NATS_PASSWORD: set exactly one of NATS_PASSWORD and NATS_PASSWORD_FILE with NATS_USER");
    }
    out.credentials = { user: e.NATS_USER, password: readSecret("NATS_PASSWORD", e.NATS_PASSWORD, e.NATS_PASSWORD_FILE) };
  } else if (e.NATS_PASSWORD !== undefined || e.NATS_PASSWORD_FILE !== undefined) {
    throw new ConfigError("invalid configuration: NATS_USER: a NATS password needs its user");
  }
  if ((e.NATS_TLS_CERT === undefined) !== (e.NATS_TLS_KEY === undefined)) {
    throw new ConfigError("invalid configuration: NATS_TLS_CERT: a client certificate needs its key (NATS_TLS_KEY), and the key its certificate");
  }
  if (e.NATS_TLS_CA !== undefined || e.NATS_TLS_CERT !== undefined) {
    out.tls = {
      ...(e.NATS_TLS_CA !== undefined ? { caFile: e.NATS_TLS_CA } : {}),
      ...(e.NATS_TLS_CERT !== undefined ? { certFile: e.NATS_TLS_CERT } : {}),
      ...(e.NATS_TLS_KEY !== undefined ? { keyFile: e.NATS_TLS_KEY } : {}),
    };
  }
  return out;
}
