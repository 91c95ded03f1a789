/**
 * The alert rules (deploy/base/alerts.yaml) name only metrics the services register, and cover
 * what the operators must hear about: polling stopped, a growing review queue, dead letters, an
 * open circuit and consumer lag.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { REPO_ROOT } from "../support/paths.js";

interface Rule {
  alert: string;
  expr: string;
  labels?: { severity?: string };
  annotations?: { summary?: string };
}
interface PrometheusRule {
  apiVersion: string;
  kind: string;
  spec: { groups: Array<{ name: string; rules: Rule[] }> };
}

const rules = parse(readFileSync(join(REPO_ROOT, "deploy/base/alerts.yaml"), "utf8")) as PrometheusRule;
const alerts = rules.spec.groups.flatMap((g) => g.rules);

/** Every `name: "pinflow_…"` a source file registers. */
function registeredMetrics(): Set<string> {
  const names = new Set<string>();
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir)) {
      if (entry === "node_modules" || entry === "dist") continue;
      const path = join(dir, entry);
      if (statSync(path).isDirectory()) walk(path);
      else if (path.endsWith(".ts") && !path.endsWith(".spec.ts")) {
        for (const m of readFileSync(path, "utf8").matchAll(/name: "(pinflow_[a-z_]+)"/g)) names.add(m[1]!);
      }
    }
  };
  for (const root of ["packages", "services"]) walk(join(REPO_ROOT, root));
  return names;
}

test("the alert rules are a PrometheusRule whose every alert has an expression, a severity and a summary", () => {
  assert.equal(rules.apiVersion, "monitoring.coreos.com/v1");
  assert.equal(rules.kind, "PrometheusRule");
  assert.ok(alerts.length > 0);
  for (const a of alerts) {
    assert.ok(a.expr.trim().length > 0, `${a.alert} has an expression`);
    assert.ok(["critical", "warning", "info"].includes(a.labels?.severity ?? ""), `${a.alert} has a severity`);
    assert.ok((a.annotations?.summary ?? "").length > 0, `${a.alert} has a summary`);
  }
  assert.equal(new Set(alerts.map((a) => a.alert)).size, alerts.length, "alert names are unique");
});

test("every metric an alert reads is registered by a service (a renamed metric breaks this test, not the alert)", () => {
  const registered = registeredMetrics();
  for (const a of alerts) {
    for (const [metric] of a.expr.matchAll(/pinflow_[a-z_]+/g)) {
      // Counters are exposed with _total; histograms with _count/_sum/_bucket.
      const base = metric.replace(/_(count|sum|bucket)$/, "");
      assert.ok(registered.has(metric) || registered.has(base), `${a.alert} reads ${metric}, which no service registers`);
    }
  }
});

test("the operators hear of polling stopped, a growing review queue, dead letters, an open circuit and consumer lag", () => {
  const reads = (metric: string) => alerts.filter((a) => a.expr.includes(metric)).map((a) => a.alert);
  assert.ok(reads("pinflow_status_checks_total").length > 0, "polling stopped");
  assert.ok(reads('pinflow_orders{status="review"}').length > 0, "review queue growing");
  assert.ok(reads("pinflow_dead_letters_total").length > 0, "dead letters");
  assert.ok(reads("pinflow_provider_circuit_open_seconds").length > 0, "circuit open");
  assert.ok(reads("pinflow_consumer_pending").length > 0, "consumer lag");
});
