import { test } from "node:test";
import assert from "node:assert/strict";
import { buildAsyncApi } from "./asyncapi.js";
import { EVENT_TYPES } from "./events.js";
import { eventNames } from "./subjects.js";

test("the AsyncAPI document has a channel, operation and message with a JSON Schema payload for every event", () => {
  const doc = buildAsyncApi() as {
    asyncapi: string;
    channels: Record<string, { address: string }>;
    operations: Record<string, unknown>;
    components: { messages: Record<string, { payload: { properties: Record<string, { const?: string }>; required: string[] } }> };
  };
  assert.equal(doc.asyncapi, "3.0.0");
  for (const type of EVENT_TYPES) {
    assert.equal(doc.channels[type]?.address, `{env}.orders.{orderId}.${type}`);
    // The documented address is the one the services publish on.
    assert.equal(doc.channels[type]!.address.replace("{env}", "staging").replace("{orderId}", "o-1"), eventNames("staging").orderEvent("o-1", type));
    assert.ok(doc.operations[`publish${type}`]);
    const payload = doc.components.messages[type]!.payload;
    assert.equal(payload.properties.type?.const, type);
    assert.deepEqual([...payload.required].sort(), ["causationId", "correlationId", "data", "id", "occurredAt", "orderId", "schemaVersion", "type"]);
  }
  assert.ok(!JSON.stringify(doc).includes('"pin":{"type":"string"'), "the PIN is only ever described encrypted");
});
