/** ZnetClient (@pinflow/providers) against the znet simulator, over real HTTP. */
import assert from "node:assert/strict";
import { after, afterEach, before, describe, it } from "node:test";
import { ZnetClient, type PlaceRequest } from "@pinflow/providers";
import { ZnetSimulator } from "./znet.js";

const CODE = "5550001122";
const PASSWORD = "pw-Çok+Gizli&42";

describe("ZnetClient against the znet simulator", () => {
  let clock = 1_000_000;
  // Opts in to the vendor's bill-style `4|Daha Önce Gönderilmiş` refusal, so the client's mapping of it is proven.
  const sim = new ZnetSimulator({ code: CODE, password: PASSWORD, balance: 1000, completeAfterMs: 3000, now: () => clock, detectDuplicates: true });
  let baseUrl = "";
  let client: ZnetClient;
  let refSeq = 5000;
  /** Everything the client returned, to check that no text carries the password. */
  const returned: unknown[] = [];
  const ref = (): string => String(++refSeq);
  const pubg60 = (reference: string, playerId = "5123456789", extra: string | null = null): PlaceRequest => ({
    reference,
    productCode: { oyun: "101", kupur: "60" },
    playerId,
    extra,
  });
  const place = async (req: PlaceRequest, c: ZnetClient = client) => {
    const r = await c.place(req);
    returned.push(r);
    return r;
  };
  const check = async (reference: string, c: ZnetClient = client) => {
    const r = await c.check(reference);
    returned.push(r);
    return r;
  };

  before(async () => {
    baseUrl = await sim.start(0);
    client = new ZnetClient({ baseUrl, code: CODE, password: PASSWORD, timeoutMs: 1000 });
  });
  afterEach(() => sim.clearRules());
  after(async () => {
    await sim.stop();
    const text = JSON.stringify(returned);
    assert.ok(!text.includes(PASSWORD) && !text.includes(encodeURIComponent(PASSWORD)), "a returned text contains the password");
    assert.ok(sim.requestLog().every((line) => !line.includes(encodeURIComponent(PASSWORD)) && line.includes("sifre=***")));
  });

  it("place → check pending → done, charging the balance once", async () => {
    sim.setBalance(1000);
    const r = ref();
    assert.deepEqual(await place(pubg60(r, "5123456789", "+90 532 123 45 67")), {
      kind: "accepted",
      cost: "10.12",
      balance: "989.88",
      providerOrderId: null,
      pin: null,
    });
    assert.deepEqual(await check(r), { kind: "pending", note: "İşlem bekleniyor" });
    clock += 3000;
    const done = await check(r);
    assert.equal(done.kind, "done");
    assert.match(done.kind === "done" ? done.pin : "", /^[A-Z0-9]{4}(-[A-Z0-9]{4}){3}$/);
    assert.equal(done.kind === "done" ? done.note : null, "İşlem tamamlandı");
    assert.deepEqual(sim.order(r), { state: 2, pin: done.kind === "done" ? done.pin : null, playerInfo: "5123456789", phone: "+905321234567" });
    assert.equal(sim.placements(r), 1);
    assert.equal(sim.checkCalls(r), 2);
    assert.deepEqual(await client.balance(), { kind: "ok", balance: "989.88" });
  });

  it("a hanging pin_ekle times out as ambiguous and records nothing", async () => {
    sim.addRule({ playerId: "hang-player", placeFault: "hang" });
    const fast = new ZnetClient({ baseUrl, code: CODE, password: PASSWORD, timeoutMs: 150 });
    const r = ref();
    const started = Date.now();
    const res = await place(pubg60(r, "hang-player"), fast);
    assert.equal(res.kind, "ambiguous");
    assert.match(res.kind === "ambiguous" ? res.cause : "", /timeout after 150 ms/);
    assert.ok(Date.now() - started < 1000);
    assert.equal(sim.placeCalls(r), 1);
    assert.equal(sim.placements(r), 0);
    assert.equal((await check(r)).kind, "not_found");
  });

  it("drop-after-accept and slow-accept are ambiguous, and the order exists", async () => {
    sim.addRule({ playerId: "dropper", placeFault: "drop-after-accept" });
    sim.addRule({ playerId: "slowpoke", placeFault: "slow-accept", slowMs: 400 });
    const fast = new ZnetClient({ baseUrl, code: CODE, password: PASSWORD, timeoutMs: 150 });
    for (const player of ["dropper", "slowpoke"]) {
      const r = ref();
      assert.equal((await place(pubg60(r, player), fast)).kind, "ambiguous", player);
      assert.equal(sim.placements(r), 1);
      assert.equal((await check(r)).kind, "pending");
    }
  });

  it("empty, HTML, 500 and drop-before replies to pin_ekle are ambiguous", async () => {
    for (const fault of ["empty", "html", "http500", "drop-before"] as const) {
      sim.addRule({ playerId: `fault-${fault}`, placeFault: fault });
      const r = ref();
      assert.equal((await place(pubg60(r, `fault-${fault}`))).kind, "ambiguous", fault);
      assert.equal(sim.placements(r), 0);
    }
  });

  it("refusals: unknown product, insufficient balance, duplicate reference, scripted player refusal", async () => {
    sim.setBalance(1000);
    const unknownProduct = await place({ ...pubg60(ref()), productCode: { oyun: "101", kupur: "61" } });
    assert.deepEqual(unknownProduct, { kind: "refused", providerCode: "3", message: "Kupur Bilgisi Bulunamadı", reasonCode: "product_unavailable" });

    sim.setBalance(5);
    const poor = await place(pubg60(ref()));
    assert.deepEqual(poor, { kind: "refused", providerCode: "8", message: "Yetersiz bakiye", reasonCode: "insufficient_balance" });

    sim.setBalance(1000);
    const r = ref();
    assert.equal((await place(pubg60(r))).kind, "accepted");
    const again = await place(pubg60(r));
    assert.deepEqual(again, { kind: "refused", providerCode: "4", message: `Daha Önce Gönderilmiş (${r})`, reasonCode: "duplicate_reference" });
    assert.equal(sim.placements(r), 1);
    assert.equal(sim.placeCalls(r), 2);
    assert.deepEqual(await client.balance(), { kind: "ok", balance: "989.88" });

    sim.addRule({ playerId: "refuse-", match: "prefix", placeReply: "3|Oyuncu bulunamadı" });
    const refused = await place(pubg60(ref(), "refuse-42 EU"));
    assert.equal(refused.kind === "refused" ? refused.reasonCode : refused.kind, "invalid_player");
  });

  it("cancel outcome: cancelled after the delay and refunded", async () => {
    sim.setBalance(100);
    sim.addRule({ playerId: "cancel-me", outcome: "cancel", completeAfterMs: 10 });
    const r = ref();
    const placed = await place({ ...pubg60(r, "cancel-me"), productCode: { oyun: "202", kupur: "100" } });
    assert.equal(placed.kind === "accepted" ? placed.balance : placed.kind, "81.25");
    clock += 10;
    assert.deepEqual(await check(r), { kind: "cancelled", note: "İşlem iptal edildi" });
    assert.deepEqual(await client.balance(), { kind: "ok", balance: "100.00" });
  });

  it("never outcome stays pending; check faults are unknown; unknown reference is not_found", async () => {
    sim.addRule({ playerId: "stuck", outcome: "never" });
    const r = ref();
    await place(pubg60(r, "stuck"));
    clock += 10_000_000;
    assert.equal((await check(r)).kind, "pending");
    for (const fault of ["empty", "html", "http500", "garbage"] as const) {
      sim.addRule({ playerId: "stuck", checkFault: fault });
      assert.equal((await check(r)).kind, "unknown", fault);
    }
    assert.deepEqual(await check("999999999"), { kind: "not_found", message: "Sipariş bulunamadı" });
  });

  it("a scripted generic 3|… check reply applies to a reference that was never recorded, and is unknown", async () => {
    sim.addRule({ playerId: "hung-generic", placeFault: "hang", checkReply: "3|Sistem hatası, lütfen daha sonra tekrar deneyiniz" });
    const r = ref();
    const hung = new ZnetClient({ baseUrl, code: CODE, password: PASSWORD, timeoutMs: 200 });
    assert.equal((await hung.place(pubg60(r, "hung-generic"))).kind, "ambiguous");
    assert.equal(sim.placements(r), 0);
    const answer = await check(r);
    assert.equal(answer.kind, "unknown");
    assert.match(answer.kind === "unknown" ? answer.cause : "", /provider error 3: .*Sistem hatas/);
  });

  it("denyAccess: every call gets an empty body (wrong source IP), nothing is recorded; lifting it restores service", async () => {
    sim.denyAccess(true);
    try {
      const r = ref();
      const placed = await place(pubg60(r));
      assert.equal(placed.kind, "ambiguous");
      assert.ok(placed.kind === "ambiguous" && placed.accessDenied === true, "an empty body is flagged as access denied");
      assert.equal(sim.placements(r), 0);
      const checked = await check(r);
      assert.ok(checked.kind === "unknown" && checked.accessDenied === true);
      const balance = await client.balance();
      assert.ok(balance.kind === "failed" && balance.accessDenied === true);
    } finally {
      sim.denyAccess(false);
    }
    assert.equal((await client.balance()).kind, "ok");
  });

  it("wrong credentials get an empty body: ambiguous place, failed balance", async () => {
    const wrong = new ZnetClient({ baseUrl, code: CODE, password: "nope", timeoutMs: 1000 });
    const r = ref();
    assert.equal((await wrong.place(pubg60(r))).kind, "ambiguous");
    assert.equal(sim.placements(r), 0);
    assert.equal((await wrong.check(r)).kind, "unknown");
    const b = await wrong.balance();
    assert.equal(b.kind, "failed");
    assert.match(b.kind === "failed" ? b.cause : "", /empty body/);
  });

  it("products() reads the built-in catalog", async () => {
    const list = await client.products();
    returned.push(list);
    assert.ok(list.ok);
    assert.deepEqual(
      list.items.map((p) => [p.name, p.oyunBilgiId, p.kupur, p.price]),
      [
        ["PUBG Mobile 60 UC", "101", "60", "10.12"],
        ["PUBG Mobile 325 UC", "101", "325", "50.60"],
        ["Free Fire 100 Elmas", "202", "100", "18.75"],
      ],
    );
  });
});

describe("znet simulator options", () => {
  it("by default (\"assume nothing for PIN orders\") the same reference is accepted and charged again", async () => {
    const sim = new ZnetSimulator({ code: "k", password: "p", balance: 100, completeAfterMs: () => 0 });
    const baseUrl = await sim.start();
    try {
      const client = new ZnetClient({ baseUrl, code: "k", password: "p", timeoutMs: 1000 });
      const req: PlaceRequest = { reference: "77", productCode: { oyun: "101", kupur: "60" }, playerId: "x", extra: null };
      assert.equal((await client.place(req)).kind, "accepted");
      assert.equal((await client.place(req)).kind, "accepted");
      assert.equal(sim.placements("77"), 2);
      assert.equal(sim.balance(), 79.76);
      assert.equal((await client.check("77")).kind, "done");
    } finally {
      await sim.stop();
    }
  });

  it("stop() ends hanging requests and logs with sifre masked", async () => {
    const lines: string[] = [];
    const sim = new ZnetSimulator({ code: "k", password: "secret", onRequest: (l) => lines.push(l) });
    sim.addRule({ playerId: "h", placeFault: "hang" });
    const baseUrl = await sim.start();
    const client = new ZnetClient({ baseUrl, code: "k", password: "secret", timeoutMs: 5000 });
    const pending = client.place({ reference: "1", productCode: { oyun: "101", kupur: "60" }, playerId: "h", extra: null });
    await new Promise((r) => setTimeout(r, 50));
    await sim.stop();
    assert.equal((await pending).kind, "ambiguous");
    assert.deepEqual(sim.requestLog(), ["/servis/pin_ekle.php?kod=k&sifre=***&oyun=101&kupur=60&referans=1&oyuncu_bilgi=h"]);
    assert.ok(lines.length === 1 && !lines.join("").includes("secret"));
  });
});
