/**
 * Catalog import against REAL PostgreSQL and the provider simulators: the command
 * (`node dist/import-catalog.js`) as a process, and what the route table then offers per package.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import http from "node:http";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { createPool, type Pool } from "@pinflow/pg";
import { XstorSimulator } from "@pinflow/test/simulators/xstor";
import { ZnetSimulator } from "@pinflow/test/simulators/znet";
import { TestDatabase } from "@pinflow/testkit";
import { parseCatalog, readCatalogFile } from "./catalog.js";
import { checkImport, fromZnet } from "./catalog-import.js";
import { PgDispatchStore } from "./pg-dispatch-store.js";
import type { Offer } from "./dispatch.js";
import { prepareDatabase } from "./runtime.js";

const CODE = "5550003333";
const PASSWORD = "imp-Şifre&9";
const TOKEN = "imp-xstor-token/Gizli";
const IMPORT = fileURLToPath(new URL("./import-catalog.js", import.meta.url));
const CATALOG = fileURLToPath(new URL("../../../config/catalog.json", import.meta.url));

/** The vendor's own sample reply: a missing comma after `"success": true`. */
const SLOPPY = '{"success": true "result": [{"id": 1, "adi": "PUBG Mobile 60 UC", "fiyat": "10.12", "kupur": "60", "oyun_bilgi_id": 101}], "error": null}';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(args: string[], env: Record<string, string>): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [IMPORT, ...args], { env: { PATH: process.env.PATH ?? "", ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (b: Buffer) => (stdout += b.toString("utf8")));
    child.stderr.on("data", (b: Buffer) => (stderr += b.toString("utf8")));
    child.once("exit", (code) => resolve({ code, stdout, stderr }));
  });
}

describe("import-catalog (PostgreSQL + simulators)", () => {
  const db = new TestDatabase("dispatcher_import");
  const znet = new ZnetSimulator({ code: CODE, password: PASSWORD });
  const xstor = new XstorSimulator({ token: TOKEN });
  const dir = mkdtempSync(join(tmpdir(), "pinflow-import-"));
  let sloppy: http.Server;
  let pool: Pool;
  let znetEnv: Record<string, string>;
  let xstorEnv: Record<string, string>;
  let sloppyEnv: Record<string, string>;

  before(async () => {
    await db.create();
    pool = createPool(db.url);
    await prepareDatabase(pool);
    const znetUrl = await znet.start();
    const xstorUrl = await xstor.start();
    sloppy = http.createServer((_req, res) => {
      res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
      res.end(SLOPPY);
    });
    await new Promise<void>((resolve) => sloppy.listen(0, "127.0.0.1", resolve));
    const passwordFile = join(dir, "znet-password");
    writeFileSync(passwordFile, `${PASSWORD}\n`);
    znetEnv = { DATABASE_URL: db.url, ZNET_BASE_URL: znetUrl, ZNET_CODE: CODE, ZNET_PASSWORD_FILE: passwordFile, ZNET_TIMEOUT_MS: "2000" };
    xstorEnv = { DATABASE_URL: db.url, XSTOR_BASE_URL: xstorUrl, XSTOR_TOKEN: TOKEN, XSTOR_TIMEOUT_MS: "2000" };
    sloppyEnv = { ...znetEnv, ZNET_BASE_URL: `http://127.0.0.1:${(sloppy.address() as AddressInfo).port}` };
  });

  after(async () => {
    sloppy?.closeAllConnections();
    await new Promise<void>((resolve) => (sloppy ? sloppy.close(() => resolve()) : resolve()));
    await znet.stop();
    await xstor.stop();
    await pool?.end();
    await db.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  async function snapshot(): Promise<string> {
    const products = await pool.query("SELECT provider, product_id, name, price, product_code, available FROM provider_product ORDER BY 1, 2");
    const routes = await pool.query("SELECT package_id, rank, provider, product_code, provider_product_id, max_cost::text FROM route ORDER BY 1, 2");
    return JSON.stringify([products.rows, routes.rows]);
  }

  /** The offer without its import time, after checking that time is recent (the price guard's age starts there). */
  function importedNow(offer: Offer | undefined): Omit<Offer, "priceImportedAt"> | undefined {
    if (offer === undefined) return undefined;
    const { priceImportedAt, ...rest } = offer;
    const age = Date.now() - Date.parse(priceImportedAt ?? "");
    assert.ok(age >= 0 && age < 60_000, `imported at ${priceImportedAt}`);
    return rest;
  }

  it("before any import, offers come from the mapping file's product codes, prices unknown", async () => {
    await new PgDispatchStore(pool).seedRoutes(readCatalogFile(CATALOG));
    assert.deepEqual(await new PgDispatchStore(pool).offers("pubg-60"), [
      { provider: "znet", productCode: { oyun: "101", kupur: "60" }, maxCost: "12.00", price: null, priceImportedAt: null },
      { provider: "xstor", productCode: { productId: "501", playerParam: "uid" }, maxCost: "12.00", price: null, priceImportedAt: null },
    ]);
  });

  it("imports znet pin_listesi once: oyun_bilgi_id and kupur are stored with the price, and routes are written", async () => {
    // A mapping whose znet product code is stale: the imported list wins.
    const stale = join(dir, "stale.json");
    const catalog = readCatalogFile(CATALOG);
    const first = catalog.packages[0];
    assert.ok(first !== undefined && first.offers[0] !== undefined);
    first.offers[0].productCode = { oyun: "999", kupur: "999" };
    writeFileSync(stale, JSON.stringify(catalog));
    const listCalls = znet.requestLog().filter((l) => l.includes("pin_listesi")).length;
    const r = await run(["--provider", "znet", "--mapping", stale], znetEnv);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { imported: "znet", products: 3, packages: 3, routes: 6, mapping: stale });
    assert.equal(znet.requestLog().filter((l) => l.includes("pin_listesi")).length, listCalls + 1);
    const rows = await pool.query<{ product_id: string; price: string; product_code: unknown }>(
      "SELECT product_id, price, product_code FROM provider_product WHERE provider = 'znet' ORDER BY product_id",
    );
    assert.deepEqual(rows.rows, [
      { product_id: "1", price: "10.12", product_code: { oyun: "101", kupur: "60" } },
      { product_id: "2", price: "50.60", product_code: { oyun: "101", kupur: "325" } },
      { product_id: "3", price: "18.75", product_code: { oyun: "202", kupur: "100" } },
    ]);
    const offers = await new PgDispatchStore(pool).offers("pubg-60");
    assert.deepEqual(importedNow(offers[0]), { provider: "znet", productCode: { oyun: "101", kupur: "60" }, maxCost: "12.00", price: "10.12" });
    assert.equal(offers[1]?.price, null, "x-stor is not imported yet");
    assert.ok(!r.stdout.includes(PASSWORD) && !r.stderr.includes(PASSWORD));
  });

  it("imports x-stor products: product id and its params become the product code", async () => {
    const r = await run(["--provider", "xstor", "--mapping", CATALOG], xstorEnv);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).products, 4);
    const store = new PgDispatchStore(pool);
    assert.deepEqual(importedNow((await store.offers("pubg-60"))[1]), { provider: "xstor", productCode: { productId: "501", playerParam: "uid" }, maxCost: "12.00", price: "9.80" });
    assert.deepEqual(importedNow((await store.offers("freefire-100"))[1]), {
      provider: "xstor",
      productCode: { productId: "601", playerParam: "uid", extraParam: "server" },
      maxCost: "20.00",
      price: "17.25",
    });
    assert.ok(!r.stdout.includes(TOKEN) && !r.stderr.includes(TOKEN));
  });

  it("sloppy provider JSON fails the import with the body's first bytes, changes nothing, exits non-zero", async () => {
    const before = await snapshot();
    const r = await run(["--provider", "znet", "--mapping", CATALOG], sloppyEnv);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /znet pin_listesi could not be imported: invalid JSON: "\{\\"success\\": true \\"result\\"/);
    assert.equal(r.stdout, "");
    assert.ok(!r.stderr.includes(PASSWORD) && !r.stderr.includes(encodeURIComponent(PASSWORD)));
    assert.equal(await snapshot(), before);
  });

  it("a mapping that names a product the provider does not list is refused and changes nothing", async () => {
    const before = await snapshot();
    const bad = join(dir, "bad.json");
    writeFileSync(
      bad,
      JSON.stringify({ packages: [{ id: "pubg-60", name: "PUBG Mobile 60 UC", offers: [{ provider: "znet", productId: "77", maxCost: "1.00" }] }] }),
    );
    const r = await run(["--provider", "znet", "--mapping", bad], znetEnv);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /package pubg-60 offer 0: znet product "77" is not in the provider's list/);
    assert.equal(await snapshot(), before);
  });

  it("bad usage and missing configuration exit 2; an unreadable mapping exits 1", async () => {
    assert.equal((await run(["--provider", "acme", "--mapping", CATALOG], znetEnv)).code, 2);
    assert.equal((await run(["--provider", "znet"], znetEnv)).code, 2, "no mapping and no CATALOG_FILE");
    assert.equal((await run(["--provider", "xstor", "--mapping", CATALOG], znetEnv)).code, 2, "x-stor not configured");
    const missing = await run(["--provider", "znet", "--mapping", join(dir, "nope.json")], znetEnv);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /cannot read catalog file/);
  });

  it("checkImport: duplicate ids and an empty list are problems; price above maxCost is a warning", () => {
    const catalog = parseCatalog(JSON.stringify({ packages: [{ id: "p", name: "P", offers: [{ provider: "znet", productId: "1", maxCost: "5.00" }] }] }));
    const item = { id: "1", name: "A", description: null, gameId: null, gameName: null, price: "10.12", kupur: "60", oyunBilgiId: "101" };
    assert.deepEqual(checkImport("znet", fromZnet([item]), catalog), {
      problems: [],
      warnings: ["package p offer 0: znet price 10.12 is above maxCost 5.00; orders will skip this offer"],
    });
    assert.match(checkImport("znet", fromZnet([item, item]), catalog).problems.join(), /listed twice/);
    assert.match(checkImport("znet", [], catalog).problems.join(), /empty/);
  });
});
