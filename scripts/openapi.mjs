// Writes docs/openapi.json (orders), docs/openapi.dispatcher.json and docs/openapi.status-poller.json
// from the route table and zod schemas in packages/contracts (run after the build); with --check,
// fails when a committed document is out of date.
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { buildOpenApi } from "../packages/api-docs/dist/index.js";

const documents = { orders: "openapi.json", dispatcher: "openapi.dispatcher.json", "status-poller": "openapi.status-poller.json" };
const check = process.argv.includes("--check");
let stale = 0;
mkdirSync(new URL("../docs/", import.meta.url), { recursive: true });
for (const [service, name] of Object.entries(documents)) {
  const file = new URL(`../docs/${name}`, import.meta.url);
  const text = `${JSON.stringify(buildOpenApi(service), null, 2)}\n`;
  if (!check) {
    writeFileSync(file, text);
    console.log(`wrote docs/${name}`);
    continue;
  }
  let current = "";
  try {
    current = readFileSync(file, "utf8");
  } catch {
    // missing
  }
  if (current !== text) {
    console.error(`docs/${name} is out of date: run \`node scripts/openapi.mjs\` and commit it`);
    stale++;
  }
}
if (check && stale > 0) process.exit(1);
if (check) console.log("docs/openapi*.json are up to date");
