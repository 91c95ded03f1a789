/**
 * httpGet's connections against a local HTTP server: reads reuse an idle connection (keep-alive),
 * a placement (no reuseConnection) always opens its own, and a read whose reused connection the
 * server had closed is sent again once on a new connection instead of failing.
 */
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, test } from "node:test";
import { httpGet } from "./http-get.js";

let server: http.Server;
let base: string;
let connections = 0;
/** Requests whose connection the server drops without a reply (by path), once each. */
const dropOnReusedConnection = new Set<string>();
/** Requests the server drops without a reply on any connection (by path), with how often each arrived. */
const dropAlways = new Map<string, number>();
const served = new WeakMap<object, number>();

before(async () => {
  server = http.createServer((req, res) => {
    const socket = req.socket;
    const n = (served.get(socket) ?? 0) + 1;
    served.set(socket, n);
    const seen = dropAlways.get(req.url ?? "");
    if (seen !== undefined) {
      dropAlways.set(req.url ?? "", seen + 1);
      socket.destroy();
      return;
    }
    if (n > 1 && dropOnReusedConnection.delete(req.url ?? "")) {
      // As a server does when its keep-alive timeout ends just as the request arrives: no reply, connection closed.
      socket.destroy();
      return;
    }
    res.end(`ok ${req.url}`);
  });
  server.on("connection", () => connections++);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

test("reads reuse one connection one after the other; placements open one each", async () => {
  const before = connections;
  for (let i = 0; i < 5; i++) {
    const r = await httpGet(new URL(`${base}/read-${i}`), { timeoutMs: 2_000, reuseConnection: true });
    assert.deepEqual(r, { ok: true, status: 200, body: `ok /read-${i}` });
  }
  assert.equal(connections - before, 1, "five reads over one connection");

  const placements = connections;
  for (let i = 0; i < 3; i++) {
    const r = await httpGet(new URL(`${base}/place-${i}`), { timeoutMs: 2_000 });
    assert.equal(r.ok, true);
  }
  assert.equal(connections - placements, 3, "a new connection for every placement");
});

test("a read whose reused connection the server closed is sent again on a new connection; a placement is never sent twice", async () => {
  await httpGet(new URL(`${base}/warm`), { timeoutMs: 2_000, reuseConnection: true });
  dropOnReusedConnection.add("/dropped-read");
  const before = connections;
  const r = await httpGet(new URL(`${base}/dropped-read`), { timeoutMs: 2_000, reuseConnection: true });
  assert.deepEqual(r, { ok: true, status: 200, body: "ok /dropped-read" });
  assert.equal(dropOnReusedConnection.size, 0, "the first try reached the server on the reused connection");
  assert.equal(connections - before, 1, "sent again on one new connection");

  dropAlways.set("/place-dropped", 0);
  const placed = await httpGet(new URL(`${base}/place-dropped`), { timeoutMs: 2_000 });
  assert.equal(placed.ok, false, "a dropped placement is a failure for the caller to reconcile");
  assert.equal(dropAlways.get("/place-dropped"), 1, "sent once");
});
