import { test } from "node:test";
import assert from "node:assert/strict";
import { redactSpanUrls, redactUrlText } from "./redact-urls.js";

test("every query value of a URL is redacted, names and path kept", () => {
  assert.equal(
    redactUrlText("http://znet.example/servis/pin_kontrol.php?kod=5301234567&sifre=s3cret&referans=r1#x"),
    "http://znet.example/servis/pin_kontrol.php?kod=REDACTED&sifre=REDACTED&referans=REDACTED",
  );
});

test("user info is dropped; a URL without a query is unchanged", () => {
  assert.equal(redactUrlText("https://user:pa55@x-stor.example/api/orders"), "https://x-stor.example/api/orders");
  assert.equal(redactUrlText("http://x-stor.example/api/orders/42"), "http://x-stor.example/api/orders/42");
});

test("a bare query string (url.query) and a target (http.target) are redacted", () => {
  assert.equal(redactUrlText("kod=1&sifre=2"), "kod=REDACTED&sifre=REDACTED");
  assert.equal(redactUrlText("/servis/bakiye.php?sifre=abc"), "/servis/bakiye.php?sifre=REDACTED");
});

test("redactSpanUrls rewrites only URL attributes", () => {
  const attributes: Record<string, unknown> = { "url.full": "http://h/p?sifre=abc", "url.query": "sifre=abc", "db.statement": "SELECT $1 WHERE a = 'x=y?'" };
  redactSpanUrls({ attributes, setAttribute: (k, v) => (attributes[k] = v) });
  assert.deepEqual(attributes, { "url.full": "http://h/p?sifre=REDACTED", "url.query": "sifre=REDACTED", "db.statement": "SELECT $1 WHERE a = 'x=y?'" });
});
