import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { WebhookSender } from "./webhook-sender.js";
import { TargetPolicy } from "./webhook-target.js";

let server: Server;
let port: number;
let hits = 0;

before(async () => {
  server = createServer((req, res) => {
    hits++;
    req.resume();
    req.on("end", () => res.writeHead(204).end());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  port = (server.address() as AddressInfo).port;
});
after(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

test("a name that resolves to an internal address is refused at connect time: nothing is sent", async () => {
  const before = hits;
  const result = await new WebhookSender(new TargetPolicy(), 2000).send(`http://localhost:${port}/hook`, "{}", {});
  assert.equal(result.statusCode, null);
  assert.match(result.error ?? "", /internal address/);
  const literal = await new WebhookSender(new TargetPolicy(), 2000).send(`http://127.0.0.1:${port}/hook`, "{}", {});
  assert.match(literal.error ?? "", /internal address/);
  assert.equal(hits, before, "the receiver saw no request");
});

test("an allowed internal address is reached, by name or by address, and its status returned", async () => {
  const sender = new WebhookSender(new TargetPolicy(["127.0.0.1"]), 2000);
  assert.equal((await sender.send(`http://127.0.0.1:${port}/hook`, "{}", {})).statusCode, 204);
  assert.equal((await sender.send(`http://localhost:${port}/hook`, "{}", {})).statusCode, 204);
});

test("no answer (connection refused) is a result with the error code, not a throw", async () => {
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
  const closedPort = (closed.address() as AddressInfo).port;
  await new Promise<void>((resolve) => closed.close(() => resolve()));
  const result = await new WebhookSender(new TargetPolicy(["127.0.0.1"]), 2000).send(`http://127.0.0.1:${closedPort}/hook`, "{}", {});
  assert.deepEqual([result.statusCode, result.error], [null, "ECONNREFUSED"]);
});
