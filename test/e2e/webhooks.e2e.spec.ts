import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { WebhookDeliveryList, WebhookList, WebhookPayload, WebhookRegistered } from "@pinflow/contracts";
import { verifyWebhookSignature } from "@pinflow/secrets";
import { eventually } from "@pinflow/testkit";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT } from "../support/paths.js";
import { TENANT, TestSystem } from "../support/system.js";

const player = (prefix = "p") => `${prefix}${randomUUID().replace(/-/g, "").slice(0, 12)}`;

interface Received {
  body: string;
  signature: string;
  eventId: string;
  version: string;
  attempt: string;
}

/**
 * A reseller's system: verifies every delivery with the README's lines, answers 500 to the first two
 * tries of each event and accepts the third; de-duplicates by event id as a receiver should.
 */
class Receiver {
  secret = "";
  readonly tries = new Map<string, number>();
  readonly accepted = new Map<string, WebhookPayload>();
  readonly received: Received[] = [];
  forged = 0;
  /** While true every request answers 503 (the receiver is "down"). */
  down = false;
  private server: Server | null = null;

  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      void readBody(req).then((raw) => {
        const signature = String(req.headers["pinflow-signature"] ?? "");
        // --- the README's verification lines ---
        const check = verifyWebhookSignature({ body: raw, header: signature, secret: this.secret });
        if (!check.ok) {
          this.forged++;
          return res.writeHead(400).end();
        }
        const event = JSON.parse(raw.toString("utf8")) as WebhookPayload;
        // ---
        this.received.push({ body: raw.toString("utf8"), signature, eventId: String(req.headers["pinflow-event-id"]), version: String(req.headers["pinflow-order-version"]), attempt: String(req.headers["pinflow-delivery-attempt"]) });
        if (this.down) return res.writeHead(503).end();
        const tries = (this.tries.get(event.id) ?? 0) + 1;
        this.tries.set(event.id, tries);
        if (tries <= 2) return res.writeHead(500).end("not yet");
        if (!this.accepted.has(event.id)) this.accepted.set(event.id, event);
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/pinflow-hook`;
  }

  forOrder(orderId: string): WebhookPayload[] {
    return [...this.accepted.values()].filter((p) => p.orderId === orderId).sort((a, b) => a.version - b.version);
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

describe("webhooks: signed, retried with backoff, durable, visible", () => {
  const system = new TestSystem({
    // Short back-off, and a short lease so a delivery the killed process had claimed comes back in seconds.
    env: {
      orders: {
        WEBHOOK_ALLOWED_PRIVATE_HOSTS: "127.0.0.1",
        WEBHOOK_RETRY_BASE_MS: "100",
        WEBHOOK_RETRY_MAX_MS: "400",
        WEBHOOK_TICK_MS: "50",
        WEBHOOK_TIMEOUT_MS: "1000",
        WEBHOOK_LEASE_MS: "2500",
      },
    },
  });
  const receiver = new Receiver();
  let hook: WebhookRegistered;

  before(async () => {
    await system.start();
    const url = await receiver.start();
    const res = await system.request("/v1/webhooks", { method: "POST", body: JSON.stringify({ url, description: "acme's order system" }) });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    hook = res.body as WebhookRegistered;
    receiver.secret = hook.secret;
  });
  after(async () => {
    await receiver.stop();
    await system.stop();
  });

  test("registration answers the signing secret once; listing never shows it", async () => {
    assert.match(hook.secret, /^whsec_[A-Za-z0-9_-]{43}$/);
    assert.equal(hook.tenantId, TENANT);
    const list = await system.request("/v1/webhooks");
    assert.equal(list.status, 200);
    const webhooks = (list.body as WebhookList).webhooks;
    assert.deepEqual(webhooks.map((w) => w.webhookId), [hook.webhookId]);
    assert.equal(JSON.stringify(list.body).includes(hook.secret), false);
    assert.equal("secret" in webhooks[0]!, false);
  });

  test("every status change is POSTed, signed; the first two tries fail, the third is accepted; no PIN in the body", async () => {
    const orderId = await system.createOrder({ packageId: "pubg-60", playerId: player("wh") });
    const order = await system.waitForStatus(orderId, "completed");
    const accepted = await eventually(() => {
      const got = receiver.forOrder(orderId);
      if (got.length < 3) throw new Error(`accepted so far: ${got.map((p) => p.status).join(",")}`);
      return got;
    }, 30_000, 50);
    assert.deepEqual(accepted.map((p) => p.status), ["pending", "processing", "completed"]);
    assert.deepEqual(accepted.map((p) => p.previousStatus), [null, "pending", "processing"]);
    assert.deepEqual(accepted.map((p) => p.event), ["OrderCreated", "OrderSent", "PinReceived"]);
    for (const p of accepted) {
      assert.equal(p.tenantId, TENANT);
      assert.equal(receiver.tries.get(p.id), 3, `event ${p.event} was tried three times before it was accepted`);
    }
    assert.ok(accepted[0]!.version < accepted[1]!.version && accepted[1]!.version < accepted[2]!.version, "versions grow");
    const ofOrder = receiver.received.filter((r) => r.body.includes(orderId));
    assert.ok(ofOrder.length >= 9);
    for (const r of ofOrder) {
      const body = JSON.parse(r.body) as WebhookPayload;
      assert.equal(r.eventId, body.id, "Pinflow-Event-Id is the body's id");
      assert.equal(r.version, String(body.version), "Pinflow-Order-Version is the body's version");
      assert.equal(r.body.includes(order.pin!), false, "no PIN in a webhook body");
      assert.equal(/pin/i.test(Object.keys(body).join(",")), false);
    }
    assert.deepEqual(ofOrder.filter((r) => JSON.parse(r.body).id === accepted[2]!.id).map((r) => r.attempt), ["1", "2", "3"]);
    assert.equal(receiver.forged, 0, "every delivery verified");
  });

  test("a forged signature is refused by the documented verification code", async () => {
    const real = await eventually(() => receiver.received[0] ?? Promise.reject(new Error("nothing received yet")));
    assert.equal(verifyWebhookSignature({ body: real.body, header: real.signature, secret: hook.secret, toleranceSeconds: 3600 }).ok, true);
    const forgedBody = real.body.replace(/"status":"[a-z]+"/, '"status":"completed"').replace(/"version":\d+/, '"version":999999');
    assert.notEqual(forgedBody, real.body);
    assert.deepEqual(verifyWebhookSignature({ body: forgedBody, header: real.signature, secret: hook.secret }), { ok: false, reason: "bad_signature" });
    assert.deepEqual(verifyWebhookSignature({ body: real.body, header: real.signature, secret: "whsec_guessed" }), { ok: false, reason: "bad_signature" });
    // And over the wire: the receiver refuses a forged POST.
    const before = receiver.forged;
    const url = (await system.request("/v1/webhooks")).body as WebhookList;
    const res = await fetch(url.webhooks[0]!.url, { method: "POST", body: forgedBody, headers: { "pinflow-signature": `t=${Math.floor(Date.now() / 1000)},v1=${"ab".repeat(32)}` } });
    assert.equal(res.status, 400);
    assert.equal(receiver.forged, before + 1);
  });

  test("the delivery list shows each try (status code, time) to the tenant and to operators", async () => {
    const res = await system.request(`/v1/webhooks/${hook.webhookId}/deliveries?state=delivered`);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const list = res.body as WebhookDeliveryList;
    assert.ok(list.deliveries.length >= 3);
    for (const d of list.deliveries) {
      assert.equal(d.state, "delivered");
      assert.equal(d.attempts, 3);
      assert.deepEqual(d.attemptLog.map((a) => [a.attempt, a.statusCode]), [[1, 500], [2, 500], [3, 204]]);
      assert.ok(d.deliveredAt);
    }
    const operator = await system.call("orders", `/v1/webhooks/${hook.webhookId}/deliveries`);
    assert.equal(operator.status, 200);
    assert.ok((operator.body as WebhookDeliveryList).deliveries.length >= 3);
    const across = await system.call("orders", `/v1/webhook-deliveries?state=delivered&tenant=${TENANT}`);
    assert.equal(across.status, 200, JSON.stringify(across.body));
    assert.ok((across.body as WebhookDeliveryList).deliveries.length >= 3, "operators see deliveries across the tenant's webhooks");
    const foreign = await system.call("orders", "/v1/webhook-deliveries", {}, system.keys.otherCustomer);
    assert.deepEqual((foreign.body as WebhookDeliveryList).deliveries, [], "another tenant sees none");
    const all = await system.call("orders", "/v1/webhooks");
    assert.equal((all.body as WebhookList).webhooks.find((w) => w.webhookId === hook.webhookId)!.deliveries.failed, 0);
  });

  test("deliveries survive a restart of the orders service while the receiver is down", async () => {
    receiver.down = true;
    const orderId = await system.createOrder({ packageId: "pubg-60", playerId: player("whr") });
    await system.waitForStatus(orderId, "completed");
    await eventually(() => assert.ok(receiver.received.some((r) => r.body.includes(orderId) && r.body.includes('"completed"')), "the completion was tried"), 20_000, 50);
    await system.restart("orders");
    receiver.down = false;
    // Deliveries of one order may arrive out of order (each retries on its own): the version orders them.
    const accepted = await eventually(() => {
      const got = receiver.forOrder(orderId);
      if (got.length < 3) throw new Error(`accepted so far: ${got.map((p) => p.status).join(",")}`);
      return got;
    }, 30_000, 50);
    assert.deepEqual(accepted.map((p) => p.status), ["pending", "processing", "completed"]);
  });

  test("another tenant sees none of it; operators may not register; internal and non-http targets are refused", async () => {
    const other = await system.call("orders", `/v1/webhooks/${hook.webhookId}/deliveries`, {}, system.keys.otherCustomer);
    assert.equal(other.status, 404);
    const otherList = await system.call("orders", "/v1/webhooks", {}, system.keys.otherCustomer);
    assert.deepEqual((otherList.body as WebhookList).webhooks, []);
    const otherDelete = await system.call("orders", `/v1/webhooks/${hook.webhookId}`, { method: "DELETE" }, system.keys.otherCustomer);
    assert.equal(otherDelete.status, 404);
    const byOperator = await system.call("orders", "/v1/webhooks", { method: "POST", body: JSON.stringify({ url: "https://example.com/h" }) });
    assert.equal(byOperator.status, 403);
    for (const url of ["http://169.254.169.254/latest/meta-data", "http://10.0.0.5/hook", "http://localhost:9/x", "http://[::1]/x"]) {
      const res = await system.request("/v1/webhooks", { method: "POST", body: JSON.stringify({ url }) });
      assert.equal(res.status, 422, url);
      assert.equal((res.body as { error: { code: string } }).error.code, "target_not_allowed");
    }
    for (const url of ["ftp://example.com/h", "file:///etc/passwd", "https://u:p@example.com/h"]) {
      const res = await system.request("/v1/webhooks", { method: "POST", body: JSON.stringify({ url }) });
      assert.equal(res.status, 400, url);
    }
    const byAdmin = await system.call("orders", "/v1/webhooks", { method: "POST", body: JSON.stringify({ url: "https://example.com/h", tenant: TENANT }) }, system.keys.admin);
    assert.equal(byAdmin.status, 201);
    const removed = await system.call("orders", `/v1/webhooks/${(byAdmin.body as WebhookRegistered).webhookId}`, { method: "DELETE" }, system.keys.admin);
    assert.equal(removed.status, 204);
  });

  test("the API documents are served without a key and are the committed docs/ files", async () => {
    for (const name of ["openapi.json", "openapi.dispatcher.json", "openapi.status-poller.json", "asyncapi.json"]) {
      const res = await system.call("orders", `/docs/${name}`, {}, null);
      assert.equal(res.status, 200, name);
      assert.deepEqual(res.body, JSON.parse(readFileSync(join(REPO_ROOT, "docs", name), "utf8")), `${name} served = docs/${name}`);
    }
  });

  test("the signing secret never reaches a log", () => {
    assert.equal(system.allLogs().includes(hook.secret), false);
  });
});
