/** Query/form keys whose values are secrets and must never be logged or returned. */
const SECRET_KEYS = /\b(sifre|password|passwd|pass|bayi_sifre|token|api_key|apikey)=([^&\s#"'<>]*)/gi;

/** Masks secret-looking `key=value` pairs anywhere in a text: `sifre=abc` → `sifre=***`. */
export function maskSecrets(text: string): string {
  return text.replace(SECRET_KEYS, "$1=***");
}

/** A URL safe to log: every secret query value masked. */
export function redactUrl(url: string | URL): string {
  return maskSecrets(String(url));
}

/**
 * Removes a known secret from a text, in its plain and URL-encoded forms, and masks
 * secret-looking pairs. Used on provider texts that leave an adapter.
 */
export function scrubSecret(text: string, secret: string): string {
  let out = text;
  if (secret !== "") {
    for (const form of new Set([secret, encodeURIComponent(secret), new URLSearchParams({ s: secret }).toString().slice(2)])) {
      out = out.split(form).join("***");
    }
  }
  return maskSecrets(out);
}
