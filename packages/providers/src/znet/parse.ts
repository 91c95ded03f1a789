/**
 * Pure parsers of znet reply bodies (see shared/providers/znet.md).
 * They never throw: every input string maps to a result union value.
 * Anything not clearly an acceptance, refusal or known state is ambiguous/unknown.
 */
import type { BalanceResult, CheckResult, PlaceResult, ReasonCode } from "../provider.js";
import { pinFromField } from "../pin-rule.js";
import { amountField, fold, idField, isHtml, isRecord, normalize, readItems, snippet, textField } from "../parse-fields.js";

export { snippet };

export interface ZnetProduct {
  id: string;
  /** `adi`, e.g. "PUBG Mobile 60 UC". */
  name: string;
  description: string | null;
  gameId: string | null;
  gameName: string | null;
  /** `fiyat`: reseller cost in TRY, a decimal string. */
  price: string;
  /** `kupur`: denomination code, sent as `kupur` on pin_ekle. */
  kupur: string;
  /** `oyun_bilgi_id`: sent as `oyun` on pin_ekle. */
  oyunBilgiId: string;
}

export type ProductListResult = { ok: true; items: ZnetProduct[] } | { ok: false; error: string };

const COST = /^\d+(?:\.\d+)?$/;
const SIGNED_AMOUNT = /^-?\d+(?:\.\d+)?$/;
const CODE_REPLY = /^(\d{1,4})\|([\s\S]*)$/;

/** The cause of znet's empty body: how it answers a reseller it does not let in. */
export const ZNET_ACCESS_DENIED = "empty body (unknown reseller, API access off or wrong source IP)";

/**
 * Why a reply cannot be read as a znet answer at all (bad status, empty, HTML), or null. An empty body
 * with HTTP 200 is znet shutting us out (wrong password, API access off, source IP not allowed).
 */
function transportProblem(body: string, httpStatus: number): { cause: string; accessDenied?: true } | null {
  const text = normalize(body);
  if (!Number.isInteger(httpStatus) || httpStatus < 200 || httpStatus > 299) {
    return { cause: text === "" ? `HTTP ${httpStatus}` : `HTTP ${httpStatus}: ${snippet(text)}` };
  }
  if (text === "") return { cause: ZNET_ACCESS_DENIED, accessDenied: true };
  if (isHtml(text)) return { cause: `HTML body (wrong base URL or blocked IP?): ${snippet(text)}` };
  return null;
}

/** `<code>|<text>` without a leading OK. */
function codeReply(text: string): { code: string; message: string } | null {
  const m = CODE_REPLY.exec(text);
  if (m === null) return null;
  return { code: m[1] ?? "", message: (m[2] ?? "").trim() };
}

/** Maps a znet refusal to a ReasonCode, from the code and the (Turkish) text. */
export function refusalReason(code: string, message: string): ReasonCode {
  const t = fold(message);
  const mentions = (...words: string[]): boolean => words.some((w) => t.includes(w));
  if (code === "4" || mentions("daha once gonderilmis", "duplicate")) return "duplicate_reference";
  if (mentions("bakiye", "balance")) return "insufficient_balance";
  if (code === "8") return "provider_error";
  if (mentions("kupur", "urun", "product", "stok", "stock")) return "product_unavailable";
  if (mentions("oyuncu", "player")) return "invalid_player";
  if (mentions("sifre", "yetki", "password", "unauthori")) return "auth_failed";
  return "provider_error";
}

/** pin_ekle reply: `OK|<cost>|<balance>` accepted, `<code>|<text>` refused, else ambiguous. */
export function parsePlaceReply(body: string, httpStatus: number): PlaceResult {
  const problem = transportProblem(body, httpStatus);
  if (problem !== null) return { kind: "ambiguous", ...problem };
  const text = normalize(body);
  const fields = text.split("|");
  if (fields[0] === "OK") {
    const cost = (fields[1] ?? "").trim();
    const balance = (fields[2] ?? "").trim();
    if (fields.length > 3 || !COST.test(cost) || (balance !== "" && !SIGNED_AMOUNT.test(balance))) {
      return { kind: "ambiguous", cause: `unparseable acceptance: ${snippet(text)}` };
    }
    return { kind: "accepted", cost, balance: balance === "" ? null : balance, providerOrderId: null, pin: null };
  }
  const refusal = codeReply(text);
  if (refusal !== null) {
    return {
      kind: "refused",
      providerCode: refusal.code,
      message: refusal.message,
      reasonCode: refusalReason(refusal.code, refusal.message),
    };
  }
  return { kind: "ambiguous", cause: `unparseable reply: ${snippet(text)}` };
}

/** Phrases that say "not found" (folded: Turkish letters to ASCII, lower case). */
const NOT_FOUND_PHRASES = ["bulunamadi", "bulunmamaktadir", "kayit yok", "not found"];
/** Subjects other than our order: "Kupur Bilgisi Bulunamadı" or "Bayi bulunamadı" say nothing about the reference. */
const OTHER_SUBJECTS =
  /\b(kupur|urun|oyun|oyuncu|bayi|kullanici|musteri|sifre|sayfa|servis|product|player|user|customer|reseller|dealer|game|page|service)/;

/**
 * Whether a `3|<text>` reply of pin_kontrol says plainly that znet does not know the reference.
 * znet answers `3|…` for an unknown reference AND for other errors, so only a text that says "not
 * found" (and names nothing else that could be missing) counts; any other text proves nothing.
 */
export function saysNotFound(message: string): boolean {
  const t = fold(message);
  return NOT_FOUND_PHRASES.some((p) => t.includes(p)) && !OTHER_SUBJECTS.test(t);
}

/**
 * pin_kontrol reply: `OK|<state>|<pin>|<description>`; `3|<text>` is not_found only when the text says
 * so (see saysNotFound), any other error reply is unknown.
 */
export function parseCheckReply(body: string, httpStatus: number): CheckResult {
  const problem = transportProblem(body, httpStatus);
  if (problem !== null) return { kind: "unknown", ...problem };
  const text = normalize(body);
  const fields = text.split("|");
  if (fields[0] === "OK") {
    if (fields.length < 3) return { kind: "unknown", cause: `unparseable status reply: ${snippet(text)}` };
    const state = (fields[1] ?? "").trim();
    const pin = pinFromField(fields[2] ?? "");
    const note = fields.slice(3).join("|").trim() || null;
    switch (state) {
      case "1":
        return { kind: "pending", note };
      case "2":
        return pin === null
          ? { kind: "unknown", cause: `state 2 (done) without a PIN: ${snippet(text)}` }
          : { kind: "done", pin, note };
      case "3":
        return { kind: "cancelled", note };
      default:
        // The third field may hold a PIN: quote the state and the description, never the PIN field.
        return { kind: "unknown", cause: `unknown state ${JSON.stringify(state.slice(0, 20))}: ${snippet(note ?? "")}` };
    }
  }
  const error = codeReply(text);
  if (error !== null) {
    if (error.code === "3" && saysNotFound(error.message)) return { kind: "not_found", message: error.message };
    return { kind: "unknown", cause: `provider error ${error.code}: ${snippet(error.message)}` };
  }
  return { kind: "unknown", cause: `unparseable reply: ${snippet(text)}` };
}

/** bakiye_kontrol reply: `OK|<balance>`. An empty body is an auth/IP failure, never balance 0. */
export function parseBalanceReply(body: string, httpStatus: number): BalanceResult {
  const problem = transportProblem(body, httpStatus);
  if (problem !== null) return { kind: "failed", ...problem };
  const text = normalize(body);
  const fields = text.split("|");
  const amount = (fields[1] ?? "").trim();
  if (fields[0] === "OK" && fields.length === 2 && SIGNED_AMOUNT.test(amount)) return { kind: "ok", balance: amount };
  const error = codeReply(text);
  if (error !== null) return { kind: "failed", cause: `provider error ${error.code}: ${snippet(error.message)}` };
  return { kind: "failed", cause: `unparseable reply: ${snippet(text)}` };
}

function priceField(v: unknown): string | null {
  return amountField(v, COST);
}

function toProduct(item: unknown): ZnetProduct | string {
  if (!isRecord(item)) return "not an object";
  const id = idField(item["id"]);
  const name = textField(item["adi"]);
  const price = priceField(item["fiyat"]);
  const kupur = idField(item["kupur"]);
  const oyunBilgiId = idField(item["oyun_bilgi_id"]);
  if (id === null) return "missing id";
  if (name === null) return "missing adi";
  if (price === null) return `bad fiyat ${snippet(String(item["fiyat"]))}`;
  if (kupur === null) return "missing kupur";
  if (oyunBilgiId === null) return "missing oyun_bilgi_id";
  return {
    id,
    name,
    description: textField(item["aciklama"]),
    gameId: idField(item["oyun_id"]),
    gameName: textField(item["oyun_adi"]),
    price,
    kupur,
    oyunBilgiId,
  };
}

/** pin_listesi reply (JSON). Sloppy or incomplete output fails loudly with the body's first bytes. */
export function parseProductList(body: string, httpStatus = 200): ProductListResult {
  const problem = transportProblem(body, httpStatus);
  if (problem !== null) return { ok: false, error: problem.cause };
  const text = normalize(body);
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return { ok: false, error: `invalid JSON: ${snippet(text)}` };
  }
  if (!isRecord(doc)) return { ok: false, error: `not a JSON object: ${snippet(text)}` };
  if (doc["success"] !== true) {
    const err = doc["error"];
    const reason = err === undefined || err === null ? "no reason given" : typeof err === "string" ? err : JSON.stringify(err);
    return { ok: false, error: `provider error: ${snippet(reason)}` };
  }
  const result = doc["result"];
  if (!Array.isArray(result)) return { ok: false, error: `"result" is not an array: ${snippet(text)}` };
  return readItems(result, toProduct);
}
