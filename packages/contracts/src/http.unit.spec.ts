import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { CreateOrderRequest, IdempotencyKey } from "./http.js";

const order = (fields: Record<string, unknown>) => CreateOrderRequest.safeParse({ packageId: "pubg-60", playerId: "5123456789", ...fields });

describe("CreateOrderRequest takes only text that PostgreSQL and the providers can take", () => {
  test("a NUL in the player id is rejected", () => {
    const parsed = order({ playerId: "a\u0000b" });
    assert.equal(parsed.success, false);
    assert.match(parsed.error!.issues[0]!.message, /control character/);
    assert.deepEqual(parsed.error!.issues[0]!.path, ["playerId"]);
  });

  test("other control characters (C0, DEL, C1) in the player id or extra are rejected", () => {
    for (const ch of ["\u0001", "\u0007", "\t", "\n", "\r", "\u001b", "\u001f", "\u007f", "\u0080", "\u0085", "\u009f"]) {
      assert.equal(order({ playerId: `a${ch}b` }).success, false, `player id with U+${ch.charCodeAt(0).toString(16)}`);
      assert.equal(order({ extra: `a${ch}b` }).success, false, `extra with U+${ch.charCodeAt(0).toString(16)}`);
    }
  });

  test("a lone surrogate (text that is not Unicode) is rejected", () => {
    for (const bad of ["a\ud800b", "a\udfffb", "\udc00\ud800", "x\udbff"]) {
      const parsed = order({ playerId: bad });
      assert.equal(parsed.success, false, JSON.stringify(bad));
      assert.match(parsed.error!.issues[0]!.message, /not valid Unicode/);
      assert.equal(order({ extra: bad }).success, false, `extra ${JSON.stringify(bad)}`);
    }
  });

  test("over-long fields are rejected", () => {
    assert.equal(order({ playerId: "9".repeat(129) }).success, false);
    assert.equal(order({ extra: "x".repeat(129) }).success, false);
    assert.equal(order({ playerId: "\u{1f600}".repeat(129) }).success, false, "129 characters outside the BMP");
    assert.equal(order({ playerId: "\u{1f600}".repeat(128) }).success, true, "the limit counts characters (code points), not UTF-16 units");
  });

  test("ordinary international text, emoji and phone numbers pass (trimmed)", () => {
    for (const ok of ["5123456789", "İbrahim Şahin", "Oyuncu#1234", "игрок", "玩家", "\u{1f600} gamer", "e\u0301", "a b"]) {
      const parsed = order({ playerId: ` ${ok} `, extra: "+905551112233" });
      assert.ok(parsed.success, JSON.stringify(ok));
      assert.equal(parsed.data.playerId, ok);
    }
  });
});

describe("IdempotencyKey", () => {
  test("1-128 visible ASCII characters pass; spaces, controls, non-ASCII and over-long keys do not", () => {
    assert.ok(IdempotencyKey.safeParse("b3c1-4f0e_x.y:z").success);
    for (const bad of ["", "a b", "a\u0000", "ключ", "k".repeat(129), "a\tb"]) assert.equal(IdempotencyKey.safeParse(bad).success, false, JSON.stringify(bad));
  });
});
