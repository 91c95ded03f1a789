/**
 * The durable schedule's engine (DESIGN.md §5): every tick, claim due watches
 * with a lease (compare-and-set, `FOR UPDATE SKIP LOCKED`), ask the provider,
 * and commit the decision together with its events in one transaction.
 * Several replicas can run at once: claims are disjoint, and a result is only
 * written while the claim still holds. A crashed replica's claims come back
 * when their lease runs out.
 */
import { makeEvent, factMsgId, type EventOrigin } from "@pinflow/bus";
import type { OrderEvent, ProviderName } from "@pinflow/contracts";
import type { OutboxEntry } from "@pinflow/pg";
import type { Logger } from "pino";
import { noopObserver, type SchedulerObserver } from "./metrics.js";
import type { PollPlanner } from "./planner.js";
import { assertNever, decideCheck, type CheckResult, type Clock, type EventDraft, type Watch } from "./poll.js";
import type { StatusChecker } from "./status-checker.js";
import type { Claim, WatchStore } from "./watch-store.js";

export interface SchedulerOptions {
  /** This replica's name, stamped on its leases. */
  owner: string;
  tickMs: number;
  /** Watches held at once by this process (claimed and not yet settled). */
  claimBatch: number;
  /** Provider calls in flight at once in this process. */
  concurrency: number;
  leaseMs: number;
  /** A claim with less lease left than this is given back instead of checked (it could not finish in time). */
  minLeaseLeftMs: number;
  /** How often the planner learns its schedules again from the recorded completions (and trims them). */
  planRefreshMs: number;
}

export interface SchedulerDeps {
  store: WatchStore;
  checkers: readonly StatusChecker[];
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

export class SchedulerError extends Error {
  override name = "SchedulerError";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

export class Scheduler {
  private readonly checkers: Map<ProviderName, StatusChecker>;
  private readonly observer: SchedulerObserver;
  private readonly units = new Set<Promise<void>>();
  private readonly waiting: Array<() => void> = [];
  private timer: NodeJS.Timeout | undefined;
  private planTimer: NodeJS.Timeout | undefined;
  private planning: Promise<void> | undefined;
  private pass: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  /** Watches claimed by this process and not yet settled or released. */
  private held = 0;
  private calls = 0;
  /** The last claim filled all the room there was: more watches are probably due. */
  private backlogLikely = false;

  constructor(
    private readonly deps: SchedulerDeps,
    private readonly opts: SchedulerOptions,
  ) {
    this.checkers = new Map(deps.checkers.map((c) => [c.provider, c]));
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

  /** Learn the schedules again from the recorded completions (periodic; a failure keeps the last ones). */
  refreshPlan(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    this.planning ??= this.deps.planner
      .refresh()
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

  private async claimPass(): Promise<void> {
    const providers = [...this.checkers.keys()];
    while (!this.stopped) {
      const room = this.opts.claimBatch - this.held;
      if (room <= 0) return;
      const claims = await this.deps.store.claimDue(this.deps.clock.now(), this.opts.owner, this.opts.leaseMs, room, providers);
      this.backlogLikely = claims.length === room;
      if (claims.length === 0) return;
      const units = this.unitsOf(claims);
      this.held += claims.length;
      for (const unit of units) this.track(this.runUnit(unit.checker, unit.claims));
      // A full batch means more may be due: claim again as soon as there is room.
      if (!this.backlogLikely) return;
    }
  }

  private unitsOf(claims: readonly Claim[]): Array<{ checker: StatusChecker; claims: Claim[] }> {
    const byProvider = new Map<ProviderName, Claim[]>();
    for (const claim of claims) {
      const list = byProvider.get(claim.watch.provider) ?? [];
      list.push(claim);
      byProvider.set(claim.watch.provider, list);
    }
    const units: Array<{ checker: StatusChecker; claims: Claim[] }> = [];
    for (const [provider, list] of byProvider) {
      const checker = this.checkers.get(provider);
      if (!checker) throw new SchedulerError(`claimed a ${provider} watch without a checker for it`);
      const size = Math.max(1, checker.maxBatch);
      for (let i = 0; i < list.length; i += size) units.push({ checker, claims: list.slice(i, i + size) });
    }
    return units;
  }

  private track(unit: Promise<void>): void {
    this.units.add(unit);
    void unit.finally(() => this.units.delete(unit));
  }

  private async runUnit(checker: StatusChecker, claims: Claim[]): Promise<void> {
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
      const results = await this.ask(checker, usable);
      for (const claim of usable) {
        const result = results.get(claim.watch.reference) ?? { kind: "unknown", cause: `${checker.provider} gave no answer for this reference` };
        await this.settle(claim, result).catch((error) =>
          // The claim stays leased and comes back after the lease; the provider will answer again.
          this.deps.logger.error({ err: error, orderId: claim.watch.orderId, attempt: claim.watch.attempt + 1 }, "storing a check result failed; the check will be repeated"),
        );
      }
    } finally {
      this.held -= claims.length;
      this.release();
      if (this.backlogLikely) this.kick();
    }
  }

  private async ask(checker: StatusChecker, claims: Claim[]): Promise<Map<string, CheckResult>> {
    try {
      return await checker.check(claims.map((c) => c.watch.reference));
    } catch (error) {
      // Checkers must not throw; if one does (a bug), the checks count as unclear, so the watch still moves on to review.
      this.deps.logger.error({ err: error, provider: checker.provider, orderIds: claims.map((c) => c.watch.orderId) }, "status checker threw");
      const cause = `status check failed: ${error instanceof Error ? error.name : "error"}`;
      return new Map(claims.map((c) => [c.watch.reference, { kind: "unknown", cause } as const]));
    }
  }

  private async settle(claim: Claim, result: CheckResult): Promise<void> {
    const watch = claim.watch;
    const now = this.deps.clock.now();
    this.observer.checked(watch.provider, result.kind);
    const planner = this.deps.planner;
    const decision = decideCheck(watch, result, now, planner.policyFor(watch.provider), this.deps.random(), planner.cadenceFor(watch.provider, watch.packageId));
    const entries = decision.events.map((draft) => toOutboxEntry(draft, originOf(watch), now, this.deps.newId()));
    const stored = await this.deps.store.complete(claim, decision.watch, entries, now, decision.completion);
    const log = {
      orderId: watch.orderId,
      eventIds: entries.map((e) => e.event.id),
      provider: watch.provider,
      attempt: decision.watch.attempt,
      outcome: result.kind,
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

export function originOf(watch: Watch): EventOrigin {
  return { orderId: watch.orderId, correlationId: watch.correlationId, causationId: watch.sentEventId };
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
