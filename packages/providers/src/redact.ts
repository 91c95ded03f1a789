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
 * secret-looking pairs and PINs (maskProviderText). Used on every provider text that leaves an adapter.
 */
export function scrubSecret(text: string, secret: string): string {
  let out = text;
  if (secret !== "") {
    for (const form of new Set([secret, encodeURIComponent(secret), new URLSearchParams({ s: secret }).toString().slice(2)])) {
      out = out.split(form).join("***");
    }
  }
  return maskProviderText(out);
}

/** A JSON key that may hold a PIN, plain (`"pin":`) or inside a quoted JSON text (`\"pin\":`). */
const PIN_KEY = /(\\?)"(?:pins?|codes?|pin_?codes?|serial)\1"\s*:\s*/gi;
/** A znet status line `OK|<state>|<pin>|…`: its third field is the PIN. */
const STATUS_LINE_PIN = /(\bOK\|[^|"\\\r\n<]{0,20}\|)[^|"\\\r\n<]*/gi;
const MASK = "***";

/** Where the value that starts at `start` ends (exclusive): a string (closed or cut off), an array, or a bare number/word. */
function valueEnd(text: string, start: number, quoted: boolean): number {
  const quote = quoted ? '\\"' : '"';
  if (text.startsWith(quote, start)) {
    let j = start + quote.length;
    while (j < text.length) {
      if (quoted) {
        if (text.startsWith("\\\\", j)) j += 2;
        else if (text.startsWith('\\"', j)) return j + 2;
        else j++;
      } else if (text[j] === "\\") j += 2;
      else if (text[j] === '"') return j + 1;
      else j++;
    }
    return text.length;
  }
  if (text[start] === "[") {
    const close = text.indexOf("]", start);
    return close === -1 ? text.length : close + 1;
  }
  const bare = /^[^\s,}\]"\\]+/.exec(text.slice(start, start + 200));
  return bare === null ? start : start + bare[0].length;
}

function maskedValue(value: string, quoted: boolean): string {
  const quote = quoted ? '\\"' : '"';
  if (value === "" || /^(?:null|true|false)$/i.test(value)) return value;
  if (value.startsWith(quote)) return `${quote}${MASK}${quote}`;
  if (value.startsWith("[")) return `[${MASK}]`;
  return MASK;
}

/**
 * Masks every PIN-shaped value in a provider text: JSON `pin`/`code` (and `pins`, `codes`,
 * `pin_code`, `serial`) values — strings, numbers, lists, also inside an already quoted JSON text
 * or cut off — and the PIN field of a znet status line `OK|<state>|<pin>|…`.
 */
export function maskPins(text: string): string {
  let out = "";
  let from = 0;
  PIN_KEY.lastIndex = 0;
  for (let m = PIN_KEY.exec(text); m !== null; m = PIN_KEY.exec(text)) {
    const start = m.index + m[0].length;
    const quoted = m[1] === "\\";
    const end = valueEnd(text, start, quoted);
    out += text.slice(from, start) + maskedValue(text.slice(start, end), quoted);
    from = end;
    PIN_KEY.lastIndex = Math.max(end, start);
  }
  out += text.slice(from);
  return out.replace(STATUS_LINE_PIN, `$1${MASK}`);
}

/**
 * The one masking function for every provider body or provider text quoted in a cause, a log line,
 * a row, an event or an API field (dispatcher and status-poller alike): secret `key=value` pairs and
 * every PIN-shaped value are masked.
 */
export function maskProviderText(text: string): string {
  return maskPins(maskSecrets(text));
}
