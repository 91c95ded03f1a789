/**
 * Span attributes that can carry a URL or its query string. Provider calls put credentials in the
 * query (znet: `kod`/`sifre`), so no value of any query parameter is ever recorded: the parameter
 * names stay (useful when reading a trace), every value becomes `REDACTED`. User info
 * (`user:password@`) is dropped as well.
 */
const URL_ATTRIBUTES = ["url.full", "http.url", "url.query", "http.target", "url.original", "http.request.header.referer"] as const;

export const REDACTED = "REDACTED";

/** `text` with every query-string value replaced and any user info removed; other text is left as it is. */
export function redactUrlText(text: string): string {
  const withoutUserInfo = text.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/?#@]*@/i, "$1");
  const q = withoutUserInfo.indexOf("?");
  // `url.query` has no leading "?": the whole value is a query string.
  const [head, query] = q === -1 ? (looksLikeQuery(withoutUserInfo) ? ["", withoutUserInfo] : [withoutUserInfo, null]) : [withoutUserInfo.slice(0, q + 1), withoutUserInfo.slice(q + 1)];
  if (query === null) return withoutUserInfo;
  const hash = query.indexOf("#");
  const params = hash === -1 ? query : query.slice(0, hash);
  const redacted = params
    .split("&")
    .map((pair) => {
      const eq = pair.indexOf("=");
      return eq === -1 ? pair : `${pair.slice(0, eq)}=${REDACTED}`;
    })
    .join("&");
  return head + redacted;
}

function looksLikeQuery(text: string): boolean {
  return !text.includes("/") && text.includes("=");
}

/** The subset of a span this needs (the SDK's span is writable until it has ended). */
export interface WritableAttributes {
  readonly attributes: Readonly<Record<string, unknown>>;
  setAttribute(key: string, value: string): unknown;
}

/** Overwrite the URL attributes of `span` with their redacted form. */
export function redactSpanUrls(span: WritableAttributes): void {
  for (const key of URL_ATTRIBUTES) {
    const value = span.attributes[key];
    if (typeof value === "string") {
      const safe = redactUrlText(value);
      if (safe !== value) span.setAttribute(key, safe);
    }
  }
}
