/**
 * Scaffolding shared by the provider simulators (znet, x-stor): the HTTP server's
 * start/stop with its pending timers, the per-player rule list, request counters,
 * money in cents, generated PINs, and the faults every simulator can be told to
 * produce (empty/HTML/5xx/garbage bodies, drops, hangs, slow replies).
 */
import { randomInt } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";

const PIN_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

export const DEFAULT_BALANCE = 1000;
export const DEFAULT_COMPLETE_AFTER_MS = 3000;
export const DEFAULT_SLOW_MS = 5000;

/** `XXXX-XXXX-XXXX-XXXX` of A-Z0-9. */
export function defaultSimPin(): string {
  const group = (): string => Array.from({ length: 4 }, () => PIN_ALPHABET[randomInt(PIN_ALPHABET.length)]).join("");
  return [group(), group(), group(), group()].join("-");
}

export function toCents(tl: number): number {
  return Math.round(tl * 100);
}

/** "12.3" → 1230. */
export function priceCents(price: string): number {
  const [whole = "0", frac = ""] = price.split(".");
  return Number(whole) * 100 + Number((frac + "00").slice(0, 2));
}

/** 1234 → "12.34", -5 → "-0.05". */
export function formatCents(cents: number): string {
  const abs = Math.abs(cents);
  return `${cents < 0 ? "-" : ""}${Math.floor(abs / 100)}.${String(abs % 100).padStart(2, "0")}`;
}

export function increment(map: Map<string, number>, key: string): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}

/** The part of a simulator rule that picks the player it applies to. */
export interface SimRuleMatch {
  playerId: string;
  /** "exact" (default) or "prefix": the player id starts with `playerId`. */
  match?: "exact" | "prefix";
}

/** Rules scripted by tests; when several match, the most recently added wins. */
export class SimRules<R extends SimRuleMatch> {
  #rules: R[] = [];

  add(rule: R): void {
    this.#rules.push({ ...rule });
  }

  clear(): void {
    this.#rules = [];
  }

  find(playerId: string): R | undefined {
    for (let i = this.#rules.length - 1; i >= 0; i--) {
      const r = this.#rules[i];
      if (r === undefined) continue;
      if (r.match === "prefix" ? playerId.startsWith(r.playerId) : playerId === r.playerId) return r;
    }
    return undefined;
  }
}

/** An HTTP server that can be started on any port and stopped with its hanging requests and pending timers. */
export class SimHttpServer {
  readonly #name: string;
  readonly #handler: http.RequestListener;
  readonly #timers = new Set<NodeJS.Timeout>();
  #server: http.Server | undefined;

  constructor(name: string, handler: http.RequestListener) {
    this.#name = name;
    this.#handler = handler;
  }

  /** Starts listening (port 0 = any free port); resolves to the base URL, e.g. `http://127.0.0.1:40123`. */
  async start(port: number, host: string): Promise<string> {
    if (this.#server !== undefined) throw new Error(`${this.#name} simulator already started`);
    const server = http.createServer(this.#handler);
    this.#server = server;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, () => {
        server.off("error", reject);
        resolve();
      });
    });
    const addr = server.address() as AddressInfo;
    const shownHost = host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host.includes(":") ? `[${host}]` : host;
    return `http://${shownHost}:${addr.port}`;
  }

  /** Stops listening, drops every open connection (including hanging requests) and pending timers. */
  async stop(): Promise<void> {
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    const server = this.#server;
    if (server === undefined) return;
    this.#server = undefined;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await closed;
  }

  /** Runs `fn` after `ms` unless the server is stopped first. */
  later(ms: number, fn: () => void): void {
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      fn();
    }, ms);
    this.#timers.add(timer);
  }
}

/** Writes a complete reply unless the client is already gone. */
export function writeReply(res: http.ServerResponse, status: number, contentType: string, body: string): void {
  if (res.destroyed) return;
  res.writeHead(status, { "content-type": contentType, "content-length": Buffer.byteLength(body, "utf8") });
  res.end(body);
}

/** Logs `<line> -> <what>` and destroys the socket without a reply. */
export function dropReply(res: http.ServerResponse, line: string, what: string, onRequest: ((line: string) => void) | undefined): void {
  onRequest?.(`${line} -> ${what}`);
  res.socket?.destroy();
}

/** A simulator's canned fault bodies. */
export interface SimFaultPages {
  html: string;
  html500: string;
  garbage: string;
}

/** How a simulator answers one request. */
export interface SimFaultReply {
  send(status: number, body: string, type: "html" | "text"): void;
  drop(what: string): void;
  /** Logs without answering (the request is left hanging). */
  note(what: string): void;
}

/**
 * Answers the faults that record nothing: empty/html/http500/garbage bodies, drop-before and hang.
 * Returns false (nothing done) for any other fault, or none.
 */
export function replyFault(fault: string | undefined, pages: SimFaultPages, reply: SimFaultReply): boolean {
  switch (fault) {
    case "empty":
      reply.send(200, "", "html");
      return true;
    case "html":
      reply.send(200, pages.html, "html");
      return true;
    case "http500":
      reply.send(500, pages.html500, "html");
      return true;
    case "garbage":
      reply.send(200, pages.garbage, "text");
      return true;
    case "drop-before":
      reply.drop("dropped (nothing recorded)");
      return true;
    case "hang":
      reply.note("hanging (nothing recorded)");
      return true;
    default:
      return false;
  }
}

/**
 * Delivers the reply to an accepted place call under the after-accept faults:
 * drop-after-accept (when recorded) destroys the socket, slow-accept answers after `slowMs`.
 */
export function deliverPlaceReply(
  server: SimHttpServer,
  rule: { placeFault?: string; slowMs?: number } | undefined,
  accepted: boolean,
  reply: SimFaultReply,
  droppedWhat: string,
  sendNow: () => void,
): void {
  if (rule?.placeFault === "drop-after-accept" && accepted) return reply.drop(droppedWhat);
  if (rule?.placeFault === "slow-accept") return server.later(rule.slowMs ?? DEFAULT_SLOW_MS, sendNow);
  sendNow();
}
