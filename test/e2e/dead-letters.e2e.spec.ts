import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { jetstream } from "@nats-io/jetstream";
import { EventPublisher, makeEvent, type DeadLetterPage, type NatsConnection } from "@pinflow/bus";
import type { ErrorBody } from "@pinflow/contracts";
import { eventually } from "@pinflow/testkit";
import { TestSystem } from "../support/system.js";

const player = () => `p${randomUUID().replace(/-/g, "").slice(0, 12)}`;

async function deadLetters(system: TestSystem, baseUrl: string): Promise<DeadLetterPage> {
  const res = await system.operatorFetch(`${baseUrl}/v1/dead-letters?limit=200`);
  assert.equal(res.status, 200);
  return (await res.json()) as DeadLetterPage;
}

describe("hostile events straight on the stream never stop the pipeline (I7)", () => {
  const system = new TestSystem();
  let nc: NatsConnection;

  before(async () => {
    await system.start();
    nc = await system.connectNats("admin", "e2e-injector");
  });
  after(async () => {
    await nc?.close();
    await system.stop();
  });

  test("a malformed and an unstorable event injected into the stream both land in the dead-letter records; orders after them are visible and complete", async () => {
    // Raw bytes that are not an event (not UTF-8 JSON), on an order subject every consumer of OrderCreated sees.
    const garbageOrderId = `garbage-${randomUUID()}`;
    const garbage = await jetstream(nc).publish(system.names.orderEvent(garbageOrderId, "OrderCreated"), new Uint8Array([0x7b, 0x00, 0xff, 0xfe, 0x22, 0x7d]));
    // A valid OrderCreated (the schema allows it) whose player id holds NUL: PostgreSQL cannot store that text.
    const nulOrderId = randomUUID();
    const nulEvent = makeEvent("OrderCreated", { orderId: nulOrderId, correlationId: nulOrderId, causationId: null }, { packageId: "pubg-60", playerId: "a\u0000b", extra: null });
    const nul = await new EventPublisher(nc, system.names).publish(nulEvent, { once: true });

    const orderIds: string[] = [];
    for (let i = 0; i < 3; i++) orderIds.push(await system.createOrder({ packageId: "pubg-60", playerId: player() }));
    for (const orderId of orderIds) {
      const order = await system.waitForStatus(orderId, "completed", 60_000);
      const reference = system.znet.referencesFor(order.playerId)[0];
      assert.ok(reference);
      assert.equal(order.pin, system.znet.order(reference)!.pin, "completed with its PIN");
    }

    // The orders projection recorded both and went on; the NUL order waits in review instead of being lost.
    const ordersLetters = await eventually(async () => {
      const page = await deadLetters(system, system.services.orders.url);
      assert.ok(page.deadLetters.some((l) => l.seq === nul.seq));
      return page;
    }, 30_000);
    const byOrders = (seq: number) => ordersLetters.deadLetters.find((l) => l.seq === seq);
    assert.deepEqual(
      { kind: byOrders(garbage.seq)?.kind, orderId: byOrders(garbage.seq)?.orderId, rawBytes: byOrders(garbage.seq)?.rawBytes },
      { kind: "malformed", orderId: garbageOrderId, rawBytes: 6 },
    );
    assert.deepEqual(
      { kind: byOrders(nul.seq)?.kind, orderId: byOrders(nul.seq)?.orderId, eventId: byOrders(nul.seq)?.eventId, consumer: byOrders(nul.seq)?.consumer },
      { kind: "failed", orderId: nulOrderId, eventId: nulEvent.id, consumer: "order_view" },
    );
    // Injected without a tenant (like an event from before tenants): the legacy tenant's order, read by an operator.
    const nulOrder = await system.waitForStatus(nulOrderId, "review", 30_000, system.keys.operator);
    assert.equal(nulOrder.reviewReason, "unprocessable_event");

    // The dispatcher recorded both too (after its bounded failures for the NUL one) and asked for review.
    const dispatcherLetters = await eventually(async () => {
      const page = await deadLetters(system, system.services.dispatcher.url);
      assert.ok(page.deadLetters.some((l) => l.seq === nul.seq) && page.deadLetters.some((l) => l.seq === garbage.seq));
      return page;
    }, 30_000);
    const byDispatcher = dispatcherLetters.deadLetters.find((l) => l.seq === nul.seq)!;
    assert.deepEqual({ consumer: byDispatcher.consumer, kind: byDispatcher.kind, attempts: byDispatcher.attempts }, { consumer: system.names.durable("dispatcher"), kind: "failed", attempts: 5 });
    assert.match(byDispatcher.error, /invalid byte sequence|0x00/);

    // The poller never saw either (it consumes OrderSent); its list answers, empty.
    assert.deepEqual((await deadLetters(system, system.services["status-poller"].url)).deadLetters, []);

    // Counted, and the paging bound holds.
    const metrics = await (await fetch(`${system.services.orders.url}/metrics`)).text();
    assert.match(metrics, /pinflow_dead_letters_total\{consumer="order_view",kind="failed"[^}]*\} 1/);
    const tooMany = await system.operatorFetch(`${system.services.orders.url}/v1/dead-letters?limit=1000`);
    assert.equal(tooMany.status, 400);
    assert.equal(((await tooMany.json()) as ErrorBody).error.code, "validation_failed");
    const firstPage = (await (await system.operatorFetch(`${system.services.dispatcher.url}/v1/dead-letters?limit=1`)).json()) as DeadLetterPage;
    assert.equal(firstPage.deadLetters.length, 1);
    assert.ok(firstPage.nextCursor);
  });
});
