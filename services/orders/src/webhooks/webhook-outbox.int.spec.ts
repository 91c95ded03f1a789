import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { randomUUID } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { makeEvent, type ProjectionMessage } from "@pinflow/bus";
import type { OrderEvent } from "@pinflow/contracts";
import { createPool, migrate, type Pool } from "@pinflow/pg";
import { generatePinKeyring, generateWebhookSecret, PinCipher } from "@pinflow/secrets";
import { TestDatabase } from "@pinflow/testkit";
import { PgOrderStore } from "../pg-order-store.js";
import pino from "pino";
import { Counter, Registry } from "prom-client";
import { PgWebhookStore } from "./pg-webhook-store.js";
import { WebhookDeliverer } from "./webhook-deliverer.js";
import { WebhookSender } from "./webhook-sender.js";
import { TargetPolicy } from "./webhook-target.js";
import { sealWebhookSecret } from "./webhook-secrets.js";

const db = new TestDatabase("orders_webhook_outbox");
const cipher = new PinCipher(generatePinKeyring());
let pool: Pool;
let orders: PgOrderStore;
let webhooks: PgWebhookStore;

before(async () => {
  await db.create();
  pool = createPool(db.url, 4);
  await migrate(pool, fileURLToPath(new URL("../../migrations", import.meta.url)));
  await pool.query("INSERT INTO tenant (tenant_id, name) VALUES ('acme', 'acme'), ('globex', 'globex')");
  orders = new PgOrderStore(pool, (pin, binding) => cipher.opens(pin, binding));
  webhooks = new PgWebhookStore(pool);
});
after(async () => {
  await pool.end();
  await db.drop();
});

let seq = 0;
const message = (event: OrderEvent): ProjectionMessage => ({ seq: ++seq, subject: `orders.${event.orderId}.${event.type}`, data: new Uint8Array(), ok: true, event });
const origin = (orderId: string, tenantId: string) => ({ orderId, correlationId: orderId, causationId: null, tenantId });

async function register(tenantId: string, url = "https://hooks.example.com/x", fromSeq = 0) {
  const webhookId = `wh_${randomUUID().replace(/-/g, "").slice(0, 24)}`;
  const endpoint = await webhooks.register({ webhookId, tenantId, url, description: "", secretSealed: sealWebhookSecret(cipher, generateWebhookSecret(), { webhookId, tenantId }) }, 10, fromSeq);
  return endpoint!;
}

const queued = async (webhookId: string) =>
  (await pool.query<{ seq: string; status: string; state: string }>("SELECT seq, payload->>'status' AS status, state FROM webhook_delivery WHERE webhook_id = $1 ORDER BY seq", [webhookId])).rows.map((r) => [Number(r.seq), r.status, r.state]);

test("status changes are queued for the tenant's endpoints in the projection's transaction; a replay queues nothing twice nor anything from before the endpoint", async () => {
  const a = randomUUID();
  const b = randomUUID();
  const messages: ProjectionMessage[] = [message(makeEvent("OrderCreated", origin(a, "acme"), { packageId: "pubg-60", playerId: "p1", extra: null }))];
  await orders.applyBatch(messages);
  const hook = await register("acme");
  const pin = cipher.seal("PIN-1", { orderId: a, reference: "r1" });
  const later = [
    message(makeEvent("OrderSent", origin(a, "acme"), { packageId: "pubg-60", provider: "znet", reference: "r1", cost: "10.00", balance: null, providerOrderId: null })),
    message(makeEvent("StatusChecked", origin(a, "acme"), { provider: "znet", reference: "r1", attempt: 1, outcome: "pending", note: null })),
    message(makeEvent("PinReceived", origin(a, "acme"), { provider: "znet", reference: "r1", pin, note: null, checks: 1 })),
    message(makeEvent("OrderCreated", origin(b, "globex"), { packageId: "pubg-60", playerId: "p2", extra: null })),
  ];
  await orders.applyBatch(later);
  messages.push(...later);
  const expected = [[2, "processing", "pending"], [4, "completed", "pending"]];
  assert.deepEqual(await queued(hook.webhookId), expected, "the order's changes after registration, not its creation before, not a check, not another tenant's order");

  const body = (await pool.query<{ payload: Record<string, unknown> }>("SELECT payload FROM webhook_delivery WHERE webhook_id = $1 AND seq = 4", [hook.webhookId])).rows[0]!.payload;
  assert.equal(JSON.stringify(body).includes("PIN-1"), false);
  assert.equal(JSON.stringify(body).includes(pin.ciphertext), false, "not even the sealed PIN");

  await orders.resetProjection();
  for (const m of messages) await orders.apply(m);
  assert.deepEqual(await queued(hook.webhookId), expected, "the replay queued nothing new");

  // Registered while a rebuild is under way (checkpoint behind the stream's head): none of the replayed history.
  await orders.resetProjection();
  const late = await register("acme", "https://hooks.example.com/late", seq);
  for (const m of messages) await orders.apply(m);
  assert.deepEqual(await queued(late.webhookId), [], "a webhook registered during a rebuild gets only what comes after the stream's head");
});

test("claims hide a delivery for its lease and count the try; a removed endpoint's waiting deliveries are cancelled and it gets no new ones", async () => {
  const hook = await register("globex");
  const c = randomUUID();
  await orders.apply(message(makeEvent("OrderCreated", origin(c, "globex"), { packageId: "pubg-60", playerId: "p3", extra: null })));
  const claimed = (await webhooks.claimDue(100, 60_000)).filter((d) => d.webhookId === hook.webhookId);
  assert.equal(claimed.length, 1);
  assert.equal(claimed[0]!.attempt, 1);
  assert.equal(claimed[0]!.payload.orderId, c);
  assert.deepEqual((await webhooks.claimDue(100, 60_000)).filter((d) => d.webhookId === hook.webhookId), [], "leased: not claimed again meanwhile");
  await webhooks.recordAttempt(claimed[0]!, { statusCode: 500, error: null, durationMs: 3 }, { kind: "retry", at: new Date(Date.now() - 1) });
  const again = (await webhooks.claimDue(100, 60_000)).filter((d) => d.webhookId === hook.webhookId);
  assert.equal(again[0]?.attempt, 2, "due again after the retry time, as try 2");
  await webhooks.recordAttempt(again[0]!, { statusCode: null, error: "ECONNREFUSED", durationMs: 1 }, { kind: "retry", at: new Date(Date.now() + 60_000) });
  const page = await webhooks.deliveries({ webhookId: hook.webhookId }, { limit: 10 });
  assert.deepEqual(page.deliveries[0]!.attemptLog.map((x) => [x.attempt, x.statusCode, x.error]), [[1, 500, null], [2, null, "ECONNREFUSED"]]);

  assert.equal(await webhooks.remove(hook.webhookId), true);
  assert.deepEqual((await queued(hook.webhookId)).map((r) => r[2]), ["cancelled"]);
  await orders.apply(message(makeEvent("OrderCreated", origin(randomUUID(), "globex"), { packageId: "pubg-60", playerId: "p4", extra: null })));
  assert.equal((await queued(hook.webhookId)).length, 1, "nothing queued for a removed endpoint");
});

test("a delivery that keeps failing is given up after its last try (failed, listed with every try), and sent again on request", async () => {
  await pool.query("INSERT INTO tenant (tenant_id, name) VALUES ('initech', 'initech')");
  // A port nothing listens on any more: every try is refused.
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
  const port = (closed.address() as AddressInfo).port;
  await new Promise<void>((resolve) => closed.close(() => resolve()));
  const hook = await register("initech", `http://127.0.0.1:${port}/hook`);
  await orders.apply(message(makeEvent("OrderCreated", origin(randomUUID(), "initech"), { packageId: "pubg-60", playerId: "p5", extra: null })));
  const outcomes = new Counter({ name: "webhook_attempts_test_total", help: "test", labelNames: ["outcome"], registers: [new Registry()] });
  const deliverer = new WebhookDeliverer(webhooks, new WebhookSender(new TargetPolicy(["127.0.0.1"]), 2000), cipher, pino({ level: "silent" }), outcomes, {
    tickMs: 10,
    batch: 10,
    leaseMs: 60_000,
    retry: { baseMs: 0, maxDelayMs: 0, maxAttempts: 3 },
  });
  const state = async () => (await webhooks.deliveries({ webhookId: hook.webhookId }, { limit: 10 })).deliveries[0]!;
  for (let i = 0; i < 3; i++) await deliverer.tick();
  const given = await state();
  assert.equal(given.state, "failed");
  assert.equal(given.attempts, 3);
  assert.deepEqual(given.attemptLog.map((a) => [a.attempt, a.statusCode, a.error]), [[1, null, "ECONNREFUSED"], [2, null, "ECONNREFUSED"], [3, null, "ECONNREFUSED"]]);
  assert.equal(await deliverer.tick(), 0, "a failed delivery is not tried again by itself");
  assert.deepEqual((await outcomes.get()).values.map((v) => [v.labels.outcome, v.value]).sort(), [["failed", 1], ["retry", 2]]);
  assert.equal((await webhooks.list({ tenantId: "initech" }))[0]!.deliveries.failed, 1);
  assert.deepEqual(await webhooks.backlog().then((b) => b.failed >= 1), true);

  assert.equal(await webhooks.retry(hook.webhookId, given.deliveryId), true);
  assert.equal((await state()).state, "pending");
  assert.equal(await deliverer.tick(), 1, "sent again");
  assert.equal((await state()).attempts, 4);
  assert.equal(await webhooks.retry(hook.webhookId, "999999999"), false);
  await deliverer.tick();
  const failedOfTenant = await webhooks.deliveries({ tenantId: "initech" }, { state: "failed", limit: 10 });
  assert.deepEqual(failedOfTenant.deliveries.map((d) => d.deliveryId), [given.deliveryId], "the tenant's failures across its webhooks");
  assert.deepEqual((await webhooks.deliveries({ tenantId: "globex" }, { state: "failed", limit: 10 })).deliveries, [], "not another tenant's");
});
