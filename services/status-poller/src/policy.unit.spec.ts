import { test } from "node:test";
import assert from "node:assert/strict";
import { loadConfig } from "@pinflow/service-kit";
import { PollerConfig, pollPlan, pollPolicy } from "./config.js";
import {
  adaptiveCheckBudget,
  DEFAULT_ADAPTIVE,
  DEFAULT_POLICY,
  PRESETS,
  SEED_POLICY,
  baseDelayMs,
  nextDelayMs,
  pollingPlan,
  withOverrides,
  type PollPolicy,
} from "./policy.js";

const REQUIRED = {
  PINFLOW_ENV: "test",
  DATABASE_URL: "postgres://x@127.0.0.1/x",
  AUTH_DATABASE_URL: "postgres://x@127.0.0.1/orders",
  HTTP_PORT: "0",
  ZNET_BASE_URL: "http://127.0.0.1:1/",
  ZNET_CODE: "555",
  ZNET_PASSWORD: "pw",
  PIN_KEYS: "k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
};

function schedule(policy: PollPolicy, checks: number): number[] {
  return Array.from({ length: checks }, (_, attempt) => baseDelayMs(policy, attempt));
}

test("the seed preset is the seed schedule, unchanged", () => {
  assert.deepEqual(schedule(SEED_POLICY, 9), [60_000, 30_000, 60_000, 120_000, 240_000, 480_000, 600_000, 600_000, 600_000]);
  assert.equal(SEED_POLICY.jitter, 0.1);
  assert.equal(PRESETS.seed, SEED_POLICY);
});

test("the default preset: 30 s four times, then ×1.4, capped at 5 min; jitter within ±10–20 %", () => {
  const delays = schedule(DEFAULT_POLICY, 16);
  assert.deepEqual(delays.slice(0, 7), [30_000, 30_000, 30_000, 30_000, 42_000, 58_800, 82_320]);
  for (let i = 1; i < delays.length; i++) assert.ok(delays[i]! >= delays[i - 1]!, "never shorter than the one before");
  assert.equal(delays.at(-1), 300_000);
  assert.ok(DEFAULT_POLICY.jitter >= 0.1 && DEFAULT_POLICY.jitter <= 0.2);
  for (let i = 0; i <= 50; i++) {
    const d = nextDelayMs(DEFAULT_POLICY, 5, i / 51);
    const base = baseDelayMs(DEFAULT_POLICY, 5);
    assert.ok(Math.abs(d - base) <= base * DEFAULT_POLICY.jitter + 1);
  }
  assert.equal(DEFAULT_POLICY.deadlineMs, SEED_POLICY.deadlineMs);
});

test("overrides replace only the fields that are set", () => {
  const p = withOverrides(DEFAULT_POLICY, { firstDelayMs: 5000, growth: undefined, delaysMs: [1000] });
  assert.equal(p.firstDelayMs, 5000);
  assert.deepEqual(p.delaysMs, [1000]);
  assert.equal(p.growth, DEFAULT_POLICY.growth);
  assert.deepEqual(withOverrides(SEED_POLICY, {}), SEED_POLICY);
});

test("per-provider selection: the global mode, a provider's own mode, overrides on every preset and on the adaptive fallback", () => {
  const plan = pollingPlan(
    { mode: "seed", byProvider: { xstor: "adaptive" }, overrides: { jitter: 0.2 }, adaptive: DEFAULT_ADAPTIVE, adaptiveFallback: "default" },
    ["znet", "xstor"],
  );
  assert.deepEqual(plan.znet, { mode: "preset", preset: "seed", policy: { ...SEED_POLICY, jitter: 0.2 } });
  assert.deepEqual(plan.xstor, {
    mode: "adaptive",
    policy: { ...DEFAULT_POLICY, jitter: 0.2, checkBudget: adaptiveCheckBudget(DEFAULT_ADAPTIVE) },
    adaptive: DEFAULT_ADAPTIVE,
  });
  // The per-watch bounds the adaptive mode states: 30 checks in the first hour, 100 in the first day.
  assert.deepEqual(adaptiveCheckBudget(DEFAULT_ADAPTIVE), [
    { withinMs: 3_600_000, maxChecks: 30 },
    { withinMs: 86_400_000, maxChecks: 100 },
  ]);
});

test("config: POLL_PRESET defaults to the default preset; the old POLL_* variables still override it", () => {
  const c = loadConfig(PollerConfig, { ...REQUIRED });
  assert.deepEqual(pollPolicy(c), DEFAULT_POLICY);
  assert.deepEqual(pollPlan(c).znet, { mode: "preset", preset: "default", policy: DEFAULT_POLICY });

  // The e2e tests' short schedule, as before.
  const e2e = loadConfig(PollerConfig, { ...REQUIRED, POLL_FIRST_DELAY_MS: "300", POLL_DELAYS_MS: "200,300,400", POLL_GROWTH: "2", POLL_MAX_DELAY_MS: "1000" });
  assert.deepEqual(pollPolicy(e2e), { ...DEFAULT_POLICY, firstDelayMs: 300, delaysMs: [200, 300, 400], growth: 2, maxDelayMs: 1000 });

  const seed = loadConfig(PollerConfig, { ...REQUIRED, POLL_PRESET: "seed" });
  assert.deepEqual(pollPolicy(seed), SEED_POLICY, "POLL_PRESET=seed is exactly the seed schedule");
});

test("config: POLL_PRESET_<PROVIDER> and the adaptive settings", () => {
  const c = loadConfig(PollerConfig, {
    ...REQUIRED,
    POLL_PRESET: "seed",
    POLL_PRESET_ZNET: "adaptive",
    POLL_ADAPTIVE_MIN_SAMPLES: "80",
    POLL_ADAPTIVE_BUDGET: "1.5",
    POLL_DEADLINE_MS: "7200000",
  });
  const plan = pollPlan(c);
  assert.equal(plan.xstor.mode, "preset");
  assert.deepEqual(plan.xstor.policy, { ...SEED_POLICY, deadlineMs: 7_200_000 });
  assert.equal(plan.znet.mode, "adaptive");
  if (plan.znet.mode !== "adaptive") return;
  assert.deepEqual(plan.znet.policy, { ...DEFAULT_POLICY, deadlineMs: 7_200_000, checkBudget: adaptiveCheckBudget(plan.znet.adaptive) });
  assert.equal(plan.znet.adaptive.minSamples, 80);
  assert.equal(plan.znet.adaptive.budget, 1.5);
  assert.equal(plan.znet.adaptive.window, DEFAULT_ADAPTIVE.window);
  assert.equal(plan.znet.adaptive.reference, SEED_POLICY);
  assert.throws(() => loadConfig(PollerConfig, { ...REQUIRED, POLL_PRESET: "fastest" }), /POLL_PRESET/);
  assert.throws(() => loadConfig(PollerConfig, { ...REQUIRED, POLL_PRESET_XSTOR: "nope" }), /POLL_PRESET_XSTOR/);
});
