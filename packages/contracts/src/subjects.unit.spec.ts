import { test } from "node:test";
import assert from "node:assert/strict";
import { Environment, environmentOfStream, eventNames, parseOrderSubject } from "./subjects.js";

test("every stream, subject and durable name derives from the environment, and two environments share none", () => {
  const staging = eventNames("staging");
  const production = eventNames("production");
  assert.equal(staging.stream, "ORDER_EVENTS_STAGING");
  assert.equal(staging.allEvents, "staging.orders.>");
  assert.equal(staging.orderEvent("o-1", "OrderCreated"), "staging.orders.o-1.OrderCreated");
  assert.equal(staging.orderEvents("o-1"), "staging.orders.o-1.>");
  assert.equal(staging.eventType("OrderSent"), "staging.orders.*.OrderSent");
  assert.equal(staging.durable("dispatcher"), "staging-dispatcher");
  assert.equal(environmentOfStream(staging.streamDescription), "staging");
  assert.notEqual(staging.stream, production.stream);
  assert.notEqual(staging.durable("dispatcher"), production.durable("dispatcher"));
  assert.ok(!production.orderEvent("o-1", "OrderCreated").startsWith("staging."));
  assert.deepEqual(parseOrderSubject(staging.orderEvent("o-1", "PinReceived")), { environment: "staging", orderId: "o-1", type: "PinReceived" });
  assert.equal(parseOrderSubject("orders.o-1.PinReceived"), undefined, "the old layout without an environment is not an order subject");
});

test("an environment that is not subject-token-safe is refused", () => {
  for (const bad of ["", "Prod", "a.b", "a*", "a>", "a b", "1st", "-x", "a_b", "x".repeat(33)]) {
    assert.throws(() => eventNames(bad), /environment is not valid/, bad);
    assert.equal(Environment.safeParse(bad).success, false, bad);
  }
  for (const good of ["a", "staging", "dev-ali", "pr-1234"]) assert.equal(Environment.safeParse(good).success, true, good);
  assert.throws(() => eventNames("staging").orderEvent("a.b", "OrderCreated"), /not subject-safe/);
});
