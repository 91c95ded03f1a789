/**
 * Hostile HTTP requests from a seeded random source, for the fuzz test of the running system: random
 * Unicode (NUL and other controls, lone surrogates, astral and combining characters, huge strings),
 * random and deeply nested JSON, broken JSON and UTF-8, odd content types, hostile headers, paths
 * and query strings, on every endpoint of every service. Pure: the same seed gives the same requests.
 */
import type { RawRequest } from "./raw-http.js";
import type { ServiceName } from "./paths.js";

export type Rng = () => number;

/** One route of a service, `:name` marking a path parameter. */
export interface Endpoint {
  service: ServiceName;
  method: string;
  path: string;
}

/** Every route the three services serve (their controllers, plus health and metrics). */
export const ENDPOINTS: readonly Endpoint[] = [
  ...(["orders", "dispatcher", "status-poller"] as const).flatMap((service) =>
    ["/healthz", "/readyz", "/metrics"].map((path) => ({ service, method: "GET", path })),
  ),
  { service: "orders", method: "POST", path: "/v1/orders" },
  { service: "orders", method: "GET", path: "/v1/orders" },
  { service: "orders", method: "GET", path: "/v1/orders/:orderId" },
  { service: "orders", method: "GET", path: "/v1/orders/:orderId/events" },
  { service: "orders", method: "GET", path: "/v1/packages" },
  // The live stream's token and the pages (the stream itself stays open: not fuzzed here, see order-stream.e2e).
  { service: "orders", method: "POST", path: "/v1/orders/:orderId/stream-token" },
  { service: "orders", method: "GET", path: "/orders/:orderId" },
  { service: "orders", method: "GET", path: "/console" },
  { service: "orders", method: "GET", path: "/v1/console/figures" },
  { service: "orders", method: "GET", path: "/v1/console/providers" },
  { service: "orders", method: "POST", path: "/v1/console/orders/:orderId/check-now" },
  { service: "dispatcher", method: "GET", path: "/v1/providers" },
  { service: "dispatcher", method: "GET", path: "/v1/providers/:provider/balance" },
  { service: "dispatcher", method: "GET", path: "/v1/providers/:provider/status" },
  { service: "dispatcher", method: "POST", path: "/v1/providers/:provider/pause" },
  { service: "dispatcher", method: "POST", path: "/v1/providers/:provider/resume" },
  { service: "status-poller", method: "POST", path: "/v1/watches/:orderId/check-now" },
  { service: "status-poller", method: "GET", path: "/v1/providers/:provider" },
  { service: "status-poller", method: "POST", path: "/v1/providers/:provider/pause" },
  { service: "status-poller", method: "POST", path: "/v1/providers/:provider/resume" },
];

/** Values that reach deeper than a random string: real order ids, provider and package names. */
export interface KnownValues {
  orderIds: readonly string[];
  providers: readonly string[];
  packageIds: readonly string[];
  idempotencyKeys: readonly string[];
}

export interface FuzzCase {
  index: number;
  service: ServiceName;
  /** The route it aims at (`METHOD /path/:param`), for reports. */
  route: string;
  request: RawRequest;
}

const pick = <T>(rng: Rng, items: readonly T[]): T => items[Math.floor(rng() * items.length)]!;
const int = (rng: Rng, lo: number, hi: number): number => lo + Math.floor(rng() * (hi - lo + 1));
const chance = (rng: Rng, p: number): boolean => rng() < p;

/** Characters and strings that break naive code somewhere between the HTTP parser and a provider's URL. */
const NASTY = [
  "\u0000", "\u0001", "\u0007", "\b", "\t", "\n", "\r", "\u000b", "\u001b", "\u001f", "\u007f", "\u0080", "\u0085", "\u009f",
  "\ud800", "\udbff", "\udc00", "\udfff", "\ufeff", "\ufffd", "\ufffe", "\uffff", "\u200b", "\u200d", "\u200e", "\u202e", "\u2028", "\u2029",
  "\u{1f600}", "\u{1f469}\u200d\u{1f4bb}", "\u{10ffff}", "e\u0301\u0301\u0301", "İ", "ı", "ş", "ğ", "ü", "Ö", "ß", "\u00a0", "\u3000",
  "%", "%00", "%zz", "\\", "\\u0000", "\"", "'", "`", "${x}", "{{x}}", "[", "]", "{", "}", "<script>", "&amp;", "'; DROP TABLE order_view; --",
  "..", "../", "/", ".", "*", ">", " ", "|", "&", "=", "?", "#", "+", ",", ";", ":", "@", "__proto__", "constructor", "null", "NaN",
];

/** A random code unit or code point: any BMP unit (lone surrogates included) or an astral character. */
function randomChar(rng: Rng): string {
  if (chance(rng, 0.8)) return String.fromCharCode(int(rng, 0, 0xffff));
  return String.fromCodePoint(int(rng, 0x10000, 0x10ffff));
}

const ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_";

export function randomText(rng: Rng): string {
  const mode = rng();
  if (mode < 0.04) return "";
  if (mode < 0.1) return pick(rng, ["x", "9", " ", "ş", "\u0000", "\ud800", "\u{1f600}"]).repeat(int(rng, 100, 9000));
  const parts: string[] = [];
  for (let n = int(rng, 1, 10); n > 0; n--) {
    const r = rng();
    if (r < 0.45) parts.push(Array.from({ length: int(rng, 1, 12) }, () => pick(rng, [...ALNUM])).join(""));
    else if (r < 0.8) parts.push(pick(rng, NASTY));
    else parts.push(randomChar(rng));
  }
  return parts.join("");
}

/** Mostly plausible player ids, some hostile. */
function playerText(rng: Rng): string {
  if (chance(rng, 0.35)) return `p${int(rng, 1000, 99_999_999)}`;
  return randomText(rng);
}

function randomJson(rng: Rng, depth: number): unknown {
  const r = rng();
  if (depth <= 0 || r < 0.45) {
    return pick<() => unknown>(rng, [
      () => null,
      () => true,
      () => false,
      () => int(rng, -1e6, 1e6),
      () => rng() * 1e308,
      () => -0,
      () => randomText(rng),
      () => pick(rng, ["pubg-60", "freefire-100", "PUBG-60", "pubg-60 ", "pubg.60", ""]),
    ])();
  }
  if (r < 0.65) return Array.from({ length: int(rng, 0, 5) }, () => randomJson(rng, depth - 1));
  const out: Record<string, unknown> = {};
  for (let n = int(rng, 0, 5); n > 0; n--) {
    out[pick(rng, ["packageId", "playerId", "extra", "__proto__", "constructor", "toString", "price", "", randomText(rng)])] = randomJson(rng, depth - 1);
  }
  return out;
}

function nearValidOrder(rng: Rng, known: KnownValues): unknown {
  const order: Record<string, unknown> = {
    packageId: chance(rng, 0.85) ? pick(rng, known.packageIds) : randomText(rng),
    playerId: playerText(rng),
  };
  if (chance(rng, 0.4)) order.extra = chance(rng, 0.3) ? `+90555${int(rng, 1_000_000, 9_999_999)}` : randomText(rng);
  if (chance(rng, 0.1)) order[pick(rng, ["price", "status", "orderId", "__proto__"])] = randomJson(rng, 1);
  return order;
}

/** Bytes that are not UTF-8. */
const BAD_UTF8 = [[0xff], [0xfe, 0xff], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xe2, 0x82], [0xf4, 0x90, 0x80, 0x80], [0x80]];

function randomBody(rng: Rng, known: KnownValues): Buffer {
  const utf8 = (s: string) => Buffer.from(s, "utf8");
  const r = rng();
  if (r < 0.35) return utf8(JSON.stringify(nearValidOrder(rng, known)));
  if (r < 0.55) return utf8(JSON.stringify(randomJson(rng, 4)) ?? "null");
  if (r < 0.6) {
    const n = int(rng, 100, 9000);
    return utf8(chance(rng, 0.5) ? `${"[".repeat(n)}${"]".repeat(chance(rng, 0.8) ? n : n - 1)}` : `${'{"a":'.repeat(n)}1${"}".repeat(n)}`);
  }
  if (r < 0.67) {
    // JSON escapes that decode to text PostgreSQL cannot store, or to lone surrogates.
    const escape = pick(rng, ["\\u0000", "\\ud800", "\\udfff", "\\udbff\\u0041", "\\u0007", "\\u001f", "\\u007f", "\\u0085"]);
    return utf8(`{"packageId":"${pick(rng, known.packageIds)}","playerId":"p${int(rng, 1, 999)}${escape}x"${chance(rng, 0.3) ? `,"extra":"${escape}"` : ""}}`);
  }
  if (r < 0.72) {
    const bad = Buffer.from(pick(rng, BAD_UTF8));
    return Buffer.concat([utf8(`{"packageId":"${pick(rng, known.packageIds)}","playerId":"p1`), bad, utf8('"}')]);
  }
  if (r < 0.77) return utf8(JSON.stringify(nearValidOrder(rng, known)).slice(0, int(rng, 0, 30)));
  if (r < 0.8) return Buffer.from(Array.from({ length: int(rng, 1, 200) }, () => int(rng, 0, 255)));
  if (r < 0.84) return utf8(JSON.stringify({ packageId: pick(rng, known.packageIds), playerId: "p1", extra: "x".repeat(int(rng, 16_000, 40_000)) }));
  if (r < 0.88) return Buffer.alloc(0);
  if (r < 0.92) return utf8(pick(rng, ["null", "true", "0", '""', "[]", "{}", "1e999", '"\\ud800"', "{\"packageId\":1}", " "]));
  return utf8(`packageId=${encodeURIComponent(pick(rng, known.packageIds))}&playerId=p1`);
}

/** Percent-encode a string's UTF-8 bytes, lone surrogates as the (invalid) bytes of their code unit, sometimes malformed. */
function encodeSegment(rng: Rng, text: string): string {
  let out = "";
  for (const ch of text) {
    if (/^[A-Za-z0-9\-_.~]$/.test(ch)) out += ch;
    else {
      const unit = ch.codePointAt(0)!;
      const bytes =
        unit >= 0xd800 && unit <= 0xdfff ? [0xe0 | (unit >> 12), 0x80 | ((unit >> 6) & 0x3f), 0x80 | (unit & 0x3f)] : [...Buffer.from(ch, "utf8")];
      out += bytes.map((b) => `%${b.toString(16).toUpperCase().padStart(2, "0")}`).join("");
    }
  }
  if (chance(rng, 0.08)) out += pick(rng, ["%", "%G1", "%C3", "%ED%A0%80", "%00", "%2F..%2F", "%FF"]);
  return out;
}

function paramValue(rng: Rng, name: string, known: KnownValues): string {
  if (chance(rng, 0.3)) {
    const pool = name === "provider" ? known.providers : known.orderIds;
    if (pool.length > 0) return encodeURIComponent(pick(rng, pool));
  }
  if (chance(rng, 0.05)) return pick(rng, ["", ".", "..", "%2e%2e", "a.b", "*", ">", "x".repeat(5000)]);
  return encodeSegment(rng, randomText(rng));
}

const STATUSES = ["pending", "processing", "completed", "failed", "review", "lost", "PENDING", ""];

function queryValue(rng: Rng, key: string): string {
  switch (key) {
    case "limit":
      return pick(rng, ["0", "1", "-1", "2", "50", "200", "201", "1e3", "1.5", "abc", "NaN", "Infinity", "0x10", " 5", "9".repeat(400), ""]);
    case "status":
      return encodeSegment(rng, pick(rng, STATUSES));
    case "cursor":
      return pick<() => string>(rng, [
        () => encodeSegment(rng, randomText(rng)),
        () => Buffer.from(JSON.stringify(randomJson(rng, 2)) ?? "", "utf8").toString("base64url"),
        () => Buffer.from(JSON.stringify([pick(rng, ["not-a-date", "2024-13-45T99:00:00Z", "", "2024-01-01T00:00:00.000Z", "infinity", "epoch"]), randomText(rng)])).toString("base64url"),
        () => Buffer.from(JSON.stringify([new Date(int(rng, 0, 4e12)).toISOString(), `o-${int(rng, 1, 99)}`])).toString("base64url"),
      ])();
    default:
      return encodeSegment(rng, randomText(rng));
  }
}

function randomQuery(rng: Rng, listing: boolean): string {
  if (!chance(rng, listing ? 0.85 : 0.15)) return "";
  const pairs: string[] = [];
  for (let n = int(rng, 1, 4); n > 0; n--) {
    const key = chance(rng, 0.75) ? pick(rng, ["limit", "status", "cursor"]) : pick(rng, ["status[]", "limit[a]", "__proto__[x]", "constructor[prototype][x]", "", "x", encodeSegment(rng, randomText(rng))]);
    pairs.push(chance(rng, 0.05) ? key : `${key}=${queryValue(rng, key)}`);
  }
  return `?${pairs.join(pick(rng, ["&", "&", "&", ";", "&&"]))}`;
}

const CONTENT_TYPES = [
  "application/json", "application/json", "application/json", "application/json; charset=utf-8", "APPLICATION/JSON",
  "application/json; charset=utf-16", "application/json; charset=latin1", "application/json; charset=\"", "text/plain",
  "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/vnd.api+json", "application/merge-patch+json",
  "text/json", "json", "", ";;;", "application/json\u00ff",
];

function headerBytes(value: string): Buffer {
  return [...value].every((c) => c.charCodeAt(0) < 256) ? Buffer.from(value, "latin1") : Buffer.from(value, "utf8");
}

function randomHeaders(rng: Rng, hasBody: boolean, known: KnownValues): (readonly [string, Buffer])[] {
  const headers: (readonly [string, Buffer])[] = [];
  if (hasBody ? chance(rng, 0.9) : chance(rng, 0.2)) {
    headers.push(["Content-Type", headerBytes(chance(rng, 0.6) ? "application/json" : pick(rng, CONTENT_TYPES))]);
  }
  if (chance(rng, 0.5)) {
    const key = pick<() => string>(rng, [
      () => pick(rng, known.idempotencyKeys),
      () => pick(rng, known.idempotencyKeys),
      () => `k-${int(rng, 1, 1e9)}`,
      () => "x".repeat(int(rng, 120, 300)),
      () => "a b",
      () => "",
      () => "ключ-ş",
      () => randomText(rng),
    ])();
    headers.push(["Idempotency-Key", headerBytes(key)]);
    if (chance(rng, 0.05)) headers.push(["Idempotency-Key", headerBytes(pick(rng, known.idempotencyKeys))]);
  }
  for (let n = chance(rng, 0.4) ? int(rng, 1, 3) : 0; n > 0; n--) {
    const name = pick(rng, ["Accept", "Accept-Encoding", "Accept-Charset", "traceparent", "tracestate", "X-Forwarded-For", "Cookie", "Origin", "Range", "If-None-Match", "X-Request-Id", "Authorization"]);
    headers.push([name, headerBytes(chance(rng, 0.5) ? randomText(rng).slice(0, 2000) : pick(rng, ["*/*", "gzip, br", "00-zz-zz-01", "bytes=0-1", "Bearer x"]))]);
  }
  if (chance(rng, 0.01)) headers.push(["X-Huge", Buffer.alloc(int(rng, 10_000, 40_000), 0x61)]);
  return headers;
}

const METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE", "FOO", "get"];

function randomRouteTarget(rng: Rng, endpoint: Endpoint, known: KnownValues): string {
  let path = endpoint.path.replace(/:(\w+)/g, (_, name: string) => paramValue(rng, name, known));
  if (chance(rng, 0.05)) path += pick(rng, ["/", "//", "/x", "/..", "%2F", "?"]);
  if (chance(rng, 0.02)) path = pick(rng, ["/", "/v1", "/v1/", "/v2/orders", "/V1/ORDERS", "*", "/v1/orders/../packages", `/${encodeSegment(rng, randomText(rng))}`]);
  return path + randomQuery(rng, endpoint.path === "/v1/orders" && endpoint.method === "GET");
}

/** The `count` requests of a run, each aimed at one endpoint: same seed, same requests. */
export function hostileRequests(rng: Rng, count: number, known: KnownValues): FuzzCase[] {
  const cases: FuzzCase[] = [];
  for (let index = 0; index < count; index++) {
    // Half of all requests go to order creation: it is where customer text enters the system.
    const endpoint = chance(rng, 0.45) ? ENDPOINTS.find((e) => e.method === "POST" && e.path === "/v1/orders")! : pick(rng, ENDPOINTS);
    const method = chance(rng, 0.85) ? endpoint.method : pick(rng, METHODS);
    const hasBody = method !== "GET" && method !== "HEAD" ? chance(rng, endpoint.path === "/v1/orders" ? 0.97 : 0.4) : chance(rng, 0.05);
    const body = hasBody ? randomBody(rng, known) : Buffer.alloc(0);
    cases.push({
      index,
      service: endpoint.service,
      route: `${endpoint.method} ${endpoint.path}`,
      request: { method, target: randomRouteTarget(rng, endpoint, known), headers: randomHeaders(rng, hasBody, known), body },
    });
  }
  return cases;
}

/** A short, printable description of a request for a failure report (hostile bytes escaped). */
export function describeRequest(c: FuzzCase): string {
  const show = (s: string, max: number) => JSON.stringify(s.length > max ? `${s.slice(0, max)}…(${s.length})` : s);
  const headers = c.request.headers.map(([n, v]) => `${n}: ${show(v.toString("latin1"), 80)}`).join("; ");
  return `#${c.index} ${c.service} [${c.route}] ${c.request.method} ${show(c.request.target, 160)} {${headers}} body=${show(c.request.body.toString("utf8"), 200)}`;
}
