// Writes the nats-server configuration of pinflow's NATS users (one account, one user per service
// and environment plus the environment's admin, least-privilege permissions) from
// packages/bus/src/nats-access.ts (run after the build). Passwords are never in the file: the
// server reads each from its environment (NATS_PASSWORD_<ENV>_<ROLE>).
//
//   node scripts/nats-config.mjs --env staging [--env production] [--tls-cert F --tls-key F [--tls-ca F] [--tls-verify]] [--out FILE]
//   node scripts/nats-config.mjs --check     the configurations committed under deploy/ are up to date
import { readFileSync, writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { renderNatsServerConfig } from "../packages/bus/dist/index.js";
import { eventNames } from "../packages/contracts/dist/index.js";

/** The files deploy/ ships, and how each is generated. */
const DEPLOYED = [
  { file: "deploy/overlays/staging/nats-server.conf", environments: ["staging"] },
  { file: "deploy/overlays/development/nats-server.conf", environments: ["development"] },
  {
    file: "deploy/overlays/production/nats-server.conf",
    environments: ["production"],
    tls: { certFile: "/etc/nats/tls/tls.crt", keyFile: "/etc/nats/tls/tls.key", caFile: "/etc/nats/tls/ca.crt" },
  },
];

function render({ environments, tls }) {
  return renderNatsServerConfig({ environments: environments.map((e) => eventNames(e)), ...(tls ? { tls } : {}) });
}

const { values } = parseArgs({
  options: {
    env: { type: "string", multiple: true },
    "tls-cert": { type: "string" },
    "tls-key": { type: "string" },
    "tls-ca": { type: "string" },
    "tls-verify": { type: "boolean" },
    out: { type: "string" },
    check: { type: "boolean" },
    write: { type: "boolean" },
  },
});

const root = new URL("../", import.meta.url);
if (values.check || values.write) {
  let stale = 0;
  for (const d of DEPLOYED) {
    const text = render(d);
    const url = new URL(d.file, root);
    if (values.write) {
      writeFileSync(url, text);
      console.log(`wrote ${d.file}`);
      continue;
    }
    let current = "";
    try {
      current = readFileSync(url, "utf8");
    } catch {
      // missing
    }
    if (current !== text) {
      console.error(`${d.file} is out of date: run \`node scripts/nats-config.mjs --write\` and commit it`);
      stale++;
    }
  }
  if (stale) process.exit(1);
  if (values.check) console.log("deploy/ NATS configurations are up to date");
} else {
  if (!values.env?.length) {
    console.error("usage: node scripts/nats-config.mjs --env <environment> [--env …] [--tls-cert F --tls-key F [--tls-ca F] [--tls-verify]] [--out FILE] | --check | --write");
    process.exit(2);
  }
  if (!values["tls-cert"] !== !values["tls-key"]) {
    console.error("--tls-cert and --tls-key go together");
    process.exit(2);
  }
  const tls = values["tls-cert"]
    ? { certFile: values["tls-cert"], keyFile: values["tls-key"], ...(values["tls-ca"] ? { caFile: values["tls-ca"] } : {}), ...(values["tls-verify"] ? { verify: true } : {}) }
    : undefined;
  const text = render({ environments: values.env, tls });
  if (values.out) writeFileSync(values.out, text);
  else process.stdout.write(text);
}
