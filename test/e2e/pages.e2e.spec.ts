import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { mkdirSync } from "node:fs";
import { resolve } from "node:path";
import { jetstream } from "@nats-io/jetstream";
import type { NatsConnection } from "@pinflow/bus";
import { chromium, type Browser, type Page } from "playwright-core";
import { REPO_ROOT } from "../support/paths.js";
import { TestSystem } from "../support/system.js";

/** Screenshots of every run (gitignored). */
const ARTIFACTS = resolve(REPO_ROOT, "test/artifacts");
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
/** The few browser globals the page functions use (the test package compiles without the DOM library). */
interface PageElement {
  dataset: Record<string, string | undefined>;
  textContent: string | null;
}
/** Functions passed to evaluate run inside the page (sent as source): there `globalThis` is the window. */
interface PageGlobals {
  document: { getElementById(id: string): PageElement; querySelectorAll(selector: string): PageElement[] };
  navigator: { clipboard: { readText(): Promise<string> } };
  getComputedStyle(element: PageElement): { direction: string };
  openedOnce?: boolean;
}
const player = (prefix: string) => `${prefix}${randomUUID().replace(/-/g, "").slice(0, 12)}`;

/**
 * The customer order page and the operator console in a real browser (Debian's chromium, headless,
 * driven by playwright-core), against the whole system (issue 11 "Must show").
 */
describe("customer order page and operator console in a browser", () => {
  // znet's clock: the test moves it forward to let a held order complete at the moment it chooses.
  let znetClockAheadMs = 0;
  const system = new TestSystem({
    znet: { now: () => Date.now() + znetClockAheadMs },
    env: {
      // Unreadable status replies twice in a row send an order to review within seconds.
      "status-poller": { MAX_UNCLEAR_IN_ROW: "2", BREAKER_THRESHOLD: "1000" },
    },
  });
  let browser: Browser;
  let nc: NatsConnection;

  before(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    [browser] = await Promise.all([chromium.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox"] }), system.start()]);
    nc = await system.connectNats("admin", "e2e-pages");
  });
  after(async () => {
    await nc?.close();
    await browser?.close();
    await system.stop();
  });

  /** The customer page's address, with a fresh stream token in its fragment. */
  async function pageUrl(orderId: string, query = ""): Promise<string> {
    const res = await system.request(`/v1/orders/${orderId}/stream-token`, { method: "POST" });
    assert.equal(res.status, 200);
    const url = (res.body as { pageUrl: string }).pageUrl;
    const [path, fragment] = url.split("#");
    return `${system.services.orders.url}${path}${query}#${fragment}`;
  }

  async function openCustomerPage(orderId: string, opts: { query?: string; locale?: string } = {}): Promise<Page> {
    const context = await browser.newContext({ locale: opts.locale ?? "en-US" });
    const page = await context.newPage();
    await page.goto(await pageUrl(orderId, opts.query ?? ""));
    return page;
  }

  test("a page opened before the PIN exists shows it without a reload once PinReceived is on the stream", async (t) => {
    const playerId = player("pg");
    const HOUR = 3_600_000;
    system.znet.addRule({ playerId, completeAfterMs: HOUR });
    const orderId = await system.createOrder({ packageId: "pubg-60", playerId });
    let pinReceivedAt = 0;
    // When PinReceived is on the stream, as an ordered consumer of the test sees it.
    const consumer = await jetstream(nc).consumers.get(system.names.stream, { filter_subjects: system.names.orderEvent(orderId, "PinReceived") });
    const messages = await consumer.consume();
    void (async () => {
      for await (const _ of messages) {
        pinReceivedAt = Date.now();
        break;
      }
    })();

    const page = await openCustomerPage(orderId);
    await page.waitForSelector('#connection[data-state="live"]');
    await page.waitForFunction(() => ["pending", "processing"].includes((globalThis as unknown as PageGlobals).document.getElementById("status").dataset.status ?? ""));
    assert.equal(await page.isHidden("#pin-box"), true, "no PIN before the provider has it");
    assert.equal(pinReceivedAt, 0, "the page was open before PinReceived");
    await page.evaluate(() => ((globalThis as unknown as PageGlobals).openedOnce = true));
    await page.screenshot({ path: resolve(ARTIFACTS, "customer-before-pin.png") });
    // Now znet finishes the order: its next status check returns the PIN.
    znetClockAheadMs = HOUR;

    await page.waitForSelector("#pin-box:not([hidden])", { timeout: 30_000 });
    const shownAt = Date.now();
    const pin = await page.textContent("#pin");
    assert.equal(pin, (await system.getOrder(orderId)).pin);
    assert.equal(await page.getAttribute("#status", "data-status"), "completed");
    assert.equal(await page.evaluate(() => (globalThis as unknown as PageGlobals).openedOnce), true, "the same document: no reload");
    assert.ok(pinReceivedAt > 0, "PinReceived was seen on the stream");
    t.diagnostic(`PIN on the page ${shownAt - pinReceivedAt} ms after PinReceived reached the test's NATS subscription (upper bound: polling)`);
    await page.screenshot({ path: resolve(ARTIFACTS, "customer-with-pin.png") });
    // The copy button puts the PIN on the clipboard.
    await page.context().grantPermissions(["clipboard-read", "clipboard-write"], { origin: system.services.orders.url });
    await page.click("#copy");
    await page.waitForFunction(() => (globalThis as unknown as PageGlobals).document.getElementById("copy").textContent === "Copied");
    assert.equal(await page.evaluate(() => (globalThis as unknown as PageGlobals).navigator.clipboard.readText()), pin);
    await messages.close();
    await page.context().close();
  });

  test("an operator completes a review order by hand in the console, and the open customer page updates", async () => {
    const playerId = player("cn");
    system.znet.addRule({ playerId, checkFault: "garbage", completeAfterMs: 0 });
    const orderId = await system.createOrder({ packageId: "pubg-60", playerId });
    const customer = await openCustomerPage(orderId);
    await customer.waitForSelector('#status[data-status="review"]', { timeout: 30_000 });
    assert.match((await customer.textContent("#help")) ?? "", /checking this order/);
    await customer.screenshot({ path: resolve(ARTIFACTS, "customer-in-review.png") });

    const operatorContext = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
    const console = await operatorContext.newPage();
    await console.goto(`${system.services.orders.url}/console`);
    await console.fill("#key", system.keys.operator);
    await console.click('#sign-in button[type="submit"]');
    // The queue, the providers and the figures come up.
    await console.waitForSelector(`#review tr[data-order="${orderId}"]`, { timeout: 20_000 });
    await console.waitForSelector('#providers tr[data-provider="znet"]');
    await console.waitForSelector('#figures [data-figure="backlog"]');
    assert.ok(Number(await console.textContent('#figures [data-figure="inReview"] .value')) >= 1, "orders in review counted");
    assert.notEqual((await console.textContent('#providers tr[data-provider="znet"] td:nth-child(2)'))?.trim(), "", "znet's balance");
    // The orders list filtered by player finds exactly this order.
    await console.fill('#filters input[name="player"]', playerId);
    await console.selectOption('#filters select[name="status"]', "review");
    await console.click('#filters button[type="submit"]');
    await console.waitForFunction((id) => {
      const rows = (globalThis as unknown as PageGlobals).document.querySelectorAll("#orders tbody tr");
      return rows.length === 1 && rows[0]!.dataset.order === id;
    }, orderId);

    await console.click(`#review tr[data-order="${orderId}"]`);
    await console.waitForSelector("#actions:not([hidden])");
    await console.waitForSelector('#timeline li[data-type="ReviewRequired"]');
    await console.fill('#complete-form input[name="pin"]', "CONSOLE-PIN-1234");
    await console.fill('#complete-form input[name="reason"]', "read from the provider's panel");
    await console.screenshot({ path: resolve(ARTIFACTS, "console-review.png"), fullPage: true });
    await console.click('#complete-form button[type="submit"]');
    await console.waitForSelector('#order-box[data-status="completed"]', { timeout: 20_000 });
    await console.waitForSelector('#timeline li[data-type="CompletedByOperator"]');
    await console.screenshot({ path: resolve(ARTIFACTS, "console-completed.png"), fullPage: true });

    await customer.waitForSelector('#status[data-status="completed"]', { timeout: 20_000 });
    assert.equal(await customer.textContent("#pin"), "CONSOLE-PIN-1234");
    await customer.screenshot({ path: resolve(ARTIFACTS, "customer-completed-by-operator.png") });
    await operatorContext.close();
    await customer.context().close();
  });

  test("the Arabic page renders right-to-left (by ?lang=ar, and by the browser's language)", async () => {
    const playerId = player("ar");
    system.znet.addRule({ playerId, completeAfterMs: 60_000 });
    const orderId = await system.createOrder({ packageId: "pubg-60", playerId });
    for (const [name, opts] of [
      ["query", { query: "?lang=ar" }],
      ["accept-language", { locale: "ar-SA" }],
    ] as const) {
      const page = await openCustomerPage(orderId, opts);
      await page.waitForFunction(() => (globalThis as unknown as PageGlobals).document.getElementById("status").dataset.status !== "loading");
      assert.equal(await page.getAttribute("html", "dir"), "rtl", name);
      assert.equal(await page.getAttribute("html", "lang"), "ar", name);
      assert.equal(await page.evaluate(() => (globalThis as unknown as PageGlobals).getComputedStyle((globalThis as unknown as PageGlobals).document.getElementById("status")).direction), "rtl", name);
      assert.match((await page.textContent("#status-text")) ?? "", /[\u0600-\u06FF]/, `${name}: the status in Arabic`);
      await page.screenshot({ path: resolve(ARTIFACTS, `customer-arabic-${name}.png`) });
      await page.context().close();
    }
    const english = await openCustomerPage(orderId);
    assert.equal(await english.getAttribute("html", "dir"), "ltr");
    await english.context().close();
  });

  test("console API: the orders list filters by package, provider, player prefix and time; figures and providers need an operator of every tenant; actions only on visible orders", async () => {
    const prefix = player("flt");
    const before = new Date(Date.now() - 1000).toISOString();
    const ids = [await system.createOrder({ packageId: "pubg-60", playerId: `${prefix}a` }), await system.createOrder({ packageId: "pubg-60", playerId: `${prefix}b` })];
    const list = async (query: string, key = system.keys.operator) => system.call("orders", `/v1/orders?${query}`, {}, key);
    const found = async (query: string) => ((await list(query)).body as { orders: { orderId: string }[] }).orders.map((o) => o.orderId).sort();
    assert.deepEqual(await found(`player=${prefix}`), [...ids].sort());
    assert.deepEqual(await found(`player=${prefix}a`), [ids[0]]);
    assert.deepEqual(await found(`player=${prefix}&packageId=pubg-60&from=${encodeURIComponent(before)}`), [...ids].sort());
    assert.deepEqual(await found(`player=${prefix}&packageId=pubg-325`), []);
    assert.deepEqual(await found(`player=${prefix}&to=${encodeURIComponent(before)}`), []);
    await system.waitForStatus(ids[0]!, "completed");
    assert.ok((await found(`player=${prefix}&provider=znet`)).includes(ids[0]!));
    assert.deepEqual(await found(`player=${prefix}&provider=xstor`), []);
    for (const bad of ["provider=acme", "from=yesterday", "player="]) assert.equal((await list(bad)).status, 400, bad);
    // The customer's own list takes the same filters, within its tenant.
    assert.deepEqual(((await list(`player=${prefix}`, system.keys.otherCustomer)).body as { orders: unknown[] }).orders, []);

    const figures = await system.call("orders", "/v1/console/figures");
    assert.equal(figures.status, 200);
    const f = figures.body as { backlog: number | null; deadLetters: number; unavailable: string[] };
    assert.deepEqual(f.unavailable, []);
    assert.equal(typeof f.backlog, "number");
    assert.equal(f.deadLetters, 0);
    const providers = await system.call("orders", "/v1/console/providers");
    assert.equal(providers.status, 200);
    const znet = (providers.body as { providers: { provider: string; balance: string | null; poller: unknown }[] }).providers.find((p) => p.provider === "znet");
    assert.ok(znet && znet.balance !== null && znet.poller !== null, JSON.stringify(providers.body));
    for (const path of ["/v1/console/figures", "/v1/console/providers"]) {
      assert.equal((await system.call("orders", path, {}, system.keys.otherOperator)).status, 403, `${path}: an operator of one tenant`);
      assert.equal((await system.call("orders", path, {}, system.keys.customer)).status, 403, `${path}: a customer`);
    }
    // Check-now through the console reaches the poller (a completed order's watch is closed: 409 watch_closed, as the poller answers).
    const checkNow = await system.call("orders", `/v1/console/orders/${ids[0]}/check-now`, { method: "POST", body: JSON.stringify({ reason: "console test" }) });
    assert.equal(checkNow.status, 409, JSON.stringify(checkNow.body));
    assert.equal((checkNow.body as { error: { code: string } }).error.code, "watch_closed");
    // Another tenant's operator: 404, as for a missing order.
    const hidden = await system.call("orders", `/v1/console/orders/${ids[0]}/dispatch-again`, {}, system.keys.otherOperator);
    assert.equal(hidden.status, 404);
    const allowed = await system.call("orders", `/v1/console/orders/${ids[0]}/dispatch-again`);
    assert.equal(allowed.status, 200);
    assert.equal((allowed.body as { kind: string }).kind, "refused", "a completed order is never dispatched again");
  });
});
