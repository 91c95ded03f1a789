/** XstorClient mechanics against a tiny scripted server (the full simulator tests live in test/simulators). */
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { XstorClient } from "./client.js";

const TOKEN = "tok+Gizli/Sifre&1= x";

interface Seen {
  url: URL;
  token: string | undefined;
}

describe("XstorClient (scripted server)", () => {
  let server: http.Server;
  let baseUrl = "";
  let seen: Seen[] = [];
  let reply: (req: http.IncomingMessage, res: http.ServerResponse) => void = (_req, res) => res.end("");

  before(async () => {
    server = http.createServer((req, res) => {
      const token = req.headers["api-token"];
      seen.push({ url: new URL(req.url ?? "/", "http://x"), token: typeof token === "string" ? token : undefined });
      reply(req, res);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  });

  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  const client = (timeoutMs = 2000): XstorClient => new XstorClient({ baseUrl, token: TOKEN, timeoutMs });
  const sendJson = (status: number, v: unknown) => (_req: http.IncomingMessage, res: http.ServerResponse) => {
    res.writeHead(status, { "content-type": "application/json" });
    res.end(JSON.stringify(v));
  };

  it("place sends newOrder with qty, the player param, server, order_uuid and the api-token header", async () => {
    seen = [];
    reply = sendJson(200, { status: "OK", data: { order_id: "67890", status: "Processing", price: "45.50" } });
    const r = await client().place({ reference: "ord-1", productCode: { productId: "601" }, playerId: " 5123456 ", extra: "EU West" });
    assert.deepEqual(r, { kind: "accepted", cost: "45.50", balance: null, providerOrderId: "67890", pin: null });
    const s = seen[0];
    assert.ok(s !== undefined);
    assert.equal(s.url.pathname, "/client/api/newOrder/601/params");
    assert.deepEqual([...s.url.searchParams], [["qty", "1"], ["uid", "5123456"], ["server", "EU West"], ["order_uuid", "ord-1"]]);
    assert.equal(s.token, TOKEN);
  });

  it("uses the product's playerParam/extraParam and leaves out an empty extra", async () => {
    seen = [];
    reply = sendJson(200, { status: "OK", data: { order_id: 1, status: "pending", price: 1 } });
    await client().place({ reference: "ord-2", productCode: { productId: "a/b", playerParam: "player_id", extraParam: "zone" }, playerId: "p", extra: "7" });
    await client().place({ reference: "ord-3", productCode: { productId: "501" }, playerId: "p", extra: "  " });
    assert.equal(seen[0]?.url.pathname, "/client/api/newOrder/a%2Fb/params");
    assert.deepEqual([...(seen[0]?.url.searchParams ?? [])], [["qty", "1"], ["player_id", "p"], ["zone", "7"], ["order_uuid", "ord-2"]]);
    assert.deepEqual([...(seen[1]?.url.searchParams ?? [])], [["qty", "1"], ["uid", "p"], ["order_uuid", "ord-3"]]);
  });

  it("refuses locally (nothing sent) without productId, with a reserved param, an empty reference or player", async () => {
    seen = [];
    const c = client();
    const base = { reference: "r", productCode: { productId: "501" }, playerId: "p", extra: null };
    const reasons = [
      await c.place({ ...base, productCode: {} }),
      await c.place({ ...base, productCode: { productId: "501", playerParam: "order_uuid" } }),
      await c.place({ ...base, productCode: { productId: "501", playerParam: "server" } }),
      await c.place({ ...base, reference: " " }),
      await c.place({ ...base, playerId: "" }),
    ].map((r) => (r.kind === "refused" ? `${r.providerCode}:${r.reasonCode}` : r.kind));
    assert.deepEqual(reasons, ["local:product_unavailable", "local:provider_error", "local:provider_error", "local:provider_error", "local:invalid_player"]);
    const badToken = new XstorClient({ baseUrl, token: "Şifre\n", timeoutMs: 100 });
    const r = await badToken.place(base);
    assert.equal(r.kind === "refused" ? `${r.providerCode}:${r.reasonCode}` : r.kind, "local:auth_failed");
    assert.equal((await badToken.checkOne("r")).kind, "unknown");
    assert.equal(seen.length, 0);
  });

  it("check splits into chunks of 50, sends a JSON array, uuid=1 when by uuid, and reports missing ids", async () => {
    seen = [];
    reply = (req, res) => {
      const url = new URL(req.url ?? "/", "http://x");
      const ids = JSON.parse(url.searchParams.get("orders") ?? "[]") as string[];
      const byUuid = url.searchParams.get("uuid") === "1";
      const data = ids.filter((_, i) => i % 2 === 0).map((id) => ({ order_id: `p-${id}`, ...(byUuid ? { order_uuid: id } : {}), status: "pending" }));
      res.end(JSON.stringify({ status: "OK", data }));
    };
    const ids = Array.from({ length: 120 }, (_, i) => `u-${i}`);
    const m = await client().check([...ids, "u-0"], "uuid");
    assert.equal(seen.length, 3);
    assert.deepEqual(seen.map((s) => (JSON.parse(s.url.searchParams.get("orders") ?? "") as string[]).length), [50, 50, 20]);
    assert.ok(seen.every((s) => s.url.pathname === "/client/api/check" && s.url.searchParams.get("uuid") === "1" && s.token === TOKEN));
    assert.equal(m.size, 120);
    assert.equal(m.get("u-0")?.kind, "pending");
    assert.equal(m.get("u-1")?.kind, "not_found");

    seen = [];
    const byId = await client().check(["10", "11"], "order_id");
    assert.equal(seen[0]?.url.search, `?orders=${encodeURIComponent('["10","11"]')}`);
    assert.equal(seen[0]?.url.searchParams.has("uuid"), false);
    assert.equal(byId.get("10")?.kind, "unknown", "the reply keys by p-10, which was not asked");
  });

  it("a failing batch makes its ids unknown; checkOne asks by uuid", async () => {
    seen = [];
    reply = (_req, res) => {
      res.writeHead(500);
      res.end("<html>500</html>");
    };
    const m = await client().check(["a", "b"], "order_id");
    assert.deepEqual([...m.values()].map((r) => r.kind), ["unknown", "unknown"]);
    reply = sendJson(200, { status: "OK", data: [{ order_id: "9", order_uuid: "ref-9", status: "COMPLETED", pin: "PIN-9" }] });
    assert.deepEqual(await client().checkOne("ref-9"), { kind: "done", pin: "PIN-9", note: null });
    assert.equal(seen[1]?.url.searchParams.get("uuid"), "1");
    assert.equal(seen[1]?.url.searchParams.get("orders"), '["ref-9"]');
  });

  it("the token never appears in returned texts, even when the provider echoes it", async () => {
    reply = sendJson(200, { status: "ERROR", message: `bad token ${TOKEN} (api-token=${encodeURIComponent(TOKEN)})` });
    const r = await client().place({ reference: "r", productCode: { productId: "1" }, playerId: "p", extra: null });
    assert.equal(r.kind === "refused" ? r.reasonCode : r.kind, "auth_failed");
    reply = (_req, res) => res.end(`<html>${TOKEN}</html>`);
    const texts = JSON.stringify([
      r,
      await client().place({ reference: "r", productCode: { productId: "1" }, playerId: "p", extra: null }),
      await client().balance(),
      await client().products(),
      [...(await client().check(["1"], "uuid")).values()],
    ]);
    assert.ok(!texts.includes(TOKEN) && !texts.includes(encodeURIComponent(TOKEN)), texts);
  });

  it("balance and products", async () => {
    reply = sendJson(200, { balance: "43.55", email: "x@y.z" });
    assert.deepEqual(await client().balance(), { kind: "ok", balance: "43.55" });
    assert.equal(seen.at(-1)?.url.pathname, "/client/api/profile");
    reply = sendJson(200, [{ id: 1, name: "A", price: "1.00", available: true, params: ["uid"], qty_values: null }]);
    const p = await client().products();
    assert.ok(p.ok && p.items.length === 1);
    assert.equal(seen.at(-1)?.url.pathname, "/client/api/products");
  });

  it("HTTP 429 with Retry-After is ambiguous / unknown / failed and carries the wait", async () => {
    reply = (_req, res) => {
      res.writeHead(429, { "content-type": "application/json", "retry-after": "7" });
      res.end(JSON.stringify({ message: "Too Many Attempts." }));
    };
    const placed = await client().place({ reference: "r", productCode: { productId: "1" }, playerId: "p", extra: null });
    assert.equal(placed.kind, "ambiguous");
    assert.equal(placed.kind === "ambiguous" && placed.retryAfterMs, 7000);
    const checked = await client().checkOne("r");
    assert.equal(checked.kind === "unknown" && checked.retryAfterMs, 7000);
    const balance = await client().balance();
    assert.equal(balance.kind === "failed" && balance.retryAfterMs, 7000);
    reply = (_req, res) => {
      res.writeHead(429);
      res.end("");
    };
    const bare = await client().place({ reference: "r", productCode: { productId: "1" }, playerId: "p", extra: null });
    assert.deepEqual(Object.keys(bare).sort(), ["cause", "kind"], "no header, no wait");
  });

  it("timeouts, refused connections and bad base URLs are ambiguous / unknown / failed", async () => {
    reply = () => undefined; // hang
    const t = await client(100).place({ reference: "r", productCode: { productId: "1" }, playerId: "p", extra: null });
    assert.match(t.kind === "ambiguous" ? t.cause : "", /timeout after 100 ms/);
    const bad = new XstorClient({ baseUrl: "not a url", token: TOKEN, timeoutMs: 100 });
    assert.equal((await bad.place({ reference: "r", productCode: { productId: "1" }, playerId: "p", extra: null })).kind, "ambiguous");
    assert.equal((await bad.checkOne("r")).kind, "unknown");
    assert.equal((await bad.balance()).kind, "failed");
    const closed = new XstorClient({ baseUrl: "http://127.0.0.1:1", token: TOKEN, timeoutMs: 1000 });
    assert.equal((await closed.place({ reference: "r", productCode: { productId: "1" }, playerId: "p", extra: null })).kind, "ambiguous");
  });
});
