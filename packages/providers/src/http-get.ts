/** A small HTTP GET that never rejects and never leaks secrets from the URL into its causes. */
import http from "node:http";
import https from "node:https";
import { redactUrl } from "./redact.js";

export type HttpGetOutcome =
  /** `retryAfterMs`: the reply's `Retry-After` header (seconds or an HTTP date), when it has a usable one. */
  | { ok: true; status: number; body: string; retryAfterMs?: number }
  /** Timeout, connection refused/reset, dropped reply: the cause has the URL with secrets masked. */
  | { ok: false; cause: string };

export interface HttpGetOptions {
  /** Extra request headers (e.g. x-stor's `api-token`); never echoed in causes. */
  headers?: Record<string, string>;
  /** Deadline for the whole exchange (connect, send, full reply). */
  timeoutMs: number;
  /** Replies larger than this are abandoned. */
  maxBytes?: number;
  /**
   * Reuse an idle connection to the host (keep-alive): only for reads (status checks, balance,
   * catalog). A placement always opens its own connection: on a reused one the server may close it
   * just as the request goes out, and a placement that fails then is ambiguous (written or not?) and
   * must be reconciled; a read that fails so is simply sent again, once, on a fresh connection.
   */
  reuseConnection?: boolean;
}

/** The shared keep-alive agents of reads (an idle connection is closed a second before the server's Keep-Alive hint says it would). */
const READ_AGENTS = {
  "http:": new http.Agent({ keepAlive: true }),
  "https:": new https.Agent({ keepAlive: true }),
};

const DEFAULT_MAX_BYTES = 8 * 1024 * 1024;

function describe(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    return code !== undefined && !err.message.includes(code) ? `${code}: ${err.message}` : err.message;
  }
  return String(err);
}

/** GET `url`; the reply body is decoded as UTF-8. */
export async function httpGet(url: URL, opts: HttpGetOptions): Promise<HttpGetOutcome> {
  if (opts.reuseConnection !== true) return getOnce(url, opts, false);
  const deadline = Date.now() + opts.timeoutMs;
  const first = await getOnce(url, opts, true);
  // A reused connection the server had closed fails before any reply: a read is sent again on a new one.
  if (first.ok || !first.staleConnection) return strip(first);
  const left = deadline - Date.now();
  if (left <= 0) return strip(first);
  return strip(await getOnce(url, { ...opts, timeoutMs: left }, false));
}

type Attempt = HttpGetOutcome & { staleConnection?: boolean };

function strip(outcome: Attempt): HttpGetOutcome {
  if (outcome.staleConnection === undefined) return outcome;
  const { staleConnection: _stale, ...rest } = outcome;
  return rest as HttpGetOutcome;
}

function getOnce(url: URL, opts: HttpGetOptions, reuse: boolean): Promise<Attempt> {
  const where = `GET ${redactUrl(url)}`;
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_BYTES;
  return new Promise((resolve) => {
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    let req: http.ClientRequest | undefined;
    const finish = (outcome: Attempt): void => {
      if (settled) return;
      settled = true;
      if (timer !== undefined) clearTimeout(timer);
      resolve(outcome);
    };
    let replied = false;
    const fail = (what: string, stale = false): void => {
      finish({ ok: false, cause: redactUrl(`${what} (${where})`), ...(stale ? { staleConnection: true } : {}) });
      req?.destroy();
    };
    try {
      const lib = url.protocol === "https:" ? https : http;
      const agent = reuse ? READ_AGENTS[url.protocol === "https:" ? "https:" : "http:"] : false;
      req = lib.get(url, { agent, headers: { accept: "*/*", "user-agent": "pinflow", ...opts.headers } }, (res) => {
        replied = true;
        const chunks: Buffer[] = [];
        let size = 0;
        res.on("data", (chunk: Buffer) => {
          size += chunk.length;
          if (size > maxBytes) fail(`reply larger than ${maxBytes} bytes`);
          else chunks.push(chunk);
        });
        res.on("end", () => {
          const outcome: HttpGetOutcome = { ok: true, status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") };
          const retryAfterMs = parseRetryAfter(res.headers["retry-after"]);
          finish(retryAfterMs === null ? outcome : { ...outcome, retryAfterMs });
        });
        res.on("error", (err) => fail(`connection dropped while reading the reply: ${describe(err)}`));
        res.on("close", () => {
          if (!res.complete) fail("connection dropped while reading the reply");
        });
      });
      req.on("error", (err) => fail(`request failed: ${describe(err)}`, reuse && req?.reusedSocket === true && !replied));
      timer = setTimeout(() => fail(`timeout after ${opts.timeoutMs} ms`), opts.timeoutMs);
    } catch (err) {
      fail(`request not sent: ${describe(err)}`);
    }
  });
}

/** Longest wait a provider may ask for (a bad header must not park orders for days). */
const MAX_RETRY_AFTER_MS = 15 * 60_000;

/** `Retry-After`: delay-seconds or an HTTP date; null when absent or unusable. */
export function parseRetryAfter(value: string | string[] | undefined, now: number = Date.now()): number | null {
  const raw = (Array.isArray(value) ? value[0] : value)?.trim() ?? "";
  if (raw === "") return null;
  let ms: number;
  if (/^\d{1,10}$/.test(raw)) ms = Number(raw) * 1000;
  else {
    const at = Date.parse(raw);
    if (!Number.isFinite(at) || !/[a-z]/i.test(raw)) return null;
    ms = at - now;
  }
  return Math.min(MAX_RETRY_AFTER_MS, Math.max(0, Math.round(ms)));
}
