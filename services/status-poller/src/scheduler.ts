/**
 * The durable schedule's engine (DESIGN.md §5): every tick, claim due watches
 * with a lease (compare-and-set, `FOR UPDATE SKIP LOCKED`), ask the provider,
 * and commit the decision together with its events in one transaction.
 * Several replicas can run at once: claims are disjoint, and a result is only
 * written while the claim still holds. A crashed replica's claims come back
 * when their lease runs out.
 */
import { makeEvent, factMsgId, type EventOrigin } from "@pinflow/bus";
import { ProviderName, type OrderEvent } from "@pinflow/contracts";
import type { CallOutcome, GateDecision } from "@pinflow/limits";
import type { OutboxEntry } from "@pinflow/pg";
import type { Logger } from "pino";
import { inClaimTrace, traceCheckUnit } from "./check-trace.js";
import { classifyCall, OPEN_GATE, type CallGate } from "./gate.js";
import { noopObserver, type SchedulerObserver } from "./metrics.js";
import type { PollPlanner } from "./planner.js";
import {
  assertNever,
  decideCheck,
  decideHeld,
  holdText,
  isOutage,
  type CheckResult,
  type Clock,
  type Decision,
  type EventDraft,
  type HoldReason,
  type Watch,
} from "./poll.js";
import { callsFor, type StatusChecker } from "./status-checker.js";
import type { Claim, WatchStore } from "./watch-store.js";

export interface SchedulerOptions {
  /** This replica's name, stamped on its leases. */
  owner: string;
  tickMs: number;
  /**
   * Provider calls claimed ahead by this process (claimed and not yet settled). A call checks one
   * watch, or up to the checker's `maxBatch` watches (x-stor: 50) where the provider has a batch check.
   */
  claimBatch: number;
  /** Provider calls in flight at once in this process. */
  concurrency: number;
  leaseMs: number;
  /** A claim with less lease left than this is given back instead of checked (it could not finish in time). */
  minLeaseLeftMs: number;
  /** How often the planner learns its schedules again from the recorded completions (and trims them). */
  planRefreshMs: number;
  /** How long a call waits in-process for a rate/concurrency permit before its watches are rescheduled (default 0). */
  gateWaitMs?: number;
  /** The pause after an HTTP 429 without a Retry-After header (default 10 s). */
  defaultRetryAfterMs?: number;
}

export interface SchedulerDeps {
  store: WatchStore;
  checkers: readonly StatusChecker[];
  /** Every provider call runs under the provider's gate (rate, concurrency, breaker, pause); default none. */
  gate?: CallGate;
  /** Each provider's policy and the cadence of each watch (preset or learnt). */
  planner: PollPlanner;
  clock: Clock;
  random: () => number;
  newId: () => string;
  /** Called after each commit that enqueued events (the outbox relay's kick). */
  committed: () => void;
  logger: Logger;
  observer?: SchedulerObserver;
}

/** A provider this process leaves alone until `untilMs` (clock time), and why. */
export interface ProviderHold {
  reason: HoldReason;
  untilMs: number;
}

export class Scheduler {
  private readonly checkers: Map<ProviderName, StatusChecker>;
  private readonly gate: CallGate;
  private readonly observer: SchedulerObserver;
  private readonly units = new Set<Promise<void>>();
  private readonly waiting: Array<() => void> = [];
  /** Providers whose gate said "not now": their due watches are not claimed until then. */
  private readonly holds = new Map<ProviderName, ProviderHold>();
  /**
   * Providers coming back from an outage (circuit open, 429, paused): one call goes first
   * ("due": not sent yet; "sent": in flight), the rest follow once it has answered, so a provider
   * that is still down gets one probe per replica, not a burst.
   */
  private readonly probes = new Map<ProviderName, "due" | "sent">();
  private timer: NodeJS.Timeout | undefined;
  private planTimer: NodeJS.Timeout | undefined;
  private planning: Promise<void> | undefined;
  private pass: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  /** Provider calls (units) claimed by this process and not yet settled or released. */
  private heldUnits = 0;
  private calls = 0;
  /** Rotates which provider is claimed for first, so one cannot starve the other. */
  private turn = 0;
  /** The last claim filled all the room there was: more watches are probably due. */
  private backlogLikely = false;

  constructor(
    private readonly deps: SchedulerDeps,
    private readonly opts: SchedulerOptions,
  ) {
    this.checkers = new Map(deps.checkers.map((c) => [c.provider, c]));
    this.gate = deps.gate ?? OPEN_GATE;
    this.observer = deps.observer ?? noopObserver;
  }

  start(): void {
    this.stopped = false;
    this.timer = setInterval(() => this.kick(), this.opts.tickMs);
    this.planTimer = setInterval(() => this.refreshPlan(), this.opts.planRefreshMs);
    this.refreshPlan();
    this.kick();
  }

  /** Stop claiming, and wait for the checks in flight to be settled. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    if (this.planTimer) clearInterval(this.planTimer);
    await this.pass;
    await Promise.allSettled([...this.units]);
    await this.planning;
  }

  /** Resolves once no claim pass and no provider call is in progress (tests step an injected clock with it). */
  async idle(): Promise<void> {
    while (this.pass || this.units.size > 0) {
      await this.pass;
      await Promise.allSettled([...this.units]);
    }
  }

  /** Learn the schedules again from the recorded completions (periodic; a failure keeps the last ones). */
  refreshPlan(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    this.planning ??= this.deps.planner
      .refresh(this.deps.clock.now())
      .catch((error) => this.deps.logger.warn({ err: error, owner: this.opts.owner }, "refreshing the poll plan failed; keeping the last one"))
      .finally(() => (this.planning = undefined));
    return this.planning;
  }

  /** Look for due watches now (also called by the timer and when capacity frees up). */
  kick(): void {
    if (this.stopped) return;
    if (this.pass) {
      this.again = true;
      return;
    }
    this.pass = this.claimPass()
      .catch((error) => this.deps.logger.error({ err: error, owner: this.opts.owner }, "claiming due watches failed; will retry"))
      .finally(() => {
        this.pass = undefined;
        if (this.again) {
          this.again = false;
          this.kick();
        }
      });
  }

  /** The providers this process checks. */
  providers(): ProviderName[] {
    return [...this.checkers.keys()];
  }

  /** Why (and until when) this process leaves a provider alone right now; null when it does not. */
  holdOf(provider: ProviderName): ProviderHold | null {
    const hold = this.holds.get(provider);
    if (!hold) return null;
    if (hold.untilMs <= this.deps.clock.now().getTime()) {
      this.holds.delete(provider);
      if (isOutage(hold.reason) && !this.probes.has(provider)) this.probes.set(provider, "due");
      return null;
    }
    return hold;
  }

  /** Forget this process's hold on a provider (an operator resumed it) and look for due watches. */
  releaseHold(provider: ProviderName): void {
    this.holds.delete(provider);
    this.probes.delete(provider);
    this.kick();
  }

  private holdProvider(provider: ProviderName, reason: HoldReason, waitMs: number): void {
    const untilMs = this.deps.clock.now().getTime() + Math.max(0, waitMs);
    const before = this.holdOf(provider);
    if (before && before.untilMs >= untilMs) return;
    this.holds.set(provider, { reason, untilMs });
    if (before?.reason !== reason && isOutage(reason)) {
      this.deps.logger.warn({ provider, reason, waitMs, owner: this.opts.owner }, `checks held back: ${holdText(provider, reason)}`);
    }
  }

  private async claimPass(): Promise<void> {
    while (!this.stopped) {
      const now = this.deps.clock.now();
      let full = false;

      // Past their deadline, watches of a provider nobody here can ask (none configured, paused, circuit
      // open) go to review without a last check: a deadline is never missed because a provider is down.
      const idle = new Map<ProviderName, HoldReason>();
      for (const p of ProviderName.options) {
        const hold = this.checkers.has(p) ? this.holdOf(p) : { reason: "no_checker" as const, untilMs: Infinity };
        if (hold !== null && isOutage(hold.reason)) idle.set(p, hold.reason);
      }
      if (idle.size > 0) {
        const limit = this.opts.claimBatch;
        const overdue = await this.deps.store.claimPastDeadline(now, this.opts.owner, this.opts.leaseMs, limit, [...idle.keys()]);
        for (const claim of overdue) {
          await inClaimTrace(claim, () => this.applyHeld(claim, idle.get(claim.watch.provider) ?? "no_checker", 0)).catch((error) =>
            this.deps.logger.error({ err: error, orderId: claim.watch.orderId }, "reviewing a past-deadline watch failed; it comes back after its lease"),
          );
        }
        if (overdue.length === limit) full = true;
      }

      const active = this.providers().filter((p) => this.holdOf(p) === null && this.probes.get(p) !== "sent");
      const start = this.turn++ % Math.max(1, active.length);
      for (const provider of [...active.slice(start), ...active.slice(0, start)]) {
        const room = this.opts.claimBatch - this.heldUnits;
        if (room <= 0) {
          full = true;
          break;
        }
        const checker = this.checkers.get(provider)!;
        const size = Math.max(1, checker.maxBatch);
        const probe = this.probes.has(provider);
        const limit = probe ? size : room * size;
        const claims = await this.deps.store.claimDue(this.deps.clock.now(), this.opts.owner, this.opts.leaseMs, limit, [provider]);
        if (claims.length === limit) full = true;
        if (probe && claims.length > 0) this.probes.set(provider, "sent");
        // One unit is one provider call: up to `maxBatch` watches of this provider that can be asked the same way.
        for (const unit of callsFor(claims, (c) => c.watch, checker)) {
          this.heldUnits++;
          this.track(traceCheckUnit(provider, unit, () => this.runUnit(checker, unit, probe)));
        }
      }
      this.backlogLikely = full;
      // A full claim means more may be due: claim again as soon as there is room.
      if (!full || this.heldUnits >= this.opts.claimBatch) return;
    }
  }

  private track(unit: Promise<void>): void {
    this.units.add(unit);
    void unit.finally(() => this.units.delete(unit));
  }

  private async runUnit(checker: StatusChecker, claims: Claim[], probe = false): Promise<void> {
    await this.acquire();
    try {
      const now = this.deps.clock.now();
      const usable = claims.filter((c) => c.leaseUntil.getTime() - now.getTime() >= this.opts.minLeaseLeftMs);
      for (const claim of claims) {
        if (usable.includes(claim)) continue;
        // Waited too long for a slot: the check might outlive the lease. Give it back.
        await this.deps.store.release(claim, now).catch((error) => this.deps.logger.warn({ err: error, orderId: claim.watch.orderId }, "releasing a claim failed"));
      }
      if (usable.length === 0) return;
      const provider = checker.provider;

      // Held back already (by an earlier call of this process): no need to ask the gate again.
      const held = this.holdOf(provider);
      if (held) {
        this.observer.held(provider, held.reason);
        await this.holdAll(usable, held.reason, held.untilMs - now.getTime());
        return;
      }

      let decision: GateDecision;
      try {
        decision = await this.gate.acquire(provider, this.opts.gateWaitMs ?? 0);
      } catch (error) {
        // The gate lives in our database: if it cannot answer, give the watches back for a later pass.
        this.deps.logger.error({ err: error, provider, orderIds: usable.map((c) => c.watch.orderId) }, "provider gate failed; checks given back");
        for (const claim of usable) await this.deps.store.release(claim, this.deps.clock.now()).catch(() => undefined);
        return;
      }
      if (decision.kind === "blocked") {
        this.observer.held(provider, decision.reason);
        this.holdProvider(provider, decision.reason, decision.retryAfterMs);
        await this.holdAll(usable, decision.reason, decision.retryAfterMs);
        return;
      }

      // One call (one permit) for the whole unit.
      let outcome: CallOutcome = { kind: "failure" };
      let results: Map<string, CheckResult>;
      try {
        results = await this.ask(checker, usable);
        outcome = classifyCall(
          usable.map((c) => results.get(c.watch.reference) ?? noAnswer(checker)),
          this.opts.defaultRetryAfterMs ?? 10_000,
        );
      } finally {
        await this.gate
          .release(decision.permit, outcome)
          .catch((error) => this.deps.logger.warn({ err: error, provider }, "releasing a provider permit failed; its slot frees itself after its lease"));
      }
      this.observer.called(provider, outcome.kind);

      const heldBy = await this.heldByOutcome(provider, outcome);
      if (heldBy) {
        this.observer.held(provider, heldBy.reason);
        this.holdProvider(provider, heldBy.reason, heldBy.waitMs);
        await this.holdAll(usable, heldBy.reason, heldBy.waitMs);
        return;
      }
      for (const claim of usable) {
        const result = results.get(claim.watch.reference) ?? noAnswer(checker);
        await inClaimTrace(claim, () => this.settle(claim, result)).catch((error) =>
          // The claim stays leased and comes back after the lease; the provider will answer again.
          this.deps.logger.error({ err: error, orderId: claim.watch.orderId, attempt: claim.watch.attempt + 1 }, "storing a check result failed; the check will be repeated"),
        );
      }
    } finally {
      this.heldUnits--;
      this.release();
      // The probe has answered (or was held back again, which sets a new hold): the rest may follow.
      if (probe) {
        this.probes.delete(checker.provider);
        this.kick();
      } else if (this.backlogLikely) this.kick();
    }
  }

  /**
   * Whether a call's answer is an outage rather than a status: the provider asked us to wait
   * (429 / Retry-After), or the call failed and the provider's circuit is open now (this failure
   * opened it, or it was a probe after the cool-down). Such a call only delays its watches: it is
   * not an unclear reply about the orders, so a long outage never sends orders to review by the
   * unclear-reply count. Failures while the circuit is still closed count as unclear replies.
   */
  private async heldByOutcome(provider: ProviderName, outcome: CallOutcome): Promise<{ reason: HoldReason; waitMs: number } | null> {
    switch (outcome.kind) {
      case "ok":
      case "no_call":
        return null;
      case "retry_after":
        return { reason: "retry_after", waitMs: outcome.ms };
      case "failure": {
        const status = await this.gate.status(provider).catch(() => null);
        return status && status.circuitOpenForMs > 0 ? { reason: "circuit_open", waitMs: status.circuitOpenForMs } : null;
      }
      default:
        return assertNever(outcome);
    }
  }

  private async ask(checker: StatusChecker, claims: Claim[]): Promise<Map<string, CheckResult>> {
    try {
      return await checker.check(claims.map((c) => ({ orderId: c.watch.orderId, reference: c.watch.reference, providerOrderId: c.watch.providerOrderId })));
    } catch (error) {
      // Checkers must not throw; if one does (a bug), the checks count as unclear, so the watch still moves on to review.
      this.deps.logger.error({ err: error, provider: checker.provider, orderIds: claims.map((c) => c.watch.orderId) }, "status checker threw");
      const cause = `status check failed: ${error instanceof Error ? error.name : "error"}`;
      return new Map(claims.map((c) => [c.watch.reference, { kind: "unknown", cause } as const]));
    }
  }

  private async holdAll(claims: readonly Claim[], reason: HoldReason, waitMs: number): Promise<void> {
    for (const claim of claims) {
      await inClaimTrace(claim, () => this.applyHeld(claim, reason, waitMs)).catch((error) =>
        this.deps.logger.error({ err: error, orderId: claim.watch.orderId }, "rescheduling a held check failed; the watch comes back after its lease"),
      );
    }
  }

  /** A check not made: reschedule the watch (attempt and unclear count untouched), or review it past its deadline. */
  private async applyHeld(claim: Claim, reason: HoldReason, waitMs: number): Promise<void> {
    const watch = claim.watch;
    const now = this.deps.clock.now();
    const decision = decideHeld(watch, now, waitMs, reason);
    if (decision.events.length === 0) {
      if (!(await this.deps.store.hold(claim, decision.watch.nextCheckAt, now))) this.observer.leaseLost(watch.provider);
      else this.deps.logger.debug({ orderId: watch.orderId, provider: watch.provider, reason, nextCheckAt: decision.watch.nextCheckAt.toISOString() }, "check held back");
      return;
    }
    await this.store(claim, decision, now, { reason });
  }

  private async settle(claim: Claim, result: CheckResult): Promise<void> {
    const watch = claim.watch;
    const now = this.deps.clock.now();
    this.observer.checked(watch.provider, result.kind);
    const planner = this.deps.planner;
    const decision = decideCheck(watch, result, now, planner.policyFor(watch.provider), this.deps.random(), planner.cadenceFor(watch.provider, watch.packageId));
    await this.store(claim, decision, now, { outcome: result.kind });
  }

  /** Commit a decision with its events (and completion sample), then report it. */
  private async store(claim: Claim, decision: Decision, now: Date, what: Record<string, string>): Promise<void> {
    const watch = claim.watch;
    const entries = decision.events.map((draft) => toOutboxEntry(draft, originOf(watch), now, this.deps.newId()));
    const stored = await this.deps.store.complete(claim, decision.watch, entries, now, decision.completion);
    const log = {
      orderId: watch.orderId,
      eventIds: entries.map((e) => e.event.id),
      provider: watch.provider,
      attempt: decision.watch.attempt,
      ...what,
      state: decision.watch.state,
    };
    if (!stored) {
      this.observer.leaseLost(watch.provider);
      this.deps.logger.warn({ ...log, owner: this.opts.owner }, "claim lost before the result was stored; result discarded");
      return;
    }
    this.deps.committed();
    const state = decision.watch.state;
    switch (state) {
      case "watching":
        this.deps.logger.info({ ...log, nextCheckAt: decision.watch.nextCheckAt.toISOString() }, "status checked");
        break;
      case "completed":
      case "failed":
      case "review":
        this.observer.settled(watch.provider, state, decision.watch.attempt);
        if (decision.completion) this.observer.detected(watch.provider, Math.max(0, decision.completion.upperMs - decision.completion.lowerMs) / 1000);
        this.deps.logger.info(log, `watch ${state}`);
        break;
      default:
        assertNever(state);
    }
  }

  private acquire(): Promise<void> {
    if (this.calls < this.opts.concurrency) {
      this.calls++;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.calls--;
  }
}

function noAnswer(checker: StatusChecker): CheckResult {
  return { kind: "unknown", cause: `${checker.provider} gave no answer for this reference` };
}

export function originOf(watch: Watch): EventOrigin {
  return { orderId: watch.orderId, correlationId: watch.correlationId, causationId: watch.sentEventId, ...(watch.tenantId !== null ? { tenantId: watch.tenantId } : {}) };
}

/** Give a draft its id and time, and its deterministic msgId (DESIGN.md §3). */
export function toOutboxEntry(draft: EventDraft, origin: EventOrigin, at: Date, id: string): OutboxEntry {
  let event: OrderEvent;
  switch (draft.type) {
    case "StatusChecked":
      event = makeEvent("StatusChecked", origin, draft.data, at, id);
      break;
    case "PinReceived":
      event = makeEvent("PinReceived", origin, draft.data, at, id);
      break;
    case "OrderFailed":
      event = makeEvent("OrderFailed", origin, draft.data, at, id);
      break;
    case "ReviewRequired":
      event = makeEvent("ReviewRequired", origin, draft.data, at, id);
      break;
    default:
      return assertNever(draft);
  }
  return { event, msgId: factMsgId(event, draft.discriminator), once: draft.once };
}
