import { test } from "node:test";
import assert from "node:assert/strict";
import { cleanText, deadLetterOf, describeError, orderIdOfSubject } from "./dead-letter.js";
import { makeEvent } from "./envelope.js";

const bytes = (s: string) => new TextEncoder().encode(s);

test("a decoded event gives the dead letter its id, type, order and correlation", () => {
  const event = makeEvent("OrderCreated", { orderId: "o-1", correlationId: "c-1", causationId: null }, { packageId: "pubg-60", playerId: "a\u0000b", extra: null });
  const letter = deadLetterOf({ consumer: "dispatcher", kind: "failed", seq: 7, subject: "orders.o-1.OrderCreated", data: bytes("{}"), event, error: "x", attempts: 5 });
  assert.deepEqual(
    { eventId: letter.eventId, eventType: letter.eventType, orderId: letter.orderId, correlationId: letter.correlationId },
    { eventId: event.id, eventType: "OrderCreated", orderId: "o-1", correlationId: "c-1" },
  );
});

test("a malformed message: the order from a well-formed subject, id and type from the JSON when it is JSON, else nothing", () => {
  const json = deadLetterOf({ consumer: "c", kind: "malformed", seq: 1, subject: "e2e.orders.o-2.OrderSent", data: bytes('{"id":"e-1","type":"OrderSent","data":1}'), event: null, error: "schema", attempts: 1 });
  assert.deepEqual({ eventId: json.eventId, eventType: json.eventType, orderId: json.orderId, correlationId: json.correlationId }, { eventId: "e-1", eventType: "OrderSent", orderId: "o-2", correlationId: null });
  const garbage = deadLetterOf({ consumer: "c", kind: "malformed", seq: 2, subject: "e2e.orders.o-3.Nonsense", data: new Uint8Array([0xff, 0]), event: null, error: "not json", attempts: 1 });
  assert.deepEqual({ eventId: garbage.eventId, eventType: garbage.eventType, orderId: garbage.orderId }, { eventId: null, eventType: null, orderId: "o-3" });
  assert.equal(orderIdOfSubject("e2e.orders.a.b.c"), null);
  assert.equal(orderIdOfSubject("other.o-1.OrderSent"), null);
  assert.equal(orderIdOfSubject("e2e.orders.o$1.OrderSent"), null);
});

test("texts are storable and short: no NUL, capped", () => {
  assert.equal(cleanText("a\u0000b", 10), "a\uFFFDb");
  assert.equal(cleanText("x".repeat(20), 10).length, 10);
  const pgError = Object.assign(new Error('invalid byte sequence for encoding "UTF8": 0x00'), { code: "22021" });
  assert.equal(describeError(pgError), 'Error: invalid byte sequence for encoding "UTF8": 0x00 (22021)');
  assert.ok(describeError(new Error("y".repeat(2000))).length <= 500);
});
