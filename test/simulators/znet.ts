/**
 * A znet reseller API simulator: a real HTTP server speaking the wire protocol of
 * shared/providers/znet.md (plain-text `|` replies in UTF-8, served as text/html like PHP).
 * Tests script it per player id with rules: refusals, faults (empty/HTML/5xx bodies,
 * drops, hangs, slow replies), cancels, never-completing orders and check faults.
 */
import type http from "node:http";
import {
  DEFAULT_BALANCE,
  DEFAULT_COMPLETE_AFTER_MS,
  SimHttpServer,
  SimRules,
  defaultSimPin,
  deliverPlaceReply,
  dropReply,
  formatCents,
  increment,
  priceCents,
  replyFault,
  toCents,
  writeReply,
  type SimFaultPages,
  type SimFaultReply,
  type SimRuleMatch,
} from "./sim-server.js";
import { ZNET_SIM_CATALOG, findSimProduct } from "./znet-catalog.js";

export interface ZnetSimOptions {
  code: string;
  password: string;
  /** Starting balance in TRY (default 1000). */
  balance?: number;
  /** Delay from acceptance to completion (default 3000 ms); a function is drawn once per order. */
  completeAfterMs?: number | (() => number);
  /** Clock used for completion (default Date.now). */
  now?: () => number;
  /** PIN generator (default `XXXX-XXXX-XXXX-XXXX` of A-Z0-9). */
  pinFactory?: () => string;
  /** Refuse a reference placed before with `4|Daha Önce Gönderilmiş (<ref>)` (opt-in; the vendor documents
   *  it only for bills). Default false, "assume nothing for PIN orders": the same reference is accepted
   *  and charged again. */
  detectDuplicates?: boolean;
  /** Called once per request with a log line (password masked). */
  onRequest?: (line: string) => void;
}

export interface ZnetRule extends SimRuleMatch {
  /** Matched against the first word of `oyuncu_bilgi`. */
  playerId: string;
  /** Raw refusal body, e.g. "3|Oyuncu bulunamadı" (nothing recorded or charged). */
  placeReply?: string;
  /** Send `placeReply` only after this many ms (a refusal that arrives late; default at once). */
  placeReplyDelayMs?: number;
  /**
   * empty/html/http500/drop-before/hang: nothing is recorded.
   * drop-after-accept: the order is recorded and charged, then the socket is destroyed.
   * slow-accept: the order is processed now, the reply is sent after `slowMs`.
   */
  placeFault?: "empty" | "html" | "http500" | "drop-before" | "drop-after-accept" | "hang" | "slow-accept";
  /** For slow-accept (default 5000). */
  slowMs?: number;
  /** What the order turns into after its delay (default complete); cancel refunds the cost. */
  outcome?: "complete" | "cancel" | "never";
  completeAfterMs?: number;
  /** Fault on pin_kontrol for references placed for this player, recorded or not (looked up at check time). */
  checkFault?: "empty" | "html" | "http500" | "garbage";
  /**
   * Raw pin_kontrol body for references placed for this player, recorded or not, e.g. a generic
   * error such as "3|Sistem hatası, lütfen daha sonra tekrar deneyiniz" (znet uses `3|` for more
   * than an unknown reference).
   */
  checkReply?: string;
}

export interface ZnetSimOrderView {
  state: 1 | 2 | 3;
  pin: string | null;
  playerInfo: string;
  phone: string | null;
}

interface SimOrder extends ZnetSimOrderView {
  reference: string;
  costCents: number;
  placedAt: number;
  completeAfterMs: number;
  outcome: "complete" | "cancel" | "never";
}

const PAGES: SimFaultPages = {
  html: "<!DOCTYPE html>\n<html><head><title>Bayi Paneli</title></head><body><h1>Giriş</h1><p>Lütfen giriş yapınız.</p></body></html>\n",
  html500:
    "<!DOCTYPE html>\n<html><head><title>500 Internal Server Error</title></head><body><h1>Internal Server Error</h1></body></html>\n",
  garbage: "Fatal error: Uncaught PDOException: SQLSTATE[HY000] [2002] in /var/www/servis/pin_kontrol.php:12",
};
const HTML_404 = "<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head><body><h1>Not Found</h1></body></html>\n";

/** PIN generator of the znet simulator (`XXXX-XXXX-XXXX-XXXX` of A-Z0-9). */
export const defaultZnetPin = defaultSimPin;

/** Masks `sifre=` values in a path or URL. */
export function maskSifre(text: string): string {
  return text.replace(/\b(sifre)=[^&\s#]*/gi, "$1=***");
}

export class ZnetSimulator {
  readonly #opts: ZnetSimOptions;
  readonly #now: () => number;
  readonly #pinFactory: () => string;
  #balanceCents: number;
  readonly #rules = new SimRules<ZnetRule>();
  readonly #orders = new Map<string, SimOrder>();
  readonly #placements = new Map<string, number>();
  readonly #placeCalls = new Map<string, number>();
  readonly #checkCalls = new Map<string, number>();
  /** The player info of every reference that reached pin_ekle (recorded or not), for check rules. */
  readonly #placedFor = new Map<string, string>();
  #accessDenied = false;
  readonly #log: string[] = [];
  readonly #server = new SimHttpServer("znet", (req, res) => this.#handle(req, res));

  constructor(opts: ZnetSimOptions) {
    this.#opts = opts;
    this.#now = opts.now ?? Date.now;
    this.#pinFactory = opts.pinFactory ?? defaultZnetPin;
    this.#balanceCents = toCents(opts.balance ?? DEFAULT_BALANCE);
  }

  /** Starts listening (port 0 = any free port); resolves to the base URL, e.g. `http://127.0.0.1:40123`. */
  start(port = 0, host = "127.0.0.1"): Promise<string> {
    return this.#server.start(port, host);
  }

  /** Stops listening, drops every open connection (including hanging requests) and pending slow replies. */
  stop(): Promise<void> {
    return this.#server.stop();
  }

  /** Adds a rule; when several match, the most recently added wins. */
  addRule(rule: ZnetRule): void {
    this.#rules.add(rule);
  }

  clearRules(): void {
    this.#rules.clear();
  }

  /** How many times pin_ekle accepted (recorded and charged) this reference: 1 for a safe client. */
  placements(reference: string): number {
    return this.#placements.get(reference) ?? 0;
  }

  /** How many pin_ekle requests arrived for this reference. */
  placeCalls(reference: string): number {
    return this.#placeCalls.get(reference) ?? 0;
  }

  /** How many pin_kontrol requests arrived for this reference. */
  checkCalls(reference: string): number {
    return this.#checkCalls.get(reference) ?? 0;
  }

  /** References of the recorded orders whose player info starts with `playerId` (tests use one player id per order). */
  referencesFor(playerId: string): string[] {
    return [...this.#orders.values()].filter((o) => o.playerInfo.split(" ")[0] === playerId).map((o) => o.reference);
  }

  /** Every reference that reached pin_ekle, recorded or not. */
  placedReferences(): string[] {
    return [...this.#placeCalls.keys()];
  }

  order(reference: string): ZnetSimOrderView | undefined {
    const o = this.#orders.get(reference);
    if (o === undefined) return undefined;
    this.#settle(o);
    return { state: o.state, pin: o.pin, playerInfo: o.playerInfo, phone: o.phone };
  }

  /**
   * Shut us out, as znet does for a wrong password, API access switched off or a source IP that is
   * not allowed: every call is answered with an empty body (HTTP 200) and nothing is recorded.
   */
  denyAccess(denied: boolean): void {
    this.#accessDenied = denied;
  }

  setBalance(n: number): void {
    this.#balanceCents = toCents(n);
  }

  /** Current balance in TRY (after settling due cancellations). */
  balance(): number {
    this.#settleAll();
    return this.#balanceCents / 100;
  }

  /** Request paths in arrival order, `sifre` masked. */
  requestLog(): string[] {
    return [...this.#log];
  }

  #handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const raw = req.url ?? "/";
    const masked = maskSifre(raw);
    this.#log.push(masked);
    const url = new URL(raw, "http://znet.invalid");
    const call = /\/servis\/([a-z_]+)\.php$/.exec(url.pathname)?.[1];
    const q = url.searchParams;
    switch (call) {
      case "bakiye_kontrol":
        return this.#balanceCall(q, res, masked);
      case "pin_listesi":
        return this.#productsCall(q, res, masked);
      case "pin_ekle":
        return this.#placeCall(q, res, masked);
      case "pin_kontrol":
        return this.#checkCall(q, res, masked);
      default:
        return this.#send(res, masked, 404, HTML_404);
    }
  }

  #send(res: http.ServerResponse, masked: string, status: number, body: string): void {
    this.#opts.onRequest?.(`${masked} -> ${status} ${JSON.stringify(body.length > 80 ? `${body.slice(0, 80)}…` : body)}`);
    writeReply(res, status, "text/html; charset=utf-8", body);
  }

  /** Every reply of znet is text/html, faults included. */
  #reply(res: http.ServerResponse, masked: string): SimFaultReply {
    return {
      send: (status, body) => this.#send(res, masked, status, body),
      drop: (what) => dropReply(res, masked, what, this.#opts.onRequest),
      note: (what) => this.#opts.onRequest?.(`${masked} -> ${what}`),
    };
  }

  #authorized(q: URLSearchParams): boolean {
    return !this.#accessDenied && q.get("kod") === this.#opts.code && q.get("sifre") === this.#opts.password;
  }

  #ruleFor(playerInfo: string): ZnetRule | undefined {
    return this.#rules.find(playerInfo.trim().split(/\s+/)[0] ?? "");
  }

  #settle(o: SimOrder): void {
    if (o.state !== 1 || o.outcome === "never") return;
    if (this.#now() - o.placedAt < o.completeAfterMs) return;
    if (o.outcome === "complete") {
      o.state = 2;
      o.pin = this.#pinFactory();
    } else {
      o.state = 3;
      this.#balanceCents += o.costCents;
    }
  }

  #settleAll(): void {
    for (const o of this.#orders.values()) this.#settle(o);
  }

  #balanceCall(q: URLSearchParams, res: http.ServerResponse, masked: string): void {
    if (!this.#authorized(q)) return this.#send(res, masked, 200, "");
    this.#settleAll();
    this.#send(res, masked, 200, `OK|${formatCents(this.#balanceCents)}`);
  }

  #productsCall(q: URLSearchParams, res: http.ServerResponse, masked: string): void {
    if (!this.#authorized(q)) return this.#send(res, masked, 200, "");
    this.#send(res, masked, 200, JSON.stringify({ success: true, result: ZNET_SIM_CATALOG, error: null }));
  }

  #placeCall(q: URLSearchParams, res: http.ServerResponse, masked: string): void {
    const reference = q.get("referans") ?? "";
    increment(this.#placeCalls, reference);
    if (!this.#authorized(q)) return this.#send(res, masked, 200, "");
    const playerInfo = q.get("oyuncu_bilgi") ?? "";
    this.#placedFor.set(reference, playerInfo);
    const rule = this.#ruleFor(playerInfo);
    const reply = this.#reply(res, masked);
    if (replyFault(rule?.placeFault, PAGES, reply)) return;
    if (rule?.placeReply !== undefined) {
      const body = rule.placeReply;
      if (rule.placeReplyDelayMs === undefined) return this.#send(res, masked, 200, body);
      return this.#server.later(rule.placeReplyDelayMs, () => this.#send(res, masked, 200, body));
    }
    const { body, accepted } = this.#placeOrder(q, reference, playerInfo, rule);
    deliverPlaceReply(this.#server, rule, accepted, reply, `dropped after recording (${body})`, () => this.#send(res, masked, 200, body));
  }

  /** Validates, charges and records an order; returns the pin_ekle reply body. */
  #placeOrder(q: URLSearchParams, reference: string, playerInfo: string, rule: ZnetRule | undefined): { body: string; accepted: boolean } {
    const refuse = (body: string): { body: string; accepted: boolean } => ({ body, accepted: false });
    if (!/^\d+$/.test(reference)) return refuse("3|Referans bilgisi hatalı");
    if ((this.#opts.detectDuplicates ?? false) && this.#orders.has(reference)) {
      return refuse(`4|Daha Önce Gönderilmiş (${reference})`);
    }
    const product = findSimProduct(q.get("oyun") ?? "", q.get("kupur") ?? "");
    if (product === undefined) return refuse("3|Kupur Bilgisi Bulunamadı");
    if (playerInfo.trim() === "") return refuse("3|Oyuncu bilgisi boş olamaz");
    this.#settleAll();
    const cost = priceCents(product.fiyat);
    if (this.#balanceCents < cost) return refuse("8|Yetersiz bakiye");
    this.#balanceCents -= cost;
    const delay = rule?.completeAfterMs ?? this.#opts.completeAfterMs ?? DEFAULT_COMPLETE_AFTER_MS;
    this.#orders.set(reference, {
      reference,
      state: 1,
      pin: null,
      playerInfo,
      phone: q.get("musteri_tel") || null,
      costCents: cost,
      placedAt: this.#now(),
      completeAfterMs: typeof delay === "function" ? delay() : delay,
      outcome: rule?.outcome ?? "complete",
    });
    increment(this.#placements, reference);
    return { body: `OK|${formatCents(cost)}|${formatCents(this.#balanceCents)}`, accepted: true };
  }

  #checkCall(q: URLSearchParams, res: http.ServerResponse, masked: string): void {
    const reference = q.get("tahsilat_api_islem_id") ?? "";
    increment(this.#checkCalls, reference);
    if (!this.#authorized(q)) return this.#send(res, masked, 200, "");
    const order = this.#orders.get(reference);
    const placedFor = order?.playerInfo ?? this.#placedFor.get(reference);
    const rule = placedFor === undefined ? undefined : this.#ruleFor(placedFor);
    if (replyFault(rule?.checkFault, PAGES, this.#reply(res, masked))) return;
    if (rule?.checkReply !== undefined) return this.#send(res, masked, 200, rule.checkReply);
    // znet's reply for a reference it does not know (the same `3|` code as its other errors).
    if (order === undefined) return this.#send(res, masked, 200, "3|Sipariş bulunamadı");
    this.#settle(order);
    const body =
      order.state === 1
        ? "OK|1| - |İşlem bekleniyor"
        : order.state === 2
          ? `OK|2|${order.pin ?? ""}|İşlem tamamlandı`
          : "OK|3| |İşlem iptal edildi";
    this.#send(res, masked, 200, body);
  }
}
