// Writes docs/asyncapi.json from the zod schemas in packages/contracts (run after the build);
// with --check, fails when the committed document is out of date.
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { buildAsyncApi } from "../packages/contracts/dist/index.js";

const file = new URL("../docs/asyncapi.json", import.meta.url);
const text = `${JSON.stringify(buildAsyncApi(), null, 2)}\n`;
if (process.argv.includes("--check")) {
  let current = "";
  try {
    current = readFileSync(file, "utf8");
  } catch {
    // missing
  }
  if (current !== text) {
    console.error("docs/asyncapi.json is out of date: run `node scripts/asyncapi.mjs` and commit it");
    process.exit(1);
  }
  console.log("docs/asyncapi.json is up to date");
} else {
  mkdirSync(new URL("../docs/", import.meta.url), { recursive: true });
  writeFileSync(file, text);
  console.log("wrote docs/asyncapi.json");
}
