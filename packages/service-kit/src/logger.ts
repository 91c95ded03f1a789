import pino, { type Logger } from "pino";
import { REDACTED_LOG_PATHS } from "@pinflow/secrets";
import { traceFields } from "./tracing.js";

/** JSON logs with secrets redacted by path; callers must still never put a secret in a message text. */
export function createLogger(service: string, level = process.env.LOG_LEVEL ?? "info"): Logger {
  return pino({
    level,
    base: { service },
    redact: { paths: REDACTED_LOG_PATHS, censor: "***" },
    timestamp: pino.stdTimeFunctions.isoTime,
    mixin: traceFields,
  });
}
export type { Logger };
