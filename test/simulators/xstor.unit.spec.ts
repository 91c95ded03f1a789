/** XstorClient (@pinflow/providers) against the x-stor simulator, over real HTTP. */
import assert from "node:assert/strict";
import { after, afterEach, before, describe, it } from "node:test";
import { XstorClient, type CheckResult, type PlaceRequest, type PlaceResult } from "@pinflow/providers";
import { XstorSimulator } from "./xstor.js";

const TOKEN = "xs-Tok+en/42&secret=1";
const PIN = /^[A-Z0-9]{4}(-[A-Z0-9]{4}){3}$/;

describe("XstorClient against the x-stor simulator", () => {
  let clock = 1_000_000;
  const lines: string[] = [];
  const sim = new XstorSimulator({ token: TOKEN, balance: 1000, completeAfterMs: 3000, now: () => clock, onRequest: (l) => lines.push(l) });
  let baseUrl = "";
  let client: XstorClient;
  let refSeq = 0;
  /** Everything the clients returned, to check that no text carries the token. */
  const returned: unknown[] = [];
  const ref = (): string => `ord-${String(++refSeq).padStart(4, "0")}-${"ab12".repeat(4)}`;
  const pubg60 = (reference: string, playerId = "5123456789", extra: string | null = null): PlaceRequest => ({
    reference,
    productCode: { productId: "501" },
    playerId,
    extra,
  });
  const place = async (req: PlaceRequest, c: XstorClient = client): Promise<PlaceResult> => {
    const r = await c.place(req);
    returned.push(r);
    return r;
  };
  const check = async (refs: string[], by: "order_id" | "uuid", c: XstorClient = client): Promise<Map<string, CheckResult>> => {
    const r = await c.check(refs, by);
    returned.push([...r]);
    return r;
  };
  const checkOne = async (reference: string, c: XstorClient = client): Promise<CheckResult> => {
    const r = await c.checkOne(reference);
    returned.push(r);
    return r;
  };
  const orderIdOf = (r: PlaceResult): string => (r.kind === "accepted" && r.providerOrderId !== null ? r.providerOrderId : assert.fail(JSON.stringify(r)));

  before(async () => {
    baseUrl = await sim.start(0);
    client = new XstorClient({ baseUrl, token: TOKEN, timeoutMs: 1000 });
  });
  afterEach(() => sim.clearRules());
  after(async () => {
    await sim.stop();
    const text = JSON.stringify(returned) + lines.join("\n") + sim.requestLog().join("\n");
    for (const form of [TOKEN, encodeURIComponent(TOKEN), new URLSearchParams({ t: TOKEN }).toString().slice(2)]) {
      assert.ok(!text.includes(form), `the token (${form}) appears in a returned text or a log`);
    }
  });

  it("place → check pending → done with a PIN, by order_id; by uuid the documented entries cannot be matched (unknown)", async () => {
    sim.setBalance(1000);
    const r = ref();
    const placed = await place(pubg60(r));
    assert.equal(placed.kind, "accepted");
    assert.deepEqual({ ...placed, providerOrderId: null }, { kind: "accepted", cost: "9.80", balance: null, providerOrderId: null, pin: null });
    const orderId = orderIdOf(placed);
    assert.equal(sim.balance(), 990.2);

    assert.equal((await check([orderId], "order_id")).get(orderId)?.kind, "pending");
    assert.equal((await checkOne(r)).kind, "unknown", "an entry without our uuid is never taken as ours");
    clock += 3000;
    const byId = (await check([orderId], "order_id")).get(orderId);
    const byUuid = await checkOne(r);
    assert.equal(byId?.kind, "done");
    assert.equal(byUuid.kind, "unknown", "never guessed, never not_found");
    const pin = byId?.kind === "done" ? byId.pin : "";
    assert.match(pin, PIN);
    assert.equal(byId?.kind === "done" ? byId.note : null, "Order completed");
    assert.deepEqual(sim.order(r), { orderId, uuid: r, productId: "501", playerId: "5123456789", server: null, price: "9.80", state: "done", pin });
    assert.equal(sim.placements(r), 1);
    assert.equal(sim.checkedIds(r), 4);
    assert.deepEqual(await client.balance(), { kind: "ok", balance: "990.20" });
  });

  it("re-placing the same uuid is a second order, charged again (the document promises no de-duplication)", async () => {
    sim.setBalance(100);
    const r = ref();
    const first = await place(pubg60(r));
    const again = await place(pubg60(r));
    assert.equal(again.kind, "accepted");
    assert.notEqual(orderIdOf(again), orderIdOf(first));
    assert.equal(sim.placeCalls(r), 2);
    assert.equal(sim.placements(r), 2);
    assert.equal(sim.duplicatePlacements(r), 0);
    assert.equal(sim.balance(), 80.4);
  });

  it("server param, already-done and already-rejected placements", async () => {
    sim.setBalance(1000);
    sim.addRule({ playerId: "instant", completeAfterMs: 0 });
    sim.addRule({ playerId: "reject-now", outcome: "reject", completeAfterMs: 0 });
    const r = ref();
    const done = await place({ reference: r, productCode: { productId: "601" }, playerId: "instant", extra: "EU" });
    assert.equal(done.kind === "accepted" ? done.cost : done.kind, "17.25");
    assert.match(done.kind === "accepted" ? (done.pin ?? "") : "", PIN);
    assert.equal(sim.order(r)?.server, "EU");
    const rejected = await place(pubg60(ref(), "reject-now"));
    assert.deepEqual(rejected.kind === "refused" ? [rejected.reasonCode, rejected.message] : rejected.kind, ["provider_error", "Wrong player ID; Amount refunded"]);
    assert.equal(sim.balance(), 1000 - 17.25);
  });

  it("refusals: insufficient balance, unavailable product, missing server, wrong token, scripted reply", async () => {
    sim.setBalance(5);
    const r = ref();
    const poor = await place(pubg60(r));
    assert.deepEqual(poor, { kind: "refused", providerCode: "balance", message: "Insufficient balance", reasonCode: "insufficient_balance" });
    assert.equal(sim.placements(r), 0);
    assert.equal(sim.balance(), 5);

    sim.setBalance(1000);
    const unavailable = await place({ ...pubg60(ref()), productCode: { productId: "701" }, extra: "1" });
    assert.equal(unavailable.kind === "refused" ? unavailable.reasonCode : unavailable.kind, "product_unavailable");
    const unknown = await place({ ...pubg60(ref()), productCode: { productId: "999" } });
    assert.equal(unknown.kind === "refused" ? unknown.reasonCode : unknown.kind, "product_unavailable");
    const noServer = await place({ ...pubg60(ref()), productCode: { productId: "601" } });
    assert.equal(noServer.kind === "refused" ? noServer.message : noServer.kind, "The server field is required.");

    const wrong = new XstorClient({ baseUrl, token: "nope", timeoutMs: 1000 });
    const unauth = await place(pubg60(ref()), wrong);
    assert.deepEqual(unauth, { kind: "refused", providerCode: "401", message: "Unauthenticated", reasonCode: "auth_failed" });
    assert.equal((await checkOne(r, wrong)).kind, "unknown");
    assert.equal((await wrong.balance()).kind, "failed");

    sim.addRule({ playerId: "refuse-", match: "prefix", placeReply: { status: "ERROR", message: "Invalid player ID", error: "uid" } });
    const refused = await place(pubg60(ref(), "refuse-42"));
    assert.equal(refused.kind === "refused" ? refused.reasonCode : refused.kind, "invalid_player");
  });

  it("a hanging newOrder with a short timeout is ambiguous and records nothing", async () => {
    sim.addRule({ playerId: "hang-player", placeFault: "hang" });
    const fast = new XstorClient({ baseUrl, token: TOKEN, timeoutMs: 150 });
    const r = ref();
    const started = Date.now();
    const res = await place(pubg60(r, "hang-player"), fast);
    assert.match(res.kind === "ambiguous" ? res.cause : "", /timeout after 150 ms/);
    assert.ok(Date.now() - started < 1000);
    assert.equal(sim.placeCalls(r), 1);
    assert.equal(sim.placements(r), 0);
    assert.equal((await checkOne(r)).kind, "not_found");
  });

  it("drop-after-accept and slow-accept are ambiguous; checkOne by uuid is unknown (never not_found) for the documented entries, and finds the order where entries carry the uuid", async () => {
    const kind = new XstorSimulator({ token: TOKEN, balance: 1000, completeAfterMs: 3000, now: () => clock, checkCarriesUuid: true });
    const kindUrl = await kind.start(0);
    try {
      for (const [s, url] of [[sim, baseUrl], [kind, kindUrl]] as const) {
        s.addRule({ playerId: "dropper", placeFault: "drop-after-accept" });
        s.addRule({ playerId: "slowpoke", placeFault: "slow-accept", slowMs: 400 });
        const fast = new XstorClient({ baseUrl: url, token: TOKEN, timeoutMs: 150 });
        const asking = new XstorClient({ baseUrl: url, token: TOKEN, timeoutMs: 1000 });
        for (const player of ["dropper", "slowpoke"]) {
          const r = ref();
          assert.equal((await place(pubg60(r, player), fast)).kind, "ambiguous", player);
          assert.equal(s.placements(r), 1);
          const carries = s === kind;
          assert.equal((await checkOne(r, asking)).kind, carries ? "pending" : "unknown", player);
          clock += 3000;
          assert.equal((await checkOne(r, asking)).kind, carries ? "done" : "unknown", player);
        }
      }
    } finally {
      await kind.stop();
    }
  });

  it("empty, HTML, 500, 429 and drop-before replies to newOrder are ambiguous", async () => {
    for (const fault of ["empty", "html", "http500", "http429", "drop-before"] as const) {
      sim.addRule({ playerId: `fault-${fault}`, placeFault: fault });
      const r = ref();
      assert.equal((await place(pubg60(r, `fault-${fault}`))).kind, "ambiguous", fault);
      assert.equal(sim.placements(r), 0);
    }
  });

  it("reject is cancelled and refunded; never stays pending; unknown words are unknown; check faults are unknown", async () => {
    sim.setBalance(100);
    sim.addRule({ playerId: "rejectme", outcome: "reject", completeAfterMs: 10 });
    sim.addRule({ playerId: "stuck", outcome: "never" });
    sim.addRule({ playerId: "odd", outcome: "unknown-word", completeAfterMs: 10 });
    const rj = orderIdOf(await place(pubg60(ref(), "rejectme")));
    const st = orderIdOf(await place(pubg60(ref(), "stuck")));
    const od = orderIdOf(await place(pubg60(ref(), "odd")));
    clock += 10_000_000;
    const m = await check([rj, st, od], "order_id");
    assert.deepEqual(m.get(rj), { kind: "cancelled", note: "Wrong player ID; Amount refunded" });
    assert.equal(m.get(st)?.kind, "pending");
    assert.equal(m.get(od)?.kind, "unknown");
    assert.equal(sim.balance(), 80.4);
    for (const fault of ["empty", "html", "http500", "garbage"] as const) {
      sim.addRule({ playerId: "stuck", checkFault: fault });
      const faulty = await check([st, rj], "order_id");
      assert.deepEqual([...faulty.values()].map((v) => v.kind), ["unknown", "unknown"], fault);
    }
  });

  it("a batch of 120 ids is split into 3 calls; unknown ids are not_found", async () => {
    sim.setBalance(10_000);
    const refs = Array.from({ length: 60 }, () => ref());
    const ids: string[] = [];
    for (const r of refs) ids.push(orderIdOf(await place(pubg60(r, "batch-player"))));
    const strangers = Array.from({ length: 60 }, (_, i) => `${990000 + i}`);
    const before = sim.checkCalls();
    const logBefore = sim.requestLog().length;
    const m = await check([...ids, ...strangers], "order_id");
    assert.equal(sim.checkCalls() - before, 3);
    const sizes = sim
      .requestLog()
      .slice(logBefore)
      .map((l) => (JSON.parse(new URL(l.split(" ")[1] ?? "", "http://x").searchParams.get("orders") ?? "[]") as unknown[]).length);
    assert.deepEqual(sizes, [50, 50, 20]);
    assert.equal(m.size, 120);
    assert.ok(ids.every((id) => m.get(id)?.kind === "pending"));
    assert.ok(strangers.every((s) => m.get(s)?.kind === "not_found"));
    assert.deepEqual(sim.referencesFor("batch-player"), refs);
  });

  it("status words vary in wording and case; PINs come in pin or code (with a placeholder left in pin)", async () => {
    sim.setBalance(10_000);
    sim.addRule({ playerId: "words", completeAfterMs: 0 });
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) ids.push(orderIdOf(await place(pubg60(ref(), "words"))));
    const m = await check(ids, "order_id");
    assert.ok(ids.every((id) => m.get(id)?.kind === "done"), JSON.stringify([...m]));
    assert.ok(lines.some((l) => l.includes('\\"code\\":\\"***\\"')) && lines.some((l) => l.includes('\\"pin\\":\\"***\\"')), "pins masked in log lines");
    assert.ok(!lines.some((l) => /[A-Z0-9]{4}(-[A-Z0-9]{4}){3}/.test(l)), "no PIN in a log line");
  });

  it("products() and balance()", async () => {
    const list = await client.products();
    returned.push(list);
    assert.ok(list.ok);
    assert.deepEqual(
      list.items.map((p) => [p.id, p.name, p.price, p.params.join(","), p.available]),
      [
        ["501", "PUBG Mobile 60 UC", "9.80", "uid", true],
        ["502", "PUBG Mobile 325 UC", "48.90", "uid", true],
        ["601", "Free Fire 100 Diamonds", "17.25", "uid,server", true],
        ["701", "Mobile Legends 86 Diamonds", "21.40", "uid,server", false],
      ],
    );
    sim.setBalance(43.55);
    assert.deepEqual(await client.balance(), { kind: "ok", balance: "43.55" });
  });
});

describe("x-stor simulator options", () => {
  it("by default (the document promises nothing else) a repeated uuid is accepted and charged again", async () => {
    const sim = new XstorSimulator({ token: "t", balance: 100, completeAfterMs: () => 0 });
    const baseUrl = await sim.start();
    try {
      const client = new XstorClient({ baseUrl, token: "t", timeoutMs: 1000 });
      const req: PlaceRequest = { reference: "u-77", productCode: { productId: "501" }, playerId: "x", extra: null };
      assert.equal((await client.place(req)).kind, "accepted");
      assert.equal((await client.place(req)).kind, "accepted");
      assert.equal(sim.placements("u-77"), 2);
      assert.equal(sim.duplicatePlacements("u-77"), 0);
      assert.equal(sim.balance(), 80.4);
    } finally {
      await sim.stop();
    }
  });

  it("detectDuplicates: true (opt-in) returns the existing order for a repeated uuid, uncharged", async () => {
    const sim = new XstorSimulator({ token: "t", balance: 100, detectDuplicates: true, completeAfterMs: () => 0 });
    const baseUrl = await sim.start();
    try {
      const client = new XstorClient({ baseUrl, token: "t", timeoutMs: 1000 });
      const req: PlaceRequest = { reference: "u-78", productCode: { productId: "501" }, playerId: "x", extra: null };
      assert.equal((await client.place(req)).kind, "accepted");
      assert.equal((await client.place(req)).kind, "accepted");
      assert.equal(sim.placements("u-78"), 1);
      assert.equal(sim.duplicatePlacements("u-78"), 1);
      assert.equal(sim.balance(), 90.2);
    } finally {
      await sim.stop();
    }
  });

  it("by default check entries carry no order_uuid: orders are matched by order_id; by uuid nothing can be matched (unknown)", async () => {
    const sim = new XstorSimulator({ token: "t", completeAfterMs: 0 });
    const baseUrl = await sim.start();
    try {
      const client = new XstorClient({ baseUrl, token: "t", timeoutMs: 1000 });
      const placed = await client.place({ reference: "u-1", productCode: { productId: "501" }, playerId: "x", extra: null });
      const orderId = placed.kind === "accepted" ? placed.providerOrderId : null;
      assert.ok(orderId !== null);
      assert.equal((await client.check([orderId], "order_id")).get(orderId)?.kind, "done");
      assert.equal((await client.checkOne("u-1")).kind, "unknown", "a lone entry without our uuid is never taken as ours");
      assert.equal((await client.checkOne("u-404")).kind, "not_found", "an empty data list is not found");
    } finally {
      await sim.stop();
    }
  });

  it("checkCarriesUuid: true (opt-in) lets a batch by uuid match every order", async () => {
    const sim = new XstorSimulator({ token: "t", checkCarriesUuid: true, completeAfterMs: 0 });
    const baseUrl = await sim.start();
    try {
      const client = new XstorClient({ baseUrl, token: "t", timeoutMs: 1000 });
      await client.place({ reference: "u-1", productCode: { productId: "501" }, playerId: "x", extra: null });
      await client.place({ reference: "u-2", productCode: { productId: "501" }, playerId: "x", extra: null });
      assert.equal((await client.checkOne("u-1")).kind, "done");
      const both = await client.check(["u-1", "u-2"], "uuid");
      assert.deepEqual([...both.values()].map((v) => v.kind), ["done", "done"]);
    } finally {
      await sim.stop();
    }
  });

  it("rule finishInPlaceReply: the place reply already says success and carries the PIN (in pin or code); the order is done and charged once", async () => {
    const sim = new XstorSimulator({ token: "t", balance: 100, completeAfterMs: 60_000 });
    sim.addRule({ playerId: "fin", finishInPlaceReply: true });
    const baseUrl = await sim.start();
    try {
      const client = new XstorClient({ baseUrl, token: "t", timeoutMs: 1000 });
      for (const reference of ["f-1", "f-2", "f-3"]) {
        const placed = await client.place({ reference, productCode: { productId: "501" }, playerId: "fin", extra: null });
        const order = sim.order(reference);
        assert.equal(order?.state, "done");
        assert.deepEqual(placed, { kind: "accepted", cost: "9.80", balance: null, providerOrderId: order?.orderId ?? "", pin: order?.pin ?? "" });
        assert.match(order?.pin ?? "", PIN);
      }
      const other = await client.place({ reference: "p-1", productCode: { productId: "501" }, playerId: "other", extra: null });
      assert.ok(other.kind === "accepted" && other.pin === null, "without the rule the order is only accepted");
      assert.equal(sim.balance(), 60.8);
    } finally {
      await sim.stop();
    }
  });

  it("stop() ends hanging requests; the request log never has the token", async () => {
    const sim = new XstorSimulator({ token: "secret-tok" });
    sim.addRule({ playerId: "h", placeFault: "hang" });
    const baseUrl = await sim.start();
    const client = new XstorClient({ baseUrl, token: "secret-tok", timeoutMs: 5000 });
    const pending = client.place({ reference: "r1", productCode: { productId: "501" }, playerId: "h", extra: null });
    await new Promise((r) => setTimeout(r, 50));
    await sim.stop();
    assert.equal((await pending).kind, "ambiguous");
    assert.deepEqual(sim.requestLog(), ["GET /client/api/newOrder/501/params?qty=1&uid=h&order_uuid=r1"]);
  });
});
