/**
 * What the chaos run throws at the system, as pure data from a seed: the kinds of customer
 * (each a player-id prefix the provider simulators misbehave for), and the fault schedule (which
 * process dies or which provider fault window opens, at which moment). Same seed, same run plan.
 */
import type { XstorRule } from "../simulators/xstor.js";
import type { ZnetRule } from "../simulators/znet.js";

export type Rng = () => number;

/** znet refuses for lack of balance: a definite refusal before acceptance, so the order falls back to x-stor. */
const ZNET_NO_BALANCE = "8|Yetersiz bakiye";

/**
 * A kind of order: its player id starts with `prefix`; the simulators' rules for that prefix; how
 * often it is drawn. The outcome is not predicted: every kind must end completed, failed or in review,
 * placed at most once.
 */
export interface PlayerKind {
  prefix: string;
  weight: number;
  what: string;
  znet?: Omit<ZnetRule, "playerId" | "match">;
  xstor?: Omit<XstorRule, "playerId" | "match">;
}

export const PLAYER_KINDS: readonly PlayerKind[] = [
  { prefix: "ok", weight: 40, what: "no fault" },
  { prefix: "zhang", weight: 3, what: "znet place never answers (client time-out)", znet: { placeFault: "hang" } },
  { prefix: "zdrop", weight: 5, what: "znet accepts, then drops the connection", znet: { placeFault: "drop-after-accept" } },
  { prefix: "zslow", weight: 4, what: "znet accepts, answers after the client's time-out", znet: { placeFault: "slow-accept", slowMs: 4_000 } },
  { prefix: "zempty", weight: 3, what: "znet place answers an empty body", znet: { placeFault: "empty" } },
  { prefix: "zhtml", weight: 3, what: "znet place answers an HTML page", znet: { placeFault: "html" } },
  { prefix: "z500", weight: 3, what: "znet place answers 500", znet: { placeFault: "http500" } },
  { prefix: "zgarb", weight: 2, what: "znet status answers garbage", znet: { checkFault: "garbage" } },
  { prefix: "zcancel", weight: 4, what: "znet cancels the order", znet: { outcome: "cancel" } },
  { prefix: "znever", weight: 2, what: "znet never finishes the order", znet: { outcome: "never" } },
  { prefix: "zrefuse", weight: 8, what: "znet refuses for lack of balance (fallback to x-stor)", znet: { placeReply: ZNET_NO_BALANCE } },
  { prefix: "xdrop", weight: 3, what: "fallback; x-stor accepts, then drops", znet: { placeReply: ZNET_NO_BALANCE }, xstor: { placeFault: "drop-after-accept" } },
  { prefix: "xslow", weight: 3, what: "fallback; x-stor answers after the time-out", znet: { placeReply: ZNET_NO_BALANCE }, xstor: { placeFault: "slow-accept", slowMs: 4_000 } },
  { prefix: "x500", weight: 2, what: "fallback; x-stor answers 500", znet: { placeReply: ZNET_NO_BALANCE }, xstor: { placeFault: "http500" } },
  { prefix: "xempty", weight: 2, what: "fallback; x-stor answers empty", znet: { placeReply: ZNET_NO_BALANCE }, xstor: { placeFault: "empty" } },
  { prefix: "xhang", weight: 2, what: "fallback; x-stor never answers", znet: { placeReply: ZNET_NO_BALANCE }, xstor: { placeFault: "hang" } },
  { prefix: "xreject", weight: 3, what: "fallback; x-stor rejects (cancels) the order", znet: { placeReply: ZNET_NO_BALANCE }, xstor: { outcome: "reject" } },
  { prefix: "xnever", weight: 1, what: "fallback; x-stor never finishes", znet: { placeReply: ZNET_NO_BALANCE }, xstor: { outcome: "never" } },
  { prefix: "xgarb", weight: 1, what: "fallback; x-stor status answers garbage", znet: { placeReply: ZNET_NO_BALANCE }, xstor: { checkFault: "garbage" } },
];

/** Packages the chaos orders buy (both have a znet and an x-stor offer and need only the player id). */
export const CHAOS_PACKAGES = ["pubg-60", "pubg-325"] as const;

export interface PlannedOrder {
  /** Also the Idempotency-Key: one per order, so a retried POST never makes a second order. */
  playerId: string;
  packageId: (typeof CHAOS_PACKAGES)[number];
  kind: string;
}

/** The orders of a run: kinds drawn by weight, player ids `<prefix>-<n>-<seed>` (unique per run). */
export function planOrders(rng: Rng, count: number, seed: number): PlannedOrder[] {
  const total = PLAYER_KINDS.reduce((sum, k) => sum + k.weight, 0);
  const orders: PlannedOrder[] = [];
  for (let n = 0; n < count; n++) {
    let draw = rng() * total;
    const kind = PLAYER_KINDS.find((k) => (draw -= k.weight) < 0) ?? PLAYER_KINDS[0]!;
    orders.push({ playerId: `${kind.prefix}-${n}-${seed}`, packageId: CHAOS_PACKAGES[Math.floor(rng() * CHAOS_PACKAGES.length)]!, kind: kind.prefix });
  }
  return orders;
}

/** A process of the system the schedule can hit: `orders#1`, `dispatcher#2`, … */
export type ReplicaName = `${"orders" | "dispatcher" | "status-poller"}#${1 | 2}`;
export const REPLICAS: readonly ReplicaName[] = ["orders#1", "orders#2", "dispatcher#1", "dispatcher#2", "status-poller#1", "status-poller#2"];

/** A window in which a whole provider misbehaves for every order (on top of the per-player kinds). */
export type ProviderWindow =
  | "znet-place-500"
  | "znet-drop-after-accept"
  | "znet-no-balance"
  | "znet-check-html"
  | "znet-slow"
  | "xstor-place-500"
  | "xstor-check-empty";
export const PROVIDER_WINDOWS: readonly ProviderWindow[] = [
  "znet-place-500",
  "znet-drop-after-accept",
  "znet-no-balance",
  "znet-check-html",
  "znet-slow",
  "xstor-place-500",
  "xstor-check-empty",
];

export type FaultEvent =
  | { atMs: number; kind: "kill"; replica: ReplicaName; downMs: number }
  | { atMs: number; kind: "restart-nats"; downMs: number }
  | { atMs: number; kind: "restart-postgres"; downMs: number }
  | { atMs: number; kind: "provider-window"; window: ProviderWindow; durationMs: number }
  | { atMs: number; kind: "hostile"; requests: number };

export interface ScheduleOptions {
  /** Faults happen in [0, durationMs). */
  durationMs: number;
  /** SIGKILL + restart of every replica this many times (default 1). */
  killRounds?: number;
  /** Restarts of nats-server and of PostgreSQL (default 1 each). */
  natsRestarts?: number;
  postgresRestarts?: number;
  /** Provider fault windows (default: each window once). */
  providerWindows?: number;
  /** Bursts of hostile requests (default 4) of `hostilePerBurst` (default 25). */
  hostileBursts?: number;
  hostilePerBurst?: number;
  /** Replicas never killed (the soak keeps the first replicas alive to watch their growth). */
  spare?: readonly ReplicaName[];
}

/** The fault schedule: every fault at a random moment (seeded) in the first 85 % of the run, sorted by time. */
export function faultSchedule(rng: Rng, o: ScheduleOptions): FaultEvent[] {
  const at = () => Math.floor((0.03 + rng() * 0.82) * o.durationMs);
  const between = (lo: number, hi: number) => Math.floor(lo + rng() * (hi - lo));
  const events: FaultEvent[] = [];
  for (let round = 0; round < (o.killRounds ?? 1); round++) {
    for (const replica of REPLICAS) {
      if (o.spare?.includes(replica)) continue;
      events.push({ atMs: at(), kind: "kill", replica, downMs: between(300, 3_000) });
    }
  }
  for (let i = 0; i < (o.natsRestarts ?? 1); i++) events.push({ atMs: at(), kind: "restart-nats", downMs: between(500, 3_000) });
  for (let i = 0; i < (o.postgresRestarts ?? 1); i++) events.push({ atMs: at(), kind: "restart-postgres", downMs: between(500, 3_000) });
  const windows = o.providerWindows ?? PROVIDER_WINDOWS.length;
  for (let i = 0; i < windows; i++) {
    events.push({ atMs: at(), kind: "provider-window", window: PROVIDER_WINDOWS[i % PROVIDER_WINDOWS.length]!, durationMs: between(1_000, 4_000) });
  }
  for (let i = 0; i < (o.hostileBursts ?? 4); i++) events.push({ atMs: at(), kind: "hostile", requests: o.hostilePerBurst ?? 25 });
  return events.sort((a, b) => a.atMs - b.atMs);
}

/** One line per fault, for the report. */
export function describeFault(e: FaultEvent): string {
  const t = `t+${(e.atMs / 1000).toFixed(1)}s`;
  switch (e.kind) {
    case "kill":
      return `${t} SIGKILL ${e.replica}, restart after ${e.downMs} ms`;
    case "restart-nats":
      return `${t} nats-server stopped, started again after ${e.downMs} ms`;
    case "restart-postgres":
      return `${t} PostgreSQL stopped (immediate), started again after ${e.downMs} ms`;
    case "provider-window":
      return `${t} provider window ${e.window} for ${e.durationMs} ms`;
    case "hostile":
      return `${t} ${e.requests} hostile requests`;
  }
}
