/**
 * x-stor adapter: JSON over HTTP GET with an `api-token` header, turned into result unions.
 * Never throws for provider or network behaviour, and never lets the token out in any returned text.
 *
 * productCode for x-stor: `{ productId: "501", playerParam?: "uid", extraParam?: "server" }`.
 * - the order's `playerId` is sent under `playerParam` (default `uid`, the usual first entry of the
 *   product's `params`);
 * - the order's `extra`, when non-empty, is sent under `extraParam` (default `server`);
 * - `qty=1` and `order_uuid=<reference>` are always sent; the reference is our own id, reused on retries.
 */
import type { HttpGetOutcome } from "../http-get.js";
import { withRetryAfter, type BalanceResult, type CheckResult, type PlaceRequest, type PlaceResult } from "../provider.js";
import { scrubSecret } from "../redact.js";
import { balanceOutcome, localRefusal, placeOutcome, productsOutcome, scrubCheckResult, scrubPlaceResult } from "../client-results.js";
import { httpGet } from "../http-get.js";
import {
  parseBalanceReply,
  parseCheckReply,
  parsePlaceReply,
  parseProducts,
  type XstorCheckBy,
  type XstorProductListResult,
} from "./parse.js";

export interface XstorClientConfig {
  /** e.g. `https://api.x-stor.net` (a path prefix is kept; a trailing `/` is ignored). */
  baseUrl: string;
  /** Sent as the `api-token` header; never logged or returned. */
  token: string;
  /** Deadline per HTTP call, whole exchange. */
  timeoutMs: number;
}

/** At most this many ids per `check` call. */
export const XSTOR_CHECK_BATCH_SIZE = 50;
export const XSTOR_DEFAULT_PLAYER_PARAM = "uid";
export const XSTOR_DEFAULT_EXTRA_PARAM = "server";

const RESERVED_PARAMS = new Set(["qty", "order_uuid"]);
/** A call that changes nothing at x-stor (see #get). */
const READ = true;
const PARAM_NAME = /^[A-Za-z0-9_.[\]-]{1,64}$/;
/** What node:http accepts in a header value. */
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

export class XstorClient {
  readonly #cfg: XstorClientConfig;
  readonly #base: string;

  constructor(cfg: XstorClientConfig) {
    this.#cfg = { ...cfg };
    this.#base = cfg.baseUrl.replace(/\/+$/, "");
  }

  /**
   * `GET {base}/client/api/newOrder/{productId}/params?qty=1&<playerParam>=<playerId>[&<extraParam>=<extra>]&order_uuid=<reference>`.
   * A request that cannot be sent as-is is refused locally (providerCode "local"): nothing was sent.
   */
  async place(req: PlaceRequest): Promise<PlaceResult> {
    const productId = req.productCode["productId"]?.trim() ?? "";
    const playerParam = req.productCode["playerParam"]?.trim() || XSTOR_DEFAULT_PLAYER_PARAM;
    const extraParam = req.productCode["extraParam"]?.trim() || XSTOR_DEFAULT_EXTRA_PARAM;
    if (this.#cfg.token === "" || !HEADER_VALUE.test(this.#cfg.token)) {
      return localRefusal("auth_failed", "x-stor api token is empty or not a valid header value");
    }
    if (productId === "") return localRefusal("product_unavailable", "x-stor productCode needs a non-empty productId");
    for (const name of [playerParam, extraParam]) {
      if (!PARAM_NAME.test(name) || RESERVED_PARAMS.has(name)) {
        return localRefusal("provider_error", `x-stor productCode has an unusable param name ${JSON.stringify(name.slice(0, 64))}`);
      }
    }
    if (playerParam === extraParam) return localRefusal("provider_error", "x-stor playerParam and extraParam must differ");
    if (req.reference.trim() === "") return localRefusal("provider_error", "x-stor reference (order_uuid) must not be empty");
    const playerId = req.playerId.trim();
    if (playerId === "") return localRefusal("invalid_player", "player id is empty");

    const params: [string, string][] = [["qty", "1"], [playerParam, playerId]];
    const extra = req.extra?.trim() ?? "";
    if (extra !== "") params.push([extraParam, extra]);
    params.push(["order_uuid", req.reference]);
    const reply = await this.#get(`/client/api/newOrder/${encodeURIComponent(productId)}/params`, params);
    return scrubPlaceResult(placeOutcome(reply, parsePlaceReply), (t) => this.#scrub(t), { providerCode: true });
  }

  /**
   * Batch status: `GET {base}/client/api/check?orders=<JSON array>[&uuid=1]`, at most
   * XSTOR_CHECK_BATCH_SIZE ids per call (calls made one after another). The map has one entry per
   * distinct reference asked; a call that fails makes its ids `unknown`.
   */
  async check(references: readonly string[], by: XstorCheckBy): Promise<Map<string, CheckResult>> {
    const out = new Map<string, CheckResult>();
    const ids: string[] = [];
    for (const ref of new Set(references)) {
      if (ref.trim() === "") out.set(ref, { kind: "unknown", cause: "empty reference (not sent)" });
      else ids.push(ref);
    }
    for (let i = 0; i < ids.length; i += XSTOR_CHECK_BATCH_SIZE) {
      const chunk = ids.slice(i, i + XSTOR_CHECK_BATCH_SIZE);
      const params: [string, string][] = [["orders", JSON.stringify(chunk)]];
      if (by === "uuid") params.push(["uuid", "1"]);
      const reply = await this.#get("/client/api/check", params, READ);
      const parsed = reply.ok ? parseCheckReply(reply.body, reply.status, { ids: chunk, by }) : { kind: "unknown" as const, cause: reply.cause };
      for (const id of chunk) {
        const r: CheckResult =
          parsed instanceof Map
            ? (parsed.get(id) ?? { kind: "unknown", cause: "not answered" })
            : withRetryAfter<CheckResult>({ kind: "unknown", cause: parsed.cause }, reply.ok ? reply.retryAfterMs : undefined);
        out.set(id, scrubCheckResult(r, (t) => this.#scrub(t)));
      }
    }
    return out;
  }

  /** One order by our reference (the order_uuid): how an ambiguous placement is reconciled. */
  async checkOne(reference: string): Promise<CheckResult> {
    const results = await this.check([reference], "uuid");
    return results.get(reference) ?? { kind: "unknown", cause: "not answered" };
  }

  /** `GET {base}/client/api/profile`. */
  async balance(): Promise<BalanceResult> {
    const reply = await this.#get("/client/api/profile", [], READ);
    return balanceOutcome(reply, parseBalanceReply, (t) => this.#scrub(t));
  }

  /** `GET {base}/client/api/products` (catalog import only; never per order). */
  async products(): Promise<XstorProductListResult> {
    const reply = await this.#get("/client/api/products", [], READ);
    return productsOutcome(reply, parseProducts, (t) => this.#scrub(t));
  }

  /** `read`: a call that changes nothing at x-stor may reuse a connection (see httpGet); newOrder never does. */
  async #get(path: string, params: [string, string][], read = false): Promise<HttpGetOutcome> {
    let url: URL;
    try {
      url = new URL(`${this.#base}${path}`);
      if (url.protocol !== "http:" && url.protocol !== "https:") throw new Error("not http(s)");
    } catch {
      return { ok: false, cause: `invalid x-stor base URL ${JSON.stringify(this.#scrub(this.#base))}` };
    }
    for (const [k, v] of params) url.searchParams.append(k, v);
    return httpGet(url, { timeoutMs: this.#cfg.timeoutMs, headers: { accept: "application/json", "api-token": this.#cfg.token }, reuseConnection: read });
  }

  #scrub(text: string): string {
    return scrubSecret(text, this.#cfg.token);
  }
}
