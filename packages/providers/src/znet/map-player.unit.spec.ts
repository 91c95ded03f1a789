import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { asPhone, mapPlayer } from "./map-player.js";

describe("mapPlayer", () => {
  it("puts the player id in oyuncu_bilgi", () => {
    assert.deepEqual(mapPlayer("5123456789", null), { oyuncuBilgi: "5123456789", musteriTel: null });
    assert.deepEqual(mapPlayer(" 5123456789 ", "  "), { oyuncuBilgi: "5123456789", musteriTel: null });
  });

  it("sends a phone-looking extra as musteri_tel, spaces removed", () => {
    assert.deepEqual(mapPlayer("5123456789", "+90 532 123 45 67"), { oyuncuBilgi: "5123456789", musteriTel: "+905321234567" });
    assert.deepEqual(mapPlayer("p1", "05321234567"), { oyuncuBilgi: "p1", musteriTel: "05321234567" });
    assert.deepEqual(mapPlayer("p1", "123456789"), { oyuncuBilgi: "p1", musteriTel: "123456789" });
  });

  it("appends any other extra to oyuncu_bilgi after one space", () => {
    assert.deepEqual(mapPlayer("5123456789", "Europe"), { oyuncuBilgi: "5123456789 Europe", musteriTel: null });
    assert.deepEqual(mapPlayer("p1", "12345678"), { oyuncuBilgi: "p1 12345678", musteriTel: null });
    assert.deepEqual(mapPlayer("p1", "1234567890123456"), { oyuncuBilgi: "p1 1234567890123456", musteriTel: null });
    assert.deepEqual(mapPlayer("p1", "0532-123-45-67"), { oyuncuBilgi: "p1 0532-123-45-67", musteriTel: null });
  });

  it("asPhone: 9–15 digits with an optional leading +", () => {
    assert.equal(asPhone("+905321234567"), "+905321234567");
    assert.equal(asPhone("90+5321234567"), null);
    assert.equal(asPhone("++905321234567"), null);
    assert.equal(asPhone(""), null);
  });
});
