// Architecture rules, checked in CI: no service imports another service;
// shared packages never import services; contracts depend on zod only.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";

const services = readdirSync("services");
const problems = [];
function sources(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (name === "node_modules" || name === "dist") continue;
    if (statSync(path).isDirectory()) out.push(...sources(path));
    else if (name.endsWith(".ts")) out.push(path);
  }
  return out;
}
const importsOf = (file) => [...readFileSync(file, "utf8").matchAll(/(?:from|import)\s*\(?\s*["']([^"']+)["']/g)].map((m) => m[1]);

for (const service of services) {
  for (const file of sources(join("services", service, "src"))) {
    for (const spec of importsOf(file)) {
      const other = services.find((s) => s !== service && (spec === `@pinflow/${s}` || spec.includes(`services/${s}`) || spec.includes(`../${s}/`)));
      if (other) problems.push(`${file} imports service ${other} (${spec})`);
    }
  }
}
for (const pkg of readdirSync("packages")) {
  for (const file of sources(join("packages", pkg, "src"))) {
    for (const spec of importsOf(file)) {
      if (services.some((s) => spec === `@pinflow/${s}` || spec.includes("services/"))) problems.push(`${file} imports a service (${spec})`);
      const testOnly = file.endsWith(".spec.ts") && spec.startsWith("node:");
      if (pkg === "contracts" && !spec.startsWith(".") && spec !== "zod" && !testOnly) problems.push(`${file}: contracts may import only zod (${spec})`);
    }
  }
}
if (problems.length) {
  console.error(`boundary violations:\n  ${problems.join("\n  ")}`);
  process.exit(1);
}
console.log(`boundaries ok (${services.length} services)`);
