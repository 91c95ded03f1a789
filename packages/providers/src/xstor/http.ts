/**
 * HTTP GET with request headers (x-stor authenticates with an `api-token` header, which the
 * shared `httpGet` cannot send). Same contract as `../http-get.ts`: never rejects, one deadline
 * for the whole exchange, causes carry the URL with secret-looking query values masked.
 * Header values never appear in any cause.
 */
import http from "node:http";
import https from "node:https";
import type { HttpGetOutcome } from "../http-get.js";
import { redactUrl } from "../redact.js";

export interface HeaderGetOptions {
  /** Deadline for the whole exchange (connect, send, full reply). */
  timeoutMs: number;
  /** Extra request headers (e.g. `api-token`); never echoed in causes. */
  headers: Record<string, string>;
  /** Replies larger than this are abandoned (default 8 MiB). */
  maxBytes?: number;
}

const DEFAULT_MAX_BYTES = 8 * 1024 * 1024;

function describe(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    return code !== undefined && !err.message.includes(code) ? `${code}: ${err.message}` : err.message;
  }
  return String(err);
}

/** GET `url` with `headers`; the reply body is decoded as UTF-8. */
export function httpGetWithHeaders(url: URL, opts: HeaderGetOptions): Promise<HttpGetOutcome> {
  const where = `GET ${redactUrl(url)}`;
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_BYTES;
  return new Promise((resolve) => {
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    let req: http.ClientRequest | undefined;
    const finish = (outcome: HttpGetOutcome): void => {
      if (settled) return;
      settled = true;
      if (timer !== undefined) clearTimeout(timer);
      resolve(outcome);
    };
    const fail = (what: string): void => {
      finish({ ok: false, cause: redactUrl(`${what} (${where})`) });
      req?.destroy();
    };
    try {
      const lib = url.protocol === "https:" ? https : http;
      const headers = { accept: "application/json", "user-agent": "pinflow", ...opts.headers };
      req = lib.get(url, { agent: false, headers }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on("data", (chunk: Buffer) => {
          size += chunk.length;
          if (size > maxBytes) fail(`reply larger than ${maxBytes} bytes`);
          else chunks.push(chunk);
        });
        res.on("end", () => {
          finish({ ok: true, status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") });
        });
        res.on("error", (err) => fail(`connection dropped while reading the reply: ${describe(err)}`));
        res.on("close", () => {
          if (!res.complete) fail("connection dropped while reading the reply");
        });
      });
      req.on("error", (err) => fail(`request failed: ${describe(err)}`));
      timer = setTimeout(() => fail(`timeout after ${opts.timeoutMs} ms`), opts.timeoutMs);
    } catch (err) {
      // Invalid header values (e.g. a token with a newline) land here: say so without the value.
      const code = err instanceof Error ? (err as NodeJS.ErrnoException).code : undefined;
      fail(code === "ERR_INVALID_CHAR" || code === "ERR_HTTP_INVALID_HEADER_VALUE" ? "request not sent: invalid header value" : `request not sent: ${describe(err)}`);
    }
  });
}
