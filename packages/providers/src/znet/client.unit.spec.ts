/** ZnetClient mechanics against a tiny scripted server (the full simulator tests live in test/simulators). */
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { ZnetClient } from "./client.js";

const PASSWORD = "Gizli+Şifre&1";

describe("ZnetClient (scripted server)", () => {
  let server: http.Server;
  let baseUrl = "";
  let lastUrl = "";
  let reply: (res: http.ServerResponse) => void = (res) => res.end("");

  before(async () => {
    server = http.createServer((req, res) => {
      lastUrl = req.url ?? "";
      reply(res);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  });

  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  const client = (timeoutMs = 2000): ZnetClient => new ZnetClient({ baseUrl, code: "5551112233", password: PASSWORD, timeoutMs });

  it("sends pin_ekle with kod, sifre, oyun, kupur, referans, oyuncu_bilgi and musteri_tel", async () => {
    reply = (res) => res.end("OK|10.12|980.88");
    const r = await client().place({ reference: "1001", productCode: { oyun: "101", kupur: "60" }, playerId: "5123456789", extra: "+90 532 123 45 67" });
    assert.equal(r.kind, "accepted");
    const url = new URL(lastUrl, "http://x");
    assert.equal(url.pathname, "/servis/pin_ekle.php");
    assert.deepEqual(Object.fromEntries(url.searchParams), {
      kod: "5551112233",
      sifre: PASSWORD,
      oyun: "101",
      kupur: "60",
      referans: "1001",
      oyuncu_bilgi: "5123456789",
      musteri_tel: "+905321234567",
    });
  });

  it("appends a non-phone extra to oyuncu_bilgi and decodes UTF-8 replies", async () => {
    reply = (res) => {
      res.setHeader("content-type", "text/html; charset=utf-8");
      res.end(Buffer.from("OK|1| - |İşlem bekleniyor", "utf8"));
    };
    assert.deepEqual(await client().check("1001"), { kind: "pending", note: "İşlem bekleniyor" });
    assert.equal(new URL(lastUrl, "http://x").searchParams.get("tahsilat_api_islem_id"), "1001");
    reply = (res) => res.end("3|Oyuncu bulunamadı");
    const r = await client().place({ reference: "1002", productCode: { oyun: "101", kupur: "60" }, playerId: "p1", extra: "Avrupa sunucusu" });
    assert.equal(r.kind === "refused" ? r.reasonCode : r.kind, "invalid_player");
    assert.equal(new URL(lastUrl, "http://x").searchParams.get("oyuncu_bilgi"), "p1 Avrupa sunucusu");
    assert.equal(new URL(lastUrl, "http://x").searchParams.has("musteri_tel"), false);
  });

  it("refuses locally, without sending, a product code without oyun/kupur or a non-digit reference", async () => {
    lastUrl = "";
    const a = await client().place({ reference: "1003", productCode: { sku: "x" }, playerId: "p", extra: null });
    assert.deepEqual(a.kind === "refused" ? [a.providerCode, a.reasonCode] : a, ["local", "product_unavailable"]);
    const b = await client().place({ reference: "01HX-ABC", productCode: { oyun: "101", kupur: "60" }, playerId: "p", extra: null });
    assert.deepEqual(b.kind === "refused" ? [b.providerCode, b.reasonCode] : b, ["local", "provider_error"]);
    assert.equal(lastUrl, "");
  });

  it("a reply cut off mid-body is ambiguous", async () => {
    reply = (res) => {
      res.writeHead(200, { "content-length": "100" });
      res.write("OK|10.1");
      setTimeout(() => res.socket?.destroy(), 20);
    };
    const r = await client().place({ reference: "1004", productCode: { oyun: "101", kupur: "60" }, playerId: "p", extra: null });
    assert.equal(r.kind, "ambiguous");
  });

  it("balance: an empty body fails; an HTML echo of the URL leaks no password", async () => {
    reply = (res) => res.end("");
    assert.equal((await client().balance()).kind, "failed");
    reply = (res) => res.end(`<html>Hata: ${lastUrl} / ${PASSWORD}</html>`);
    const r = await client().balance();
    assert.equal(r.kind, "failed");
    assert.ok(!JSON.stringify(r).includes(PASSWORD) && !JSON.stringify(r).includes(encodeURIComponent(PASSWORD)));
  });

  it("connection refused is ambiguous/unknown with a masked URL", async () => {
    const probe = http.createServer();
    await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const dead = new ZnetClient({ baseUrl: `http://127.0.0.1:${port}`, code: "1", password: PASSWORD, timeoutMs: 1000 });
    const p = await dead.place({ reference: "1005", productCode: { oyun: "101", kupur: "60" }, playerId: "p", extra: null });
    const c = await dead.check("1005");
    const b = await dead.balance();
    const l = await dead.products();
    assert.equal(p.kind, "ambiguous");
    assert.equal(c.kind, "unknown");
    assert.equal(b.kind, "failed");
    assert.equal(l.ok, false);
    const text = JSON.stringify([p, c, b, l]);
    assert.match(text, /sifre=\*\*\*/);
    assert.match(text, /ECONNREFUSED/);
    assert.ok(!text.includes(PASSWORD) && !text.includes(encodeURIComponent(PASSWORD)), text);
  });

  it("an invalid base URL gives ambiguous, not a throw", async () => {
    const bad = new ZnetClient({ baseUrl: "not a url", code: "1", password: PASSWORD, timeoutMs: 100 });
    assert.equal((await bad.place({ reference: "1", productCode: { oyun: "1", kupur: "1" }, playerId: "p", extra: null })).kind, "ambiguous");
  });
});
