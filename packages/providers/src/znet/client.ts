/**
 * znet adapter: HTTP GET `{baseUrl}/servis/<name>.php?kod=&sifre=&...` turned into result unions.
 * Never throws for provider or network behaviour, and never lets the password out in any
 * returned text (URLs are masked, provider texts scrubbed).
 */
import { httpGet, type HttpGetOutcome } from "../http-get.js";
import { withRetryAfter, type BalanceResult, type CheckResult, type PlaceRequest, type PlaceResult } from "../provider.js";
import { scrubSecret } from "../redact.js";
import { balanceOutcome, localRefusal, placeOutcome, productsOutcome, scrubCheckResult, scrubPlaceResult } from "../client-results.js";
import { mapPlayer } from "./map-player.js";
import {
  parseBalanceReply,
  parseCheckReply,
  parsePlaceReply,
  parseProductList,
  type ProductListResult,
} from "./parse.js";

export interface ZnetClientConfig {
  /** e.g. `http://bayi.example.com` (a path prefix is kept; a trailing `/` is ignored). */
  baseUrl: string;
  /** `kod`: reseller code. */
  code: string;
  /** `sifre`: never logged or returned. */
  password: string;
  /** Deadline per call, whole exchange. */
  timeoutMs: number;
}

type ZnetCall = "pin_ekle" | "pin_kontrol" | "bakiye_kontrol" | "pin_listesi";

/** znet takes the reference back as `tahsilat_api_islem_id`; it must be digits. */
const REFERENCE = /^\d+$/;
/** A call that changes nothing at znet (see #get). */
const READ = true;

export class ZnetClient {
  readonly #cfg: ZnetClientConfig;
  readonly #base: string;

  constructor(cfg: ZnetClientConfig) {
    this.#cfg = { ...cfg };
    this.#base = cfg.baseUrl.replace(/\/+$/, "");
  }

  /**
   * pin_ekle. `productCode` must hold `oyun` (the item's oyun_bilgi_id) and `kupur`.
   * A request that cannot be sent as-is is refused locally (providerCode "local"): nothing was sent.
   */
  async place(req: PlaceRequest): Promise<PlaceResult> {
    const oyun = req.productCode["oyun"]?.trim() ?? "";
    const kupur = req.productCode["kupur"]?.trim() ?? "";
    if (oyun === "" || kupur === "") {
      return localRefusal("product_unavailable", "znet productCode needs non-empty oyun and kupur");
    }
    if (!REFERENCE.test(req.reference)) {
      return localRefusal("provider_error", "znet reference (referans) must be digits only");
    }
    const player = mapPlayer(req.playerId, req.extra);
    const params: Record<string, string> = { oyun, kupur, referans: req.reference, oyuncu_bilgi: player.oyuncuBilgi };
    if (player.musteriTel !== null) params["musteri_tel"] = player.musteriTel;
    const reply = await this.#get("pin_ekle", params);
    return scrubPlaceResult(placeOutcome(reply, parsePlaceReply), (t) => this.#scrub(t), { providerCode: false });
  }

  /** pin_kontrol for one reference. */
  async check(reference: string): Promise<CheckResult> {
    const reply = await this.#get("pin_kontrol", { tahsilat_api_islem_id: reference }, READ);
    const result: CheckResult = reply.ok
      ? withRetryAfter(parseCheckReply(reply.body, reply.status), reply.retryAfterMs)
      : { kind: "unknown", cause: reply.cause };
    return scrubCheckResult(result, (t) => this.#scrub(t));
  }

  /** bakiye_kontrol. */
  async balance(): Promise<BalanceResult> {
    const reply = await this.#get("bakiye_kontrol", {}, READ);
    return balanceOutcome(reply, parseBalanceReply, (t) => this.#scrub(t));
  }

  /** pin_listesi (catalog import only; never per order). */
  async products(): Promise<ProductListResult> {
    const reply = await this.#get("pin_listesi", {}, READ);
    return productsOutcome(reply, parseProductList, (t) => this.#scrub(t));
  }

  #url(call: ZnetCall, params: Record<string, string>): URL {
    const url = new URL(`${this.#base}/servis/${call}.php`);
    url.searchParams.set("kod", this.#cfg.code);
    url.searchParams.set("sifre", this.#cfg.password);
    for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
    return url;
  }

  /** `read`: a call that changes nothing at znet may reuse a connection (see httpGet); pin_ekle never does. */
  async #get(call: ZnetCall, params: Record<string, string>, read = false): Promise<HttpGetOutcome> {
    let url: URL;
    try {
      url = this.#url(call, params);
    } catch {
      return { ok: false, cause: `invalid znet base URL ${JSON.stringify(this.#scrub(this.#base))}` };
    }
    return httpGet(url, { timeoutMs: this.#cfg.timeoutMs, reuseConnection: read });
  }

  #scrub(text: string): string {
    return scrubSecret(text, this.#cfg.password);
  }
}
