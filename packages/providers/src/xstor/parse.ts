/**
 * Pure parsers of x-stor JSON replies (see shared/providers/xstor.md).
 * They never throw: every input string maps to a result union value.
 * Only a readable `"status": "OK"` is an acceptance and only a readable non-OK status is a
 * refusal; anything else (empty, HTML, non-JSON, 5xx, 429, odd shapes) is ambiguous/unknown.
 */
import type { BalanceResult, CheckResult, PlaceResult, ReasonCode } from "../provider.js";
import { amountField, fold, idField, isHtml, isRecord, normalize, readItems, snippet, textField } from "../parse-fields.js";
import { pinFromFields } from "../pin-rule.js";
import { maskProviderText } from "../redact.js";

/** How a batch check was asked: by the provider's `order_id`s or by our `order_uuid`s (`uuid=1`). */
export type XstorCheckBy = "order_id" | "uuid";

export interface XstorCheckQuery {
  /** The ids sent in `orders=[...]`. */
  ids: readonly string[];
  by: XstorCheckBy;
}

/** A whole batch reply could not be read: every asked id is unknown. */
export interface XstorCheckFailure {
  kind: "unknown";
  cause: string;
}

/** `qty_values`: `null` (not restricted), a range, or a list of allowed values. */
export type XstorQtyValues = null | { min: number; max: number } | string[];

export interface XstorProduct {
  id: string;
  name: string;
  /** Reseller cost in TRY, a decimal string. */
  price: string;
  categoryName: string | null;
  available: boolean;
  /** Names of the inputs an order needs, e.g. `["uid", "server"]`. */
  params: string[];
  productType: string | null;
  qtyValues: XstorQtyValues;
}

export type XstorProductListResult = { ok: true; items: XstorProduct[] } | { ok: false; error: string };

/** Meaning of a status word (xstor.md "Status words"); anything else is unknown. */
export type XstorStatusMeaning = "done" | "refused" | "in_progress" | "unknown";

const DONE_WORDS = new Set(["success", "ok", "done", "complete", "completed"]);
const REFUSED_WORDS = new Set(["reject", "rejected", "failed", "fail", "error", "cancelled", "canceled"]);
const PROGRESS_WORDS = new Set(["wait", "pending", "processing", "inprogress", "queued", "queue", "accepted"]);

const AMOUNT = /^\d+(?:\.\d+)?$/;
const SIGNED_AMOUNT = /^-?\d+(?:\.\d+)?$/;

/** Case-insensitive meaning of a provider status word (surrounding whitespace ignored). */
export function statusMeaning(word: string): XstorStatusMeaning {
  const w = word.trim().toLowerCase();
  if (DONE_WORDS.has(w)) return "done";
  if (REFUSED_WORDS.has(w)) return "refused";
  if (PROGRESS_WORDS.has(w)) return "in_progress";
  return "unknown";
}

/** The human-readable note: `replay_api` (a list joined with "; ", or a string), else `note`, else `message`. */
function noteOf(o: Record<string, unknown>): string | null {
  const replay = o["replay_api"];
  if (Array.isArray(replay)) {
    const parts = replay
      .map((x) => (typeof x === "string" ? x.trim() : typeof x === "number" && Number.isFinite(x) ? String(x) : ""))
      .filter((x) => x !== "");
    if (parts.length > 0) return parts.join("; ");
  } else {
    const r = textField(replay);
    if (r !== null) return r;
  }
  return textField(o["note"]) ?? textField(o["message"]);
}

/**
 * Maps a refusal's `message`/`error` text to a ReasonCode. Besides the English words of the brief,
 * "duplicate"/"already exists" → duplicate_reference (the order may exist: never a plain refusal) and
 * a few Turkish words are understood.
 */
export function refusalReason(text: string): ReasonCode {
  const t = fold(text);
  const has = (...words: string[]): boolean => words.some((w) => t.includes(w));
  if (has("duplicate", "already exist", "already used", "already been taken", "daha once")) return "duplicate_reference";
  if (has("balance", "bakiye", "insufficient", "yetersiz")) return "insufficient_balance";
  if (has("product", "not available", "unavailable", "stock", "stok", "urun")) return "product_unavailable";
  if (/\buid\b/.test(t) || has("player", "user id", "user_id", "oyuncu")) return "invalid_player";
  if (has("token", "auth", "unauthori", "yetki")) return "auth_failed";
  return "provider_error";
}

type Doc = { ok: true; value: unknown; text: string } | { ok: false; problem: string };

/** Reads a 2xx JSON body; anything else is a transport/format problem described for a cause. */
function readJson(body: string, httpStatus: number): Doc {
  const text = normalize(body);
  if (!Number.isInteger(httpStatus) || httpStatus < 200 || httpStatus > 299) {
    const why = httpStatus === 429 ? " (rate limited)" : "";
    return { ok: false, problem: text === "" ? `HTTP ${httpStatus}${why}` : `HTTP ${httpStatus}${why}: ${snippet(text)}` };
  }
  return parseJsonText(text);
}

function parseJsonText(text: string): Doc {
  if (text === "") return { ok: false, problem: "empty body" };
  if (isHtml(text)) return { ok: false, problem: `HTML body (wrong base URL?): ${snippet(text)}` };
  try {
    return { ok: true, value: JSON.parse(text) as unknown, text };
  } catch {
    return { ok: false, problem: `not JSON: ${snippet(text)}` };
  }
}

/** A JSON error object sent with HTTP 401/403: `{"status":"ERROR","message":"Unauthenticated"}` or `{"message": ...}`. */
function authError(body: string, httpStatus: number): { providerCode: string; message: string } | null {
  if (httpStatus !== 401 && httpStatus !== 403) return null;
  const doc = parseJsonText(normalize(body));
  if (!doc.ok || !isRecord(doc.value)) return null;
  const status = textField(doc.value["status"]);
  if (status !== null && status.toUpperCase() === "OK") return null;
  const message = textField(doc.value["message"]) ?? textField(doc.value["error"]);
  if (message === null && status === null) return null;
  return { providerCode: String(httpStatus), message: message ?? status ?? "" };
}

/** Top-level `status`: "ok" (case-insensitive OK), a refusal status, or unreadable (missing / not a string / a status word of the table that is not OK). */
function topStatus(doc: Record<string, unknown>): { kind: "ok" } | { kind: "error"; status: string } | { kind: "unreadable"; why: string } {
  const raw = doc["status"];
  if (typeof raw !== "string") return { kind: "unreadable", why: raw === undefined ? "no top-level status" : "top-level status is not a string" };
  const s = raw.trim();
  if (s.toUpperCase() === "OK") return { kind: "ok" };
  if (s === "") return { kind: "unreadable", why: "empty top-level status" };
  // "Any top-level status other than OK is a refusal" — but an order-status word that means done or
  // in progress at the top level is not a refusal we can trust: treat it as unreadable, not refused.
  const meaning = statusMeaning(s);
  if (meaning === "done" || meaning === "in_progress") return { kind: "unreadable", why: `top-level status ${JSON.stringify(s.slice(0, 20))} is not OK nor a refusal` };
  return { kind: "error", status: s };
}

/**
 * newOrder reply. `status: OK` → accepted (cost = data.price, providerOrderId = data.order_id, pin when
 * data.status is already done with a `pin`/`code`); OK with data.status already a refusal word → refused
 * provider_error; any other top-level status → refused with a reason from message/error; HTTP 401/403
 * with a JSON error → refused auth_failed; everything else → ambiguous.
 */
export function parsePlaceReply(body: string, httpStatus: number): PlaceResult {
  const auth = authError(body, httpStatus);
  if (auth !== null) return { kind: "refused", providerCode: auth.providerCode, message: auth.message, reasonCode: "auth_failed" };
  const doc = readJson(body, httpStatus);
  if (!doc.ok) return { kind: "ambiguous", cause: doc.problem };
  if (!isRecord(doc.value)) return { kind: "ambiguous", cause: `not a JSON object: ${snippet(doc.text)}` };
  const top = topStatus(doc.value);
  if (top.kind === "unreadable") return { kind: "ambiguous", cause: `${top.why}: ${snippet(doc.text)}` };
  if (top.kind === "error") {
    const message = textField(doc.value["message"]) ?? textField(doc.value["error"]) ?? "";
    const error = textField(doc.value["error"]);
    return {
      kind: "refused",
      providerCode: error ?? top.status,
      message,
      reasonCode: refusalReason(`${message} ${error ?? ""}`),
    };
  }
  const data = doc.value["data"];
  if (!isRecord(data)) return { kind: "ambiguous", cause: `OK without a data object: ${snippet(doc.text)}` };
  const orderStatus = typeof data["status"] === "string" ? data["status"].trim() : "";
  const meaning = statusMeaning(orderStatus);
  if (meaning === "refused") {
    return {
      kind: "refused",
      providerCode: orderStatus,
      message: noteOf(data) ?? textField(doc.value["message"]) ?? `order ${orderStatus}`,
      reasonCode: "provider_error",
    };
  }
  const cost = amountField(data["price"], AMOUNT);
  if (cost === null) return { kind: "ambiguous", cause: `OK without a readable price: ${snippet(doc.text)}` };
  const pin = meaning === "done" ? pinFromFields(data["pin"], data["code"]) : null;
  return {
    kind: "accepted",
    cost,
    balance: amountField(data["balance"], SIGNED_AMOUNT),
    providerOrderId: idField(data["order_id"]),
    pin,
  };
}

/** One entry of a check reply, mapped; done without a PIN and unknown words are `unknown`. */
export function checkEntryResult(entry: Record<string, unknown>): CheckResult {
  const raw = entry["status"];
  const word = typeof raw === "string" ? raw.trim() : "";
  const note = noteOf(entry);
  switch (statusMeaning(word)) {
    case "in_progress":
      return { kind: "pending", note };
    case "refused":
      return { kind: "cancelled", note };
    case "done": {
      const pin = pinFromFields(entry["pin"], entry["code"]);
      return pin === null ? { kind: "unknown", cause: `status ${JSON.stringify(word.slice(0, 20))} (done) without a PIN` } : { kind: "done", pin, note };
    }
    case "unknown":
      return {
        kind: "unknown",
        cause: typeof raw === "string" ? `unknown status ${JSON.stringify(maskProviderText(word.slice(0, 30)))}` : "entry without a status word",
      };
  }
}

/**
 * Batch check reply `{"status":"OK","data":[{order_id, status, pin|code, note|replay_api|message}, ...]}`.
 * Entries are matched only by the id they were asked for: `order_id` when asked by order id;
 * `order_uuid` (or `uuid`) when asked by uuid. An entry without that id is never attributed to an
 * order, not even a lone entry for a lone asked id (x-stor's document does not promise our uuid in
 * the entries): it makes every unanswered id `unknown`. With `query`, asked ids missing from a
 * well-formed OK reply without unmatched entries (e.g. an empty data list) are `not_found`.
 * A reply that cannot be read at all returns `{ kind: "unknown", cause }`.
 */
export function parseCheckReply(body: string, httpStatus: number, query?: XstorCheckQuery): Map<string, CheckResult> | XstorCheckFailure {
  const doc = readJson(body, httpStatus);
  if (!doc.ok) return { kind: "unknown", cause: doc.problem };
  if (!isRecord(doc.value)) return { kind: "unknown", cause: `not a JSON object: ${snippet(doc.text)}` };
  const top = topStatus(doc.value);
  if (top.kind === "unreadable") return { kind: "unknown", cause: `${top.why}: ${snippet(doc.text)}` };
  if (top.kind === "error") {
    const message = textField(doc.value["message"]) ?? textField(doc.value["error"]) ?? top.status;
    return { kind: "unknown", cause: `provider error: ${snippet(message)}` };
  }
  const data = doc.value["data"];
  let entries: unknown[];
  if (Array.isArray(data)) entries = data;
  else if (isRecord(data)) entries = [data];
  else return { kind: "unknown", cause: `OK without a data list: ${snippet(doc.text)}` };

  const by = query?.by ?? "order_id";
  const asked = new Set(query?.ids ?? []);
  const out = new Map<string, CheckResult>();
  const conflicting = new Set<string>();
  /** Entries we could not tie to an asked id: the absence of an id then proves nothing. */
  let stray = 0;
  for (const raw of entries) {
    if (!isRecord(raw)) {
      stray++;
      continue;
    }
    // Matched only by the id asked for (our uuid, or the provider's order id): never guessed.
    const key = by === "uuid" ? (idField(raw["order_uuid"]) ?? idField(raw["uuid"])) : idField(raw["order_id"]);
    if (key === null || (query !== undefined && !asked.has(key))) {
      stray++;
      continue;
    }
    const result = checkEntryResult(raw);
    const seen = out.get(key);
    if (seen !== undefined && JSON.stringify(seen) !== JSON.stringify(result)) conflicting.add(key);
    out.set(key, result);
  }
  for (const key of conflicting) out.set(key, { kind: "unknown", cause: "the reply has conflicting entries for this order" });
  for (const id of asked) {
    if (out.has(id)) continue;
    out.set(
      id,
      stray === 0
        ? { kind: "not_found", message: `not in the provider's reply (asked by ${by})` }
        : { kind: "unknown", cause: `not answered; the reply has ${stray} entr${stray === 1 ? "y" : "ies"} that could not be matched to an asked id` },
    );
  }
  return out;
}

/** profile reply `{"balance": "43.55", "email": ...}`. */
export function parseBalanceReply(body: string, httpStatus: number): BalanceResult {
  const doc = readJson(body, httpStatus);
  if (!doc.ok) return { kind: "failed", cause: doc.problem };
  if (!isRecord(doc.value)) return { kind: "failed", cause: `not a JSON object: ${snippet(doc.text)}` };
  const balance = amountField(doc.value["balance"], SIGNED_AMOUNT);
  if (balance !== null) return { kind: "ok", balance };
  const message = textField(doc.value["message"]) ?? textField(doc.value["error"]);
  if (message !== null) return { kind: "failed", cause: `provider error: ${snippet(message)}` };
  return { kind: "failed", cause: `no readable balance: ${snippet(doc.text)}` };
}

function qtyValuesField(v: unknown): XstorQtyValues | string {
  if (v === null || v === undefined) return null;
  if (Array.isArray(v)) {
    const values: string[] = [];
    for (const x of v) {
      const s = idField(x) ?? amountField(x, AMOUNT);
      if (s === null) return "bad qty_values list";
      values.push(s);
    }
    return values;
  }
  if (isRecord(v)) {
    const min = Number(v["min"]);
    const max = Number(v["max"]);
    if (Number.isFinite(min) && Number.isFinite(max) && min <= max && v["min"] !== null && v["max"] !== null && v["min"] !== "" && v["max"] !== "") {
      return { min, max };
    }
    return "bad qty_values range";
  }
  return "bad qty_values";
}

function toProduct(item: unknown): XstorProduct | string {
  if (!isRecord(item)) return "not an object";
  const id = idField(item["id"]);
  const name = textField(item["name"]);
  const price = amountField(item["price"], AMOUNT);
  if (id === null) return "missing id";
  if (name === null) return "missing name";
  if (price === null) return `bad price ${snippet(String(item["price"]))}`;
  const available = item["available"];
  if (typeof available !== "boolean") return "available is not a boolean";
  const rawParams = item["params"] ?? [];
  if (!Array.isArray(rawParams) || !rawParams.every((p): p is string => typeof p === "string" && p.trim() !== "")) {
    return "params is not a list of names";
  }
  const qtyValues = qtyValuesField(item["qty_values"]);
  if (typeof qtyValues === "string") return qtyValues;
  const category = item["category_name"];
  const productType = item["product_type"];
  if (category !== undefined && category !== null && typeof category !== "string") return "category_name is not a string";
  if (productType !== undefined && productType !== null && typeof productType !== "string") return "product_type is not a string";
  return {
    id,
    name,
    price,
    categoryName: textField(category),
    available,
    params: rawParams.map((p) => p.trim()),
    productType: textField(productType),
    qtyValues,
  };
}

/** products reply: a JSON array of items. Sloppy or incomplete output fails loudly with the body's first bytes. */
export function parseProducts(body: string, httpStatus = 200): XstorProductListResult {
  const doc = readJson(body, httpStatus);
  if (!doc.ok) return { ok: false, error: doc.problem };
  const value = doc.value;
  if (!Array.isArray(value)) {
    if (isRecord(value)) {
      const message = textField(value["message"]) ?? textField(value["error"]);
      if (message !== null) return { ok: false, error: `provider error: ${snippet(message)}` };
    }
    return { ok: false, error: `not a JSON array: ${snippet(doc.text)}` };
  }
  return readItems(value, toProduct);
}
