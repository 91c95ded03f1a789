/**
 * Small readers shared by the providers' reply parsers (znet, x-stor): body normalisation, quoted
 * snippets for causes, and tolerant field readers for JSON values. None of them throws.
 */
import { maskProviderText } from "./redact.js";

const SNIPPET_CHARS = 80;

/** Strips a UTF-8 BOM (common in PHP files) and surrounding whitespace. */
export function normalize(body: string): string {
  return body.replace(/^\uFEFF+/, "").trim();
}

/**
 * The first characters of a body, quoted, with secrets and PINs masked (maskProviderText, applied to
 * the whole body before it is cut, so a cut never leaves part of a PIN unmasked): for causes and errors.
 */
export function snippet(text: string): string {
  const masked = maskProviderText(text);
  const head = Array.from(masked.slice(0, SNIPPET_CHARS * 2)).slice(0, SNIPPET_CHARS).join("");
  const more = head.length < masked.length ? "…" : "";
  return JSON.stringify(head) + more;
}

export function isHtml(text: string): boolean {
  return text.startsWith("<") || /<html/i.test(text);
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** An id-like field: a non-empty string or a safe integer, as a string. */
export function idField(v: unknown): string | null {
  if (typeof v === "number" && Number.isSafeInteger(v)) return String(v);
  if (typeof v === "string" && v.trim() !== "") return v.trim();
  return null;
}

/** A non-empty string, trimmed. */
export function textField(v: unknown): string | null {
  return typeof v === "string" && v.trim() !== "" ? v.trim() : null;
}

/** A finite number or a string (trimmed) that matches `pattern`, as a string. */
export function amountField(v: unknown, pattern: RegExp): string | null {
  const s = typeof v === "number" && Number.isFinite(v) ? String(v) : typeof v === "string" ? v.trim() : "";
  return pattern.test(s) ? s : null;
}

/** Reads every item of a product list; the first unreadable one fails the whole list, naming its index. */
export function readItems<T>(values: unknown[], read: (raw: unknown) => T | string): { ok: true; items: T[] } | { ok: false; error: string } {
  const items: T[] = [];
  for (const [i, raw] of values.entries()) {
    const p = read(raw);
    if (typeof p === "string") return { ok: false, error: `item ${i}: ${p}: ${snippet(JSON.stringify(raw) ?? "")}` };
    items.push(p);
  }
  return { ok: true, items };
}

/** Lower-case ASCII folding (Turkish too): "BAKİYE" → "bakiye", "Ürün" → "urun". */
export function fold(text: string): string {
  return text
    .normalize("NFD")
    .replace(/[\u0300-\u036f]/g, "")
    .replace(/ı/g, "i")
    .toLowerCase();
}
