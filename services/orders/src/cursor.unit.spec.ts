import { test } from "node:test";
import assert from "node:assert/strict";
import { decodeCursor, encodeCursor } from "./cursor.js";

test("a cursor the list handed out decodes to the same position", () => {
  const cursor = { createdAt: "2024-06-01T10:00:00.123Z", orderId: "0b5c0a56-1a2b-4c3d-9e8f-001122334455" };
  assert.deepEqual(decodeCursor(encodeCursor(cursor)), cursor);
});

test("an invalid cursor decodes to null (not to a query PostgreSQL would refuse)", () => {
  const b64 = (s: string) => Buffer.from(s).toString("base64url");
  for (const bad of ["", "not a cursor", "%%%", b64("[1,2]"), b64("{}"), b64('["not-a-date","x"]'), b64('["2024-01-01T00:00:00.000Z","a.b"]'), b64('["2024-01-01T00:00:00.000Z"]'), b64("x".repeat(300))]) {
    assert.equal(decodeCursor(bad), null, JSON.stringify(bad));
  }
});
