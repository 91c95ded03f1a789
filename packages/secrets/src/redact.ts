/** Log paths that must never be printed, for pino's `redact` option. */
export const REDACTED_LOG_PATHS = [
  "password",
  "*.password",
  "sifre",
  "*.sifre",
  "token",
  "*.token",
  "apiToken",
  "*.apiToken",
  "pin",
  "*.pin",
  "req.headers.authorization",
  'req.headers["api-token"]',
];

/** Mask credentials carried in query strings (`sifre=…`, `api-token=…`). */
export function maskUrlSecrets(text: string): string {
  return text.replace(/([?&](?:sifre|password|api-token|token)=)[^&\s#]*/gi, "$1***");
}
