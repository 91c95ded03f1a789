/**
 * One PIN rule for every provider parser (znet, x-stor). Providers fill a PIN field that has no PIN
 * with a placeholder: blank, a dash (`-`, `--`, `—`), `null`, `N/A`, `0` and the like. A placeholder
 * is never a PIN. When several fields may hold the PIN (x-stor `pin`, then `code`), the first one
 * holding a real value wins.
 */

/** Words that mean "no PIN" (compared case-insensitively, whitespace removed). */
const PLACEHOLDER_WORDS: ReadonlySet<string> = new Set(["null", "nil", "none", "n/a", "na", "n.a.", "n.a", "undefined", "yok", "0", "false"]);

/** Something a PIN must contain: a letter or a digit of any script. */
const LETTER_OR_DIGIT = /[\p{L}\p{N}]/u;

/** True when `text` is not a PIN: blank, only punctuation (`-`, `--`, `—`, `...`, `***`), or a "no value" word. */
export function isPinPlaceholder(text: string): boolean {
  const t = text.trim();
  if (!LETTER_OR_DIGIT.test(t)) return true;
  return PLACEHOLDER_WORDS.has(t.replace(/\s+/g, "").toLowerCase());
}

/**
 * A PIN from one field value: a string (trimmed) or a non-negative safe integer, unless it is a
 * placeholder. Anything else (null, objects, booleans, other numbers) is no PIN.
 */
export function pinFromField(value: unknown): string | null {
  let text: string;
  if (typeof value === "string") text = value.trim();
  else if (typeof value === "number" && Number.isSafeInteger(value) && value >= 0) text = String(value);
  else return null;
  return isPinPlaceholder(text) ? null : text;
}

/** The PIN of the first field (in the provider's order of preference) that holds a real value; null when none does. */
export function pinFromFields(...values: unknown[]): string | null {
  for (const v of values) {
    const pin = pinFromField(v);
    if (pin !== null) return pin;
  }
  return null;
}
