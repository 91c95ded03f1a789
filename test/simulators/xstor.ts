/**
 * An x-stor reseller API simulator: a real HTTP server speaking the JSON protocol of
 * shared/providers/xstor.md (`api-token` header; profile, products, newOrder, batch check).
 * Tests script it per player id with rules: refusals (raw JSON replies), faults (empty/HTML/5xx/429
 * bodies, drops, hangs, slow replies), rejections, never-completing orders, unknown status words and
 * check faults. Status words vary in wording and case on purpose ("Processing", "pending", "success",
 * "COMPLETED", ...) to exercise the client's mapping.
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

export interface XstorSimOptions {
  /** The only accepted `api-token` header value. */
  token: string;
  /** Starting balance in TRY (default 1000). */
  balance?: number;
  /** Delay from acceptance to the order's outcome (default 3000 ms); a function is drawn once per order. */
  completeAfterMs?: number | (() => number);
  /** Clock used for completion (default Date.now). */
  now?: () => number;
  /** PIN generator (default `XXXX-XXXX-XXXX-XXXX` of A-Z0-9). */
  pinFactory?: () => string;
  /** The same `order_uuid` placed again returns the existing order, uncharged (opt-in). Default false,
   *  as the document promises nothing: the same uuid is accepted and charged again. */
  detectDuplicates?: boolean;
  /** Check replies carry `order_uuid` in each entry (opt-in). Default false, the documented entry
   *  `{order_id, status, pin, note}`: a check by uuid (`uuid=1`) answers with entries our uuids are not in. */
  checkCarriesUuid?: boolean;
  /** More ids than this in one check call are refused with an ERROR reply (default 50). */
  maxCheckIds?: number;
  /** Called once per request with a log line (token never included, PINs masked). */
  onRequest?: (line: string) => void;
}

export type XstorPlaceFault = "empty" | "html" | "http500" | "drop-before" | "drop-after-accept" | "hang" | "slow-accept" | "http429";

export interface XstorRule extends SimRuleMatch {
  /** Matched against the player id (the value of the product's first param, usually `uid`). */
  playerId: string;
  /** Raw JSON reply to newOrder, sent with HTTP 200 (nothing recorded or charged). */
  placeReply?: object;
  /**
   * empty/html/http500/http429/drop-before/hang: nothing is recorded.
   * drop-after-accept: the order is recorded and charged, then the socket is destroyed.
   * slow-accept: the order is processed now, the reply is sent after `slowMs`.
   */
  placeFault?: XstorPlaceFault;
  /** For slow-accept (default 5000). */
  slowMs?: number;
  /** The order is finished in its place reply: `data.status` success with the PIN (in `pin`, or in
   *  `code` for every third order, as in check replies), as x-stor may do (opt-in; default: accepted
   *  and still in progress, the PIN comes through a check). */
  finishInPlaceReply?: boolean;
  /** What the order turns into after its delay (default complete); reject refunds the cost;
   *  unknown-word leaves it under a status word outside the table. */
  outcome?: "complete" | "reject" | "never" | "unknown-word";
  completeAfterMs?: number;
  /** Fault on a check call that asks about an order of this player (looked up at check time). */
  checkFault?: "empty" | "html" | "http500" | "garbage";
  /** Check entries of this player's orders carry `order_uuid` (opt-in per player; overrides the simulator's option). */
  checkCarriesUuid?: boolean;
}

export type XstorSimState = "pending" | "done" | "rejected" | "odd";

export interface XstorSimOrderView {
  orderId: string;
  uuid: string;
  productId: string;
  playerId: string;
  server: string | null;
  /** Cost charged, e.g. "9.80". */
  price: string;
  state: XstorSimState;
  pin: string | null;
}

export interface XstorSimProduct {
  id: string;
  name: string;
  price: string;
  category_name: string;
  available: boolean;
  params: string[];
  product_type: string;
  qty_values: null | { min: number; max: number } | number[];
}

export const XSTOR_SIM_CATALOG: readonly XstorSimProduct[] = [
  { id: "501", name: "PUBG Mobile 60 UC", price: "9.80", category_name: "PUBG Mobile", available: true, params: ["uid"], product_type: "package", qty_values: null },
  { id: "502", name: "PUBG Mobile 325 UC", price: "48.90", category_name: "PUBG Mobile", available: true, params: ["uid"], product_type: "package", qty_values: null },
  { id: "601", name: "Free Fire 100 Diamonds", price: "17.25", category_name: "Free Fire", available: true, params: ["uid", "server"], product_type: "package", qty_values: null },
  { id: "701", name: "Mobile Legends 86 Diamonds", price: "21.40", category_name: "Mobile Legends", available: false, params: ["uid", "server"], product_type: "package", qty_values: null },
];

interface SimOrder {
  seq: number;
  orderId: string;
  uuid: string;
  productId: string;
  playerId: string;
  server: string | null;
  costCents: number;
  placedAt: number;
  completeAfterMs: number;
  outcome: "complete" | "reject" | "never" | "unknown-word";
  state: XstorSimState;
  pin: string | null;
  /** How many times the order was shown (varies the in-progress word). */
  shown: number;
}

const PENDING_WORDS = ["Processing", "pending", "WAIT", "Queued", "accepted", "InProgress"];
const DONE_WORDS = ["success", "COMPLETED", "Done", "complete"];
const REJECT_WORDS = ["rejected", "Cancelled", "FAILED", "canceled"];
const ODD_WORDS = ["on_hold", "Partial", "refunding"];
/** What a `pin` field holds while there is no PIN (pin-rule.ts: never a PIN). */
const NO_PIN: readonly (string | null)[] = ["-", "", null, "N/A", "—"];

const PAGES: SimFaultPages = {
  html: "<!DOCTYPE html>\n<html lang=\"en\"><head><title>X-Stor</title></head><body><div id=\"app\">Welcome to X-Stor</div></body></html>\n",
  html500: "<!DOCTYPE html>\n<html><head><title>Server Error</title></head><body><div>500 | Server Error</div></body></html>\n",
  garbage: 'PHP Fatal error:  Allowed memory size exhausted in /var/www/app/Http/Controllers/Api/OrderController.php on line 88\n{"status":"OK","da',
};
const HTML_404 = "<!DOCTYPE html>\n<html><head><title>Not Found</title></head><body><div>404 | Not Found</div></body></html>\n";

const DEFAULT_MAX_CHECK_IDS = 50;
const FIRST_ORDER_ID = 70001;

/** PIN generator of the x-stor simulator (`XXXX-XXXX-XXXX-XXXX` of A-Z0-9). */
export const defaultXstorPin = defaultSimPin;

function pick<T>(list: readonly T[], i: number, fallback: T): T {
  return list[i % list.length] ?? fallback;
}

export class XstorSimulator {
  readonly #opts: XstorSimOptions;
  readonly #now: () => number;
  readonly #pinFactory: () => string;
  #balanceCents: number;
  readonly #rules = new SimRules<XstorRule>();
  #seq = 0;
  /** Every recorded order, in placement order. */
  readonly #orders: SimOrder[] = [];
  readonly #byId = new Map<string, SimOrder>();
  readonly #byUuid = new Map<string, SimOrder>();
  readonly #placements = new Map<string, number>();
  readonly #duplicates = new Map<string, number>();
  readonly #placeCalls = new Map<string, number>();
  readonly #checkedIds = new Map<string, number>();
  #checkCalls = 0;
  readonly #log: string[] = [];
  readonly #server = new SimHttpServer("x-stor", (req, res) => this.#handle(req, res));

  constructor(opts: XstorSimOptions) {
    this.#opts = opts;
    this.#now = opts.now ?? Date.now;
    this.#pinFactory = opts.pinFactory ?? defaultXstorPin;
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
  addRule(rule: XstorRule): void {
    this.#rules.add(rule);
  }

  clearRules(): void {
    this.#rules.clear();
  }

  /** How many orders were recorded (and charged) for this order_uuid: 1 for a safe client. */
  placements(uuid: string): number {
    return this.#placements.get(uuid) ?? 0;
  }

  /** How many times newOrder came again with a known order_uuid and got the existing order back (uncharged). */
  duplicatePlacements(uuid: string): number {
    return this.#duplicates.get(uuid) ?? 0;
  }

  /** How many newOrder requests arrived with this order_uuid. */
  placeCalls(uuid: string): number {
    return this.#placeCalls.get(uuid) ?? 0;
  }

  /** How many check calls (batches) arrived. */
  checkCalls(): number {
    return this.#checkCalls;
  }

  /** How many times the order with this uuid was asked about in check calls (by order_id or by uuid). */
  checkedIds(uuid: string): number {
    return this.#checkedIds.get(uuid) ?? 0;
  }

  /** order_uuids of the recorded orders of this player id. */
  referencesFor(playerId: string): string[] {
    return this.#orders.filter((o) => o.playerId === playerId).map((o) => o.uuid);
  }

  /** Every order_uuid that reached newOrder, recorded or not. */
  placedReferences(): string[] {
    return [...this.#placeCalls.keys()];
  }

  /** The (latest) order recorded under this order_uuid, settled to the current clock. */
  order(uuid: string): XstorSimOrderView | undefined {
    const o = this.#byUuid.get(uuid);
    if (o === undefined) return undefined;
    this.#settle(o);
    return {
      orderId: o.orderId,
      uuid: o.uuid,
      productId: o.productId,
      playerId: o.playerId,
      server: o.server,
      price: formatCents(o.costCents),
      state: o.state,
      pin: o.pin,
    };
  }

  setBalance(n: number): void {
    this.#balanceCents = toCents(n);
  }

  /** Current balance in TRY (after settling due rejections). */
  balance(): number {
    this.#settleAll();
    return this.#balanceCents / 100;
  }

  /** `<method> <path>` of every request in arrival order; the token is never in it. */
  requestLog(): string[] {
    return [...this.#log];
  }

  #mask(text: string): string {
    let out = text.replace(/\b((?:api[-_]?)?token)=[^&\s#]*/gi, "$1=***");
    const token = this.#opts.token;
    if (token !== "") {
      for (const form of new Set([token, encodeURIComponent(token), new URLSearchParams({ t: token }).toString().slice(2)])) {
        out = out.split(form).join("***");
      }
    }
    return out;
  }

  #handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const raw = req.url ?? "/";
    const line = `${req.method ?? "GET"} ${this.#mask(raw)}`;
    this.#log.push(line);
    let url: URL;
    try {
      url = new URL(raw, "http://xstor.invalid");
    } catch {
      return this.#send(res, line, 400, HTML_404, "html");
    }
    const path = url.pathname.replace(/\/+$/, "");
    const q = url.searchParams;
    const newOrder = /^\/client\/api\/newOrder\/([^/]+)\/params$/.exec(path);
    if (newOrder !== null) return this.#placeCall(req, decodeSegment(newOrder[1] ?? ""), q, res, line);
    switch (path) {
      case "/client/api/profile":
        if (!this.#authorized(req)) return this.#unauthenticated(res, line);
        this.#settleAll();
        return this.#sendJson(res, line, 200, { balance: formatCents(this.#balanceCents), email: "reseller@sim.x-stor.invalid" });
      case "/client/api/products":
        if (!this.#authorized(req)) return this.#unauthenticated(res, line);
        return this.#sendJson(res, line, 200, XSTOR_SIM_CATALOG);
      case "/client/api/check":
        return this.#checkCall(req, q, res, line);
      default:
        return this.#send(res, line, 404, HTML_404, "html");
    }
  }

  #send(res: http.ServerResponse, line: string, status: number, body: string, type: "json" | "html" | "text"): void {
    const shown = body.replace(/"(pin|code)":"[^"]*"/g, '"$1":"***"');
    this.#opts.onRequest?.(`${line} -> ${status} ${JSON.stringify(shown.length > 100 ? `${shown.slice(0, 100)}…` : shown)}`);
    const contentType = type === "json" ? "application/json" : type === "html" ? "text/html; charset=UTF-8" : "text/plain; charset=UTF-8";
    writeReply(res, status, contentType, body);
  }

  #sendJson(res: http.ServerResponse, line: string, status: number, value: unknown): void {
    this.#send(res, line, status, JSON.stringify(value), "json");
  }

  #reply(res: http.ServerResponse, line: string): SimFaultReply {
    return {
      send: (status, body, type) => this.#send(res, line, status, body, type),
      drop: (what) => dropReply(res, line, what, this.#opts.onRequest),
      note: (what) => this.#opts.onRequest?.(`${line} -> ${what}`),
    };
  }

  #authorized(req: http.IncomingMessage): boolean {
    return req.headers["api-token"] === this.#opts.token;
  }

  #unauthenticated(res: http.ServerResponse, line: string): void {
    this.#sendJson(res, line, 401, { status: "ERROR", message: "Unauthenticated" });
  }

  #ruleFor(playerId: string): XstorRule | undefined {
    return this.#rules.find(playerId);
  }

  #settle(o: SimOrder): void {
    if (o.state !== "pending" || o.outcome === "never") return;
    if (this.#now() - o.placedAt < o.completeAfterMs) return;
    switch (o.outcome) {
      case "complete":
        o.state = "done";
        o.pin = this.#pinFactory();
        return;
      case "reject":
        o.state = "rejected";
        this.#balanceCents += o.costCents;
        return;
      case "unknown-word":
        o.state = "odd";
        return;
    }
  }

  #settleAll(): void {
    for (const o of this.#orders) this.#settle(o);
  }

  /** The order as x-stor shows it (place reply `data`, or one check entry). */
  #orderJson(o: SimOrder, withUuid: boolean): Record<string, unknown> {
    this.#settle(o);
    const shown = o.shown++;
    const base: Record<string, unknown> = { order_id: o.orderId };
    if (withUuid) base["order_uuid"] = o.uuid;
    base["price"] = formatCents(o.costCents);
    switch (o.state) {
      case "pending":
        // The documented entry has a `pin` field: while there is none it holds a placeholder.
        return { ...base, status: pick(PENDING_WORDS, o.seq + shown, "pending"), pin: pick(NO_PIN, o.seq + shown, null), replay_api: [], note: "Order is being processed" };
      case "done": {
        // Every third order carries its PIN in `code`, with a placeholder left in `pin`, as some x-stor products do.
        const pins = o.seq % 3 === 2 ? { pin: pick(NO_PIN, o.seq, null), code: o.pin } : { pin: o.pin };
        return { ...base, status: pick(DONE_WORDS, o.seq, "success"), ...pins, replay_api: ["Order completed"], note: null };
      }
      case "rejected":
        return { ...base, status: pick(REJECT_WORDS, o.seq, "rejected"), replay_api: ["Wrong player ID", "Amount refunded"], note: null };
      case "odd":
        return { ...base, status: pick(ODD_WORDS, o.seq, "on_hold"), replay_api: [], note: "Waiting for manual review" };
    }
  }

  #placeCall(req: http.IncomingMessage, productId: string, q: URLSearchParams, res: http.ServerResponse, line: string): void {
    const uuid = q.get("order_uuid") ?? "";
    increment(this.#placeCalls, uuid);
    if (!this.#authorized(req)) return this.#unauthenticated(res, line);
    const product = XSTOR_SIM_CATALOG.find((p) => p.id === productId);
    const playerParam = product?.params[0] ?? "uid";
    const playerId = (q.get(playerParam) ?? "").trim();
    const rule = this.#ruleFor(playerId);
    if (rule?.placeFault === "http429") return this.#sendJson(res, line, 429, { message: "Too Many Attempts." });
    const faultReply = this.#reply(res, line);
    if (replyFault(rule?.placeFault, PAGES, faultReply)) return;
    if (rule?.placeReply !== undefined) return this.#sendJson(res, line, 200, rule.placeReply);
    const { reply, accepted } = this.#placeOrder(productId, product, q, uuid, playerId, rule);
    deliverPlaceReply(this.#server, rule, accepted, faultReply, "dropped after recording", () => this.#sendJson(res, line, 200, reply));
  }

  /** Validates, charges and records an order (or finds the existing one); returns the newOrder reply. */
  #placeOrder(
    productId: string,
    product: XstorSimProduct | undefined,
    q: URLSearchParams,
    uuid: string,
    playerId: string,
    rule: XstorRule | undefined,
  ): { reply: Record<string, unknown>; accepted: boolean } {
    const refuse = (message: string, error: string): { reply: Record<string, unknown>; accepted: boolean } => ({
      reply: { status: "ERROR", message, error },
      accepted: false,
    });
    if (uuid.trim() === "") return refuse("The order uuid field is required.", "order_uuid");
    const existing = this.#byUuid.get(uuid);
    if (existing !== undefined && (this.#opts.detectDuplicates ?? false)) {
      increment(this.#duplicates, uuid);
      return { reply: { status: "OK", data: this.#orderJson(existing, false) }, accepted: true };
    }
    if (product === undefined) return refuse(`Product ${productId} not found`, "product");
    if (!product.available) return refuse("Product is not available", "product");
    const qty = q.get("qty") ?? "";
    if (qty !== "1") return refuse("The qty must be 1 for this product.", "qty");
    for (const param of product.params) {
      if ((q.get(param) ?? "").trim() === "") return refuse(`The ${param} field is required.`, param);
    }
    this.#settleAll();
    const cost = priceCents(product.price);
    if (this.#balanceCents < cost) return refuse("Insufficient balance", "balance");
    this.#balanceCents -= cost;
    const delay = rule?.completeAfterMs ?? this.#opts.completeAfterMs ?? DEFAULT_COMPLETE_AFTER_MS;
    const seq = this.#seq++;
    const order: SimOrder = {
      seq,
      orderId: String(FIRST_ORDER_ID + seq),
      uuid,
      productId,
      playerId,
      server: product.params.includes("server") ? (q.get("server") ?? "").trim() || null : null,
      costCents: cost,
      placedAt: this.#now(),
      completeAfterMs: typeof delay === "function" ? delay() : delay,
      outcome: rule?.outcome ?? "complete",
      state: "pending",
      pin: null,
      shown: 0,
    };
    if (rule?.finishInPlaceReply === true) {
      order.state = "done";
      order.pin = this.#pinFactory();
    }
    this.#orders.push(order);
    this.#byId.set(order.orderId, order);
    this.#byUuid.set(uuid, order);
    increment(this.#placements, uuid);
    return { reply: { status: "OK", data: this.#orderJson(order, false) }, accepted: true };
  }

  #checkCall(req: http.IncomingMessage, q: URLSearchParams, res: http.ServerResponse, line: string): void {
    this.#checkCalls++;
    if (!this.#authorized(req)) return this.#unauthenticated(res, line);
    let asked: unknown;
    try {
      asked = JSON.parse(q.get("orders") ?? "");
    } catch {
      asked = undefined;
    }
    if (!Array.isArray(asked)) return this.#sendJson(res, line, 200, { status: "ERROR", message: "The orders field must be a valid JSON array.", error: "orders" });
    const max = this.#opts.maxCheckIds ?? DEFAULT_MAX_CHECK_IDS;
    if (asked.length > max) return this.#sendJson(res, line, 200, { status: "ERROR", message: `Too many orders (max ${max}).`, error: "orders" });
    const byUuid = q.get("uuid") === "1";
    const found: SimOrder[] = [];
    for (const raw of asked) {
      const id = typeof raw === "string" ? raw : typeof raw === "number" ? String(raw) : null;
      if (id === null) continue;
      const o = byUuid ? this.#byUuid.get(id) : this.#byId.get(id);
      if (o !== undefined) {
        increment(this.#checkedIds, o.uuid);
        if (!found.includes(o)) found.push(o);
      } else if (byUuid) {
        increment(this.#checkedIds, id);
      }
    }
    const fault = found.map((o) => this.#ruleFor(o.playerId)?.checkFault).find((f) => f !== undefined);
    if (replyFault(fault, PAGES, this.#reply(res, line))) return;
    const withUuid = (o: SimOrder): boolean => this.#ruleFor(o.playerId)?.checkCarriesUuid ?? this.#opts.checkCarriesUuid ?? false;
    this.#sendJson(res, line, 200, { status: "OK", data: found.map((o) => this.#orderJson(o, withUuid(o))) });
  }
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}
