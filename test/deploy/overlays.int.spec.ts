/**
 * deploy/ as it would be applied: every overlay renders, every object is valid Kubernetes, and the
 * properties the deployment promises hold in what is rendered (tags, probes, resources, budgets,
 * network reach, NATS with JetStream on a volume, traces' endpoint, provider-only configurations).
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NATS_ROLES } from "@pinflow/bus";
import { generatePinKeyring } from "@pinflow/secrets";
import { eventually, freePort } from "@pinflow/testkit";
import { REPO_ROOT } from "../support/paths.js";
import { containersOf, overlayNames, renderOverlay, validateObject, type K8sObject } from "./overlays.js";

const SERVICES = ["orders", "dispatcher", "status-poller"] as const;
const rendered = new Map(overlayNames().map((name) => [name, renderOverlay(name)]));
const byKind = (objects: K8sObject[], kind: string) => objects.filter((o) => o.kind === kind);
const named = (objects: K8sObject[], kind: string, name: string) => {
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name);
  assert.ok(found, `${kind}/${name} is rendered`);
  return found;
};
const workloads = (objects: K8sObject[]) => objects.filter((o) => ["Deployment", "StatefulSet", "Job"].includes(o.kind));
const labelsOf = (o: K8sObject) => ((o.spec as { template: { metadata: { labels: Record<string, string> } } }).template.metadata.labels ?? {});

describe("deploy/: every overlay renders and validates against the Kubernetes schemas", () => {
  test("the overlays are the ones promised", () => {
    assert.deepEqual([...rendered.keys()], ["development", "production", "staging", "xstor-only", "znet-only"]);
  });

  for (const [name, objects] of rendered) {
    test(`${name}: every object is valid`, async () => {
      const problems = (await Promise.all(objects.map(validateObject))).flat();
      assert.deepEqual(problems, []);
    });
  }

  test("the validator refuses a wrong object (a port that is not a number, a misspelt container field, an unknown kind)", async () => {
    const deployment = structuredClone(named(rendered.get("staging")!, "Deployment", "orders"));
    const container = containersOf(deployment)[0]!;
    (container.ports as { containerPort: unknown }[])[0]!.containerPort = "eighty";
    container["readinesProbe"] = container["readinessProbe"];
    const problems = await validateObject(deployment);
    assert.ok(problems.some((p) => /containerPort/.test(p)), problems.join("; "));
    assert.ok(problems.some((p) => /unknown field readinesProbe/.test(p)), problems.join("; "));
    assert.match((await validateObject({ apiVersion: "example.com/v1", kind: "Widget", metadata: { name: "w" } })).join(), /no schema/);
  });
});

describe("deploy/: what every overlay promises", () => {
  for (const [name, objects] of rendered) {
    test(`${name}: images are tagged (never latest), containers have probes and resources`, () => {
      for (const w of workloads(objects)) {
        for (const c of containersOf(w)) {
          const image = String(c.image);
          assert.match(image, /^[^:@]+(:[\w.-]+|@sha256:[0-9a-f]{64})$/, `${w.metadata.name}: ${image} has a tag`);
          assert.doesNotMatch(image, /:latest$/, `${w.metadata.name}: not latest`);
          const resources = c.resources as { requests?: { cpu?: string; memory?: string }; limits?: { memory?: string } } | undefined;
          assert.ok(resources?.requests?.cpu && resources.requests.memory && resources.limits?.memory, `${w.metadata.name}: requests and a memory limit`);
          if (w.kind !== "Job") {
            assert.ok(c.readinessProbe && c.livenessProbe, `${w.metadata.name}: readiness and liveness probes`);
          }
        }
      }
    });

    test(`${name}: the services run their pnpm deploy entry, each has a disruption budget`, () => {
      for (const service of SERVICES) {
        const d = named(objects, "Deployment", service);
        assert.deepEqual(containersOf(d)[0]!.command, ["node", "dist/start.js"]);
        const budget = byKind(objects, "PodDisruptionBudget").find((p) => (p.spec as { selector: { matchLabels: Record<string, string> } }).selector.matchLabels["app.kubernetes.io/name"] === service);
        assert.ok(budget, `${service} has a PodDisruptionBudget`);
      }
    });

    test(`${name}: only the orders API is reachable from outside the namespace`, () => {
      const policies = byKind(objects, "NetworkPolicy");
      type Rule = { from?: { podSelector?: unknown; namespaceSelector?: unknown; ipBlock?: unknown }[] };
      type Policy = { podSelector: { matchLabels?: Record<string, string>; matchExpressions?: { key: string; operator: string; values: string[] }[] }; ingress?: Rule[] };
      const selects = (p: Policy, labels: Record<string, string>) =>
        Object.entries(p.podSelector.matchLabels ?? {}).every(([k, v]) => labels[k] === v) &&
        (p.podSelector.matchExpressions ?? []).every((e) => e.operator === "In" && e.values.includes(labels[e.key] ?? ""));
      // A rule without `from`, or with a namespace or IP source, lets traffic in from outside the namespace.
      const fromOutside = (r: Rule) => !r.from || r.from.some((f) => f.namespaceSelector !== undefined || f.ipBlock !== undefined);
      assert.ok(policies.some((p) => Object.keys((p.spec as Policy).podSelector).length === 0 && !(p.spec as Policy).ingress), "a default deny of all ingress");
      const reachable = workloads(objects)
        .filter((w) => w.kind !== "Job")
        .filter((w) => policies.some((p) => selects(p.spec as Policy, labelsOf(w)) && ((p.spec as Policy).ingress ?? []).some(fromOutside)))
        .map((w) => w.metadata.name);
      assert.deepEqual(reachable, ["orders"]);
    });

    test(`${name}: NATS with JetStream as a StatefulSet on a persistent volume, with a password for each of its users`, () => {
      const nats = named(objects, "StatefulSet", "nats");
      const claims = (nats.spec as { volumeClaimTemplates?: { metadata: { name: string } }[] }).volumeClaimTemplates ?? [];
      assert.deepEqual(claims.map((c) => c.metadata.name), ["data"]);
      const container = containersOf(nats)[0]!;
      assert.ok((container.volumeMounts as { name: string; mountPath: string }[]).some((m) => m.name === "data" && m.mountPath === "/data"));
      const main = (named(objects, "ConfigMap", nameLike(objects, "nats-config")).data as Record<string, string>)["nats.conf"]!;
      assert.match(main, /jetstream\s*\{[^}]*store_dir: \/data\/jetstream/);
      const users = (named(objects, "ConfigMap", nameLike(objects, "pinflow-nats-server")).data as Record<string, string>)["nats-server.conf"]!;
      const wanted = [...users.matchAll(/password: \$(\w+)/g)].map((m) => m[1]).sort();
      const given = ((container.env as { name: string }[]) ?? []).map((e) => e.name).filter((n) => n.startsWith("NATS_PASSWORD_")).sort();
      assert.equal(wanted.length, NATS_ROLES.length, "one password per NATS role (services, subscribers, admin)");
      assert.deepEqual(given, wanted, "the server gets every password its configuration reads");
      const env = commonEnv(objects);
      assert.match(env.NATS_URL ?? "", /^nats:\/\/nats:4222$/);
    });
  }

  test("development runs Jaeger all-in-one and sends the traces to it; production names an OTLP endpoint", () => {
    const dev = rendered.get("development")!;
    const jaeger = named(dev, "Deployment", "jaeger");
    assert.match(String(containersOf(jaeger)[0]!.image), /^jaegertracing\//);
    const otlpPort = (named(dev, "Service", "jaeger").spec as { ports: { name: string; port: number }[] }).ports.find((p) => p.name === "otlp-http")!;
    assert.equal(commonEnv(dev).OTEL_EXPORTER_OTLP_ENDPOINT, `http://jaeger:${otlpPort.port}`);
    assert.match(commonEnv(rendered.get("production")!).OTEL_EXPORTER_OTLP_ENDPOINT ?? "", /^https?:\/\/[^/]+:4318$/);
    assert.ok(!byKind(rendered.get("production")!, "Deployment").some((d) => d.metadata.name === "jaeger"), "no Jaeger all-in-one in production");
  });
});

/** The generated name of a ConfigMap (`name-<hash>`). */
function nameLike(objects: K8sObject[], prefix: string): string {
  const found = objects.find((o) => o.kind === "ConfigMap" && (o.metadata.name === prefix || o.metadata.name.startsWith(`${prefix}-`)) && !o.metadata.name.startsWith(`${prefix}-server`));
  assert.ok(found, `ConfigMap ${prefix} is rendered`);
  return found.metadata.name;
}

function commonEnv(objects: K8sObject[]): Record<string, string> {
  return named(objects, "ConfigMap", nameLike(objects, "pinflow-common")).data as Record<string, string>;
}

/**
 * A container's environment as Kubernetes would give it: its ConfigMaps, and each secret key
 * (a stand-in value; an optional key the secret does not hold is left out), `$(VAR)` expanded.
 */
function containerEnv(objects: K8sObject[], workload: K8sObject, secrets: ReadonlySet<string>): Record<string, string> {
  const c = containersOf(workload)[0]!;
  const env: Record<string, string> = {};
  for (const from of (c.envFrom as { configMapRef?: { name: string } }[]) ?? []) Object.assign(env, named(objects, "ConfigMap", from.configMapRef!.name).data);
  const pins = generatePinKeyring();
  for (const e of (c.env as { name: string; value?: string; valueFrom?: { secretKeyRef?: { key: string; optional?: boolean } } }[]) ?? []) {
    if (e.value !== undefined) env[e.name] = e.value.replace(/\$\((\w+)\)/g, (_, v: string) => env[v] ?? "");
    const ref = e.valueFrom?.secretKeyRef;
    if (!ref) continue;
    if (!secrets.has(ref.key)) {
      assert.ok(ref.optional, `${workload.metadata.name}: ${e.name} needs secret key ${ref.key}`);
      continue;
    }
    env[e.name] = ref.key === "PIN_KEYS" ? pins : ref.key.endsWith("DATABASE_URL") ? "postgres://pinflow:pw@db.example:5432/pinflow" : ref.key.endsWith("BASE_URL") ? "https://provider.example" : "pfStandInSecret1";
  }
  return env;
}

/** Load a service's configuration in a child process (its own config module, as at start) and report its providers. */
function loadServiceConfig(service: "dispatcher" | "status-poller", env: Record<string, string>): { ok: boolean; out: string } {
  const script =
    service === "dispatcher"
      ? `const m = await import(${JSON.stringify(join(REPO_ROOT, "services/dispatcher/dist/config.js"))}); const c = m.loadDispatcherConfig(); console.log(JSON.stringify({ znet: c.znet !== null, xstor: c.xstor !== null }));`
      : `const m = await import(${JSON.stringify(join(REPO_ROOT, "services/status-poller/dist/config.js"))}); const k = await import(${JSON.stringify(join(REPO_ROOT, "packages/service-kit/dist/index.js"))}); const a = m.providerAccounts(k.loadConfig(m.PollerConfig)); console.log(JSON.stringify({ znet: !!a.znet, xstor: !!a.xstor }));`;
  const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], { env: { PATH: process.env.PATH ?? "", ...env }, encoding: "utf8" });
  return { ok: r.status === 0, out: `${r.stdout}${r.stderr}` };
}

describe("deploy/: the single-provider overlays' configurations start", () => {
  const cases = [
    { overlay: "xstor-only", secrets: ["XSTOR_BASE_URL", "XSTOR_TOKEN"], providers: { znet: false, xstor: true } },
    { overlay: "znet-only", secrets: ["ZNET_BASE_URL", "ZNET_CODE", "ZNET_PASSWORD"], providers: { znet: true, xstor: false } },
  ];
  for (const { overlay, secrets, providers } of cases) {
    for (const service of ["dispatcher", "status-poller"] as const) {
      test(`${overlay}: the ${service}'s rendered environment is a valid configuration with ${overlay.replace("-only", "")} alone`, () => {
        const objects = rendered.get(overlay)!;
        const keys = new Set([service, "PIN_KEYS", "DISPATCHER_DATABASE_URL", "POLLER_DATABASE_URL", "KEYS_READER_DATABASE_URL", ...secrets]);
        const env = containerEnv(objects, named(objects, "Deployment", service), keys);
        const loaded = loadServiceConfig(service, env);
        assert.ok(loaded.ok, loaded.out);
        assert.deepEqual(JSON.parse(loaded.out.trim().split("\n").at(-1)!), providers);
      });
    }
    test(`${overlay}: without its provider's secrets the dispatcher does not get a configuration`, () => {
      const objects = rendered.get(overlay)!;
      // Kubernetes refuses to start a pod whose required secret key is missing.
      assert.throws(() => containerEnv(objects, named(objects, "Deployment", "dispatcher"), new Set(["dispatcher", "PIN_KEYS", "DISPATCHER_DATABASE_URL", "KEYS_READER_DATABASE_URL"])), /needs secret key (ZNET|XSTOR)_/);
    });
  }
});

describe("deploy/: the NATS server configuration starts (nats-server on this machine)", () => {
  for (const overlay of ["development", "staging"]) {
    test(`${overlay}: nats.conf with the environment's users starts with JetStream enabled`, async () => {
      const objects = rendered.get(overlay)!;
      const dir = mkdtempSync(join(tmpdir(), "pinflow-nats-conf-"));
      try {
        mkdirSync(join(dir, "pinflow"));
        const main = (named(objects, "ConfigMap", nameLike(objects, "nats-config")).data as Record<string, string>)["nats.conf"]!;
        // The store and the pid file moved into the temporary directory (the volume and /var/run/nats of the pod).
        assert.ok(main.includes("store_dir: /data/jetstream") && main.includes("pid_file: /var/run/nats/nats.pid"));
        writeFileSync(join(dir, "nats.conf"), main.replace("/data/jetstream", join(dir, "store")).replace("/var/run/nats/nats.pid", join(dir, "nats.pid")));
        writeFileSync(join(dir, "pinflow/nats-server.conf"), (named(objects, "ConfigMap", nameLike(objects, "pinflow-nats-server")).data as Record<string, string>)["nats-server.conf"]!);
        const container = containersOf(named(objects, "StatefulSet", "nats"))[0]!;
        const env: Record<string, string> = { PATH: process.env.PATH ?? "", POD_NAME: "nats-0" };
        for (const e of container.env as { name: string }[]) if (e.name.startsWith("NATS_PASSWORD_")) env[e.name] = "pfStandInSecret1";
        const [port, monitor] = [await freePort(), await freePort()];
        // Other ports: the machine's own NATS uses 4222.
        const server = spawn("nats-server", ["-c", join(dir, "nats.conf"), "-p", String(port), "-m", String(monitor)], { env, stdio: "ignore" });
        try {
          await eventually(async () => {
            const res = await fetch(`http://127.0.0.1:${monitor}/healthz?js-enabled-only=true`);
            assert.equal(res.status, 200);
          }, 15_000, 100);
          const jsz = (await (await fetch(`http://127.0.0.1:${monitor}/jsz?accounts=true`)).json()) as { account_details?: { name: string }[] };
          assert.ok((jsz.account_details ?? []).some((a) => a.name === "PINFLOW"), "the PINFLOW account has JetStream");
        } finally {
          server.kill("SIGTERM");
        }
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});
