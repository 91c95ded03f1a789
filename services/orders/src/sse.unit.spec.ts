import assert from "node:assert/strict";
import { test } from "node:test";
import { lastEventId, sseEvent } from "./sse.js";
import { StreamSlots } from "./stream-slots.js";
import { OrderChanges } from "./order-changes.js";
import type { OrderRecord } from "./order.js";

test("an SSE event carries its id, its name and its JSON on a data line", () => {
  assert.equal(sseEvent({ id: 7, event: "order", data: { a: "x\ny" } }), 'id: 7\nevent: order\ndata: {"a":"x\\ny"}\n\n');
});

test("Last-Event-ID: a version we sent is read back; anything else means 'from the current state'", () => {
  assert.equal(lastEventId("42"), 42);
  assert.equal(lastEventId(" 42 "), 42);
  assert.equal(lastEventId(["9"]), 9);
  for (const bad of [undefined, "", "-1", "4.2", "abc", "1".repeat(20)]) assert.equal(lastEventId(bad), 0, String(bad));
});

test("stream slots: a key gets at most its bound; a released slot (once, however often released) frees one", () => {
  const slots = new StreamSlots(2);
  const a = slots.take("k1");
  const b = slots.take("k1");
  assert.ok(a && b);
  assert.equal(slots.take("k1"), null);
  assert.ok(slots.take("k2"), "another key has its own slots");
  a();
  a();
  assert.equal(slots.inUse("k1"), 1);
  assert.ok(slots.take("k1"));
  assert.equal(slots.take("k1"), null);
  assert.equal(slots.total, 3);
});

test("order changes reach the listeners of that order only (with the row written, else null), until they unsubscribe", () => {
  const changes = new OrderChanges();
  const heard: string[] = [];
  const row = (orderId: string, version: number) => ({ order: { orderId } as OrderRecord, version });
  const off1 = changes.subscribe("o1", (c) => heard.push(`o1:${c?.version ?? "read"}`));
  changes.subscribe("o2", (c) => heard.push(`o2:${c?.version ?? "read"}`));
  changes.announce({ changed: [row("o1", 5)], touched: ["o1", "o3", "o2"] });
  off1();
  changes.announce({ changed: [], touched: ["o1", "o2"] });
  assert.deepEqual(heard, ["o1:5", "o2:read", "o2:read"]);
  assert.equal(changes.watched, 1);
});
