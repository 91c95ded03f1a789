/**
 * This replica's share of each provider, in front of the shared gate: how many of the consumer's
 * concurrent handlers one provider may take.
 *
 * The work consumer handles many messages at once (DISPATCH_CONCURRENCY). Without a bound per
 * provider, a stalled provider (answers after the client timeout) would fill every handler of the
 * replica with its own orders waiting for its permits, and the other providers' orders would wait
 * behind them: head-of-line blocking again, one level up. So a provider gets at most its
 * concurrency (the same number the shared gate allows it across replicas) in calls here, plus a
 * short FIFO queue of handlers waiting in-process for one of those slots (`waitersPerSlot` per
 * slot). A handler beyond that does not wait at all: the gate answers "busy" at once with an
 * estimate of when a slot may be free, and the handler hands its message back (nak with that
 * delay). Why this and not only one of the two:
 * - waiting in-process (the handler keeps its message alive with `working()`) gives the next free
 *   slot to a waiting order at once, so a provider's concurrency is used fully (throughput);
 * - handing back beyond a small queue keeps a provider's footprint in the replica bounded
 *   (`slots × (1 + waitersPerSlot)`), so DISPATCH_CONCURRENCY above the sum of those footprints
 *   leaves every other provider its own slots whatever one provider does; the handed-back delay
 *   grows with how long this provider's calls take (its recent hold times), so a stalled provider's
 *   orders come back rarely and do not crowd the consumer's pulls (redeliveries are served first).
 * The shared gate still decides across replicas (rate, concurrency, breaker): a local slot only
 * lets a handler ask it.
 */
import type { CallOutcome, GateDecision, Permit } from "@pinflow/limits";
import type { CallGate } from "./gate.js";

export interface ReplicaSlotsOptions {
  /** Handlers that may queue in-process per slot before further ones are handed back (default 2). */
  waitersPerSlot?: number;
  /** Assumed call time before any call of the provider finished here (default 1 s). */
  initialHoldMs?: number;
  /** Bounds of the "come back later" estimate (default 100 ms – 30 s). */
  minRetryMs?: number;
  maxRetryMs?: number;
  random?: () => number;
}

interface Waiter {
  grant: () => void;
}

class ProviderSlots {
  inUse = 0;
  readonly queue: Waiter[] = [];
  /** Smoothed time a slot is held (a call), for the "come back later" estimate. */
  holdMs: number;

  constructor(
    readonly size: number,
    initialHoldMs: number,
  ) {
    this.holdMs = initialHoldMs;
  }

  /** Hand the slot to the first waiter, or free it. */
  free(): void {
    const next = this.queue.shift();
    if (next) next.grant();
    else this.inUse--;
  }
}

export class ReplicaSlots implements CallGate {
  private readonly providers = new Map<string, ProviderSlots>();
  private readonly heldSince = new WeakMap<Permit, number>();
  private readonly waitersPerSlot: number;
  private readonly initialHoldMs: number;
  private readonly minRetryMs: number;
  private readonly maxRetryMs: number;
  private readonly random: () => number;

  constructor(
    private readonly inner: CallGate,
    /** This replica's slots for a provider (its configured concurrency); a provider without a number is not bounded here. */
    private readonly slotsOf: (provider: string) => number | undefined,
    opts: ReplicaSlotsOptions = {},
  ) {
    this.waitersPerSlot = opts.waitersPerSlot ?? 2;
    this.initialHoldMs = opts.initialHoldMs ?? 1_000;
    this.minRetryMs = opts.minRetryMs ?? 100;
    this.maxRetryMs = opts.maxRetryMs ?? 30_000;
    this.random = opts.random ?? Math.random;
  }

  async acquire(provider: string, maxWaitMs: number): Promise<GateDecision> {
    const slots = this.slotsFor(provider);
    if (slots === null) return this.inner.acquire(provider, maxWaitMs);
    const started = Date.now();
    if (!(await this.takeSlot(slots, maxWaitMs))) return { kind: "blocked", reason: "busy", retryAfterMs: this.comeBackIn(slots) };
    let decision: GateDecision;
    try {
      decision = await this.inner.acquire(provider, Math.max(0, maxWaitMs - (Date.now() - started)));
    } catch (error) {
      slots.free();
      throw error;
    }
    if (decision.kind === "blocked") {
      slots.free();
      return decision;
    }
    this.heldSince.set(decision.permit, Date.now());
    return decision;
  }

  async release(permit: Permit, outcome: CallOutcome): Promise<void> {
    const slots = this.slotsFor(permit.provider);
    const since = this.heldSince.get(permit);
    this.heldSince.delete(permit);
    try {
      await this.inner.release(permit, outcome);
    } finally {
      if (slots !== null && since !== undefined) {
        slots.holdMs = 0.8 * slots.holdMs + 0.2 * (Date.now() - since);
        slots.free();
      }
    }
  }

  /** Calls in flight and handlers queued here for `provider` (metrics, tests). */
  usage(provider: string): { inUse: number; waiting: number } {
    const s = this.providers.get(provider);
    return { inUse: s?.inUse ?? 0, waiting: s?.queue.length ?? 0 };
  }

  private slotsFor(provider: string): ProviderSlots | null {
    let s = this.providers.get(provider);
    if (s) return s;
    const size = this.slotsOf(provider);
    if (size === undefined || !Number.isFinite(size)) return null;
    s = new ProviderSlots(Math.max(1, Math.floor(size)), this.initialHoldMs);
    this.providers.set(provider, s);
    return s;
  }

  /** A slot now, or after queueing for one (FIFO) up to `maxWaitMs`; false when the queue is full or the wait ran out. */
  private async takeSlot(slots: ProviderSlots, maxWaitMs: number): Promise<boolean> {
    if (slots.inUse < slots.size) {
      slots.inUse++;
      return true;
    }
    if (slots.queue.length >= slots.size * this.waitersPerSlot || maxWaitMs <= 0) return false;
    return new Promise<boolean>((resolve) => {
      const waiter: Waiter = {
        grant: () => {
          clearTimeout(timer);
          resolve(true);
        },
      };
      const timer = setTimeout(() => {
        const at = slots.queue.indexOf(waiter);
        if (at >= 0) slots.queue.splice(at, 1);
        resolve(false);
      }, maxWaitMs);
      slots.queue.push(waiter);
    });
  }

  /**
   * When to come back: about when half of the calls and queued handlers ahead are through, at the
   * provider's recent pace, jittered. Sooner than all of them, so the queue does not run dry while
   * handed-back orders are away (the provider's slots stay busy); a stalled provider's orders still
   * come back rarely (its calls take the whole client timeout).
   */
  private comeBackIn(slots: ProviderSlots): number {
    const ahead = (slots.inUse + slots.queue.length) / (2 * slots.size);
    const estimate = Math.min(this.maxRetryMs, Math.max(this.minRetryMs, slots.holdMs * ahead));
    return Math.round(estimate * (0.5 + 0.5 * this.random()));
  }
}
