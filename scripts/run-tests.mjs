// Runs every compiled test file with Node's test runner, one file at a time
// (the int and e2e files start servers; the machine has two cores).
import { spawnSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";

const roots = ["packages", "services", "test", "examples"];
const kinds = (process.argv[2] ?? "unit,int,e2e").split(",");
const files = [];
function walk(dir) {
  for (const name of readdirSync(dir)) {
    if (name === "node_modules") continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) walk(path);
    else if (path.includes(`${"/"}dist${"/"}`) && kinds.some((k) => name.endsWith(`.${k}.spec.js`))) files.push(path);
  }
}
for (const root of roots) walk(root);
files.sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
function rank(f) {
  return f.endsWith(".unit.spec.js") ? 0 : f.endsWith(".int.spec.js") ? 1 : 2;
}
if (files.length === 0) {
  console.error("no compiled test files found: run the build first");
  process.exit(1);
}
console.log(`running ${files.length} test files`);
const result = spawnSync(process.execPath, ["--test", "--test-concurrency=1", "--test-timeout=300000", ...files], { stdio: "inherit" });
process.exit(result.status ?? 1);
