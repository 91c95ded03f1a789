import { lookup as dnsLookup, type LookupAddress } from "node:dns";
import { request as httpRequest, type RequestOptions } from "node:http";
import { request as httpsRequest } from "node:https";
import { isIP, type LookupFunction } from "node:net";
import type { TargetPolicy } from "./webhook-target.js";

/** What one POST came to: the receiver's status, or why no answer came (never the body: it may echo anything). */
export interface SendResult {
  statusCode: number | null;
  error: string | null;
  durationMs: number;
}

/**
 * POSTs one webhook body. Every connection's address is checked after DNS resolution (the lookup
 * hook), so a name that resolves inside (or is re-pointed there later) is refused at connect time.
 * Redirects are not followed; the answer body is read and dropped, at most a little of it.
 */
export class WebhookSender {
  constructor(
    private readonly policy: TargetPolicy,
    private readonly timeoutMs: number,
  ) {}

  send(url: string, body: string, headers: Record<string, string>): Promise<SendResult> {
    const started = performance.now();
    const elapsed = () => Math.round(performance.now() - started);
    return new Promise((resolve) => {
      let target: URL;
      try {
        target = new URL(url);
      } catch {
        return resolve({ statusCode: null, error: "invalid url", durationMs: 0 });
      }
      const host = target.hostname.replace(/^\[|\]$/g, "");
      if (isIP(host) !== 0 && !this.policy.addressAllowed(host)) return resolve({ statusCode: null, error: "target not allowed (internal address)", durationMs: 0 });
      const options: RequestOptions = {
        method: "POST",
        headers: { ...headers, "content-type": "application/json", "content-length": Buffer.byteLength(body), "user-agent": "pinflow-webhooks/1" },
        timeout: this.timeoutMs,
        lookup: this.guardedLookup(),
      };
      const req = (target.protocol === "https:" ? httpsRequest : httpRequest)(target, options, (res) => {
        let read = 0;
        res.on("data", (chunk: Buffer) => {
          read += chunk.length;
          if (read > 64 * 1024) res.destroy();
        });
        const done = () => resolve({ statusCode: res.statusCode ?? null, error: null, durationMs: elapsed() });
        res.on("end", done);
        res.on("close", done);
        res.on("error", done);
      });
      req.on("timeout", () => req.destroy(new Error(`no answer within ${this.timeoutMs} ms`)));
      req.on("error", (error: NodeJS.ErrnoException) => resolve({ statusCode: null, error: describe(error), durationMs: elapsed() }));
      req.end(body);
    });
  }

  private guardedLookup(): LookupFunction {
    return (hostname, options, callback) => {
      dnsLookup(hostname, { ...options, all: true }, (error, addresses) => {
        if (error) return callback(error, "", 4);
        const list = addresses as unknown as LookupAddress[];
        const allowed = list.filter((a) => this.policy.addressAllowed(a.address));
        if (allowed.length === 0) return callback(Object.assign(new Error("target not allowed (resolves to an internal address)"), { code: "ETARGETBLOCKED" }), "", 4);
        if ((options as { all?: boolean }).all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, allowed);
        callback(null, allowed[0]!.address, allowed[0]!.family);
      });
    };
  }
}

/** A short reason without anything the receiver could have put there. */
function describe(error: NodeJS.ErrnoException): string {
  if (error.code === "ETARGETBLOCKED") return error.message;
  return error.code ? `${error.code}` : error.message.slice(0, 200);
}
