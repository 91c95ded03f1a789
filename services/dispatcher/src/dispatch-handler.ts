/**
 * The OrderCreated handler: reads the dispatch row, asks the pure rules what to do, makes the
 * provider call under the provider's limits, and commits each result with its events (outbox) in
 * one transaction.
 *
 * Order of writes around a place request (I1): the attempt and its reference are committed (`ready`),
 * a permit is taken from the provider's gate, the row is claimed (`placing`, request counted, lease
 * held) and only then does the request go out; its result and event are committed together after it.
 */
import { randomUUID } from "node:crypto";
import { ACK, causedBy, factMsgId, makeEvent, type DeliveryContext, type EventOrigin, type HandlerOutcome } from "@pinflow/bus";
import type { EventOf, HoldReason, OrderEvent, ProviderName } from "@pinflow/contracts";
import type { Permit, CallOutcome } from "@pinflow/limits";
import type { OutboxEntry } from "@pinflow/pg";
import { maskCheckResult, maskPlaceResult, type CheckResult, type PlaceResult } from "@pinflow/providers";
import type { Logger } from "pino";
import {
  afterPlace,
  afterReconcile,
  beginPlace,
  claimForReconcile,
  compareMoney,
  holdBack,
  holdMessage,
  nextStep,
  openOrder,
  releaseLease,
  type Decision,
  type DispatchPolicy,
  type EventDraft,
  type OpenRow,
  type OrderInput,
  type PlacingRow,
  type ReadyRow,
  type ReviewRow,
} from "./dispatch.js";
import type { DispatchStore } from "./dispatch-store.js";
import { ConcurrentUpdate } from "./dispatch-store.js";
import { checkAccess, classifyCheck, classifyPlace, NO_CALL, OPEN_GATE, placeAccess, type Access, type Blocked, type CallGate } from "./gate.js";
import type { DispatchMetrics } from "./metrics.js";
import { sealPlaceReplyPin, type PinSealer } from "./pin-sealer.js";
import { newReference, type DispatchProvider, type ProviderRegistry } from "./providers.js";

export interface DispatchHandlerDeps {
  store: DispatchStore;
  providers: ProviderRegistry;
  policy: DispatchPolicy;
  /** Called after every commit that enqueued events. */
  kick: () => void;
  logger: Logger;
  metrics: DispatchMetrics;
  /** Seals a PIN that arrives in a place reply (x-stor can finish an order there). */
  pins: PinSealer;
  /** Per-provider rate, concurrency cap and circuit breaker (default: no limits). */
  gate?: CallGate;
  /** How long a handler waits in-process for a rate/concurrency permit before answering "later". */
  gateWaitMs?: number;
  /** The breaker's pause after an HTTP 429 without a Retry-After header. */
  defaultRetryAfterMs?: number;
  clock?: () => Date;
  newId?: () => string;
  /** A fresh attempt reference (default: 18 digits, fine as znet referans and x-stor order_uuid). */
  newReference?: () => string;
}

export class ReferenceExhausted extends Error {
  override name = "ReferenceExhausted";
}

const REFERENCE_DRAWS = 5;
/** Re-reads after losing a race for the row to another handler. */
const RACE_ROUNDS = 3;
const RACE_RETRY_MS = 250;
/** Never come back sooner than this after the gate held a call back. */
const MIN_HELD_RETRY_MS = 100;

type Raced = { raced: true };
const RACED: Raced = { raced: true };

export class DispatchHandler {
  private readonly clock: () => Date;
  private readonly newId: () => string;
  private readonly newReference: () => string;
  private readonly gate: CallGate;
  private readonly gateWaitMs: number;
  private readonly defaultRetryAfterMs: number;

  constructor(private readonly deps: DispatchHandlerDeps) {
    this.clock = deps.clock ?? (() => new Date());
    this.newId = deps.newId ?? randomUUID;
    this.newReference = deps.newReference ?? (() => newReference());
    this.gate = deps.gate ?? OPEN_GATE;
    this.gateWaitMs = deps.gateWaitMs ?? 2_000;
    this.defaultRetryAfterMs = deps.defaultRetryAfterMs ?? 10_000;
  }

  /** WorkHandler: bound, so it can be passed to the WorkConsumer as is. */
  readonly handle = async (event: OrderEvent, ctx: DeliveryContext): Promise<HandlerOutcome> => {
    if (event.type !== "OrderCreated") return { reject: `unexpected event type ${event.type}` };
    const log = this.deps.logger.child({ orderId: event.orderId, eventId: event.id, delivery: ctx.deliveryCount });
    for (let round = 0; round < RACE_ROUNDS; round++) {
      const row = await this.deps.store.get(event.orderId);
      const step = nextStep(row, this.clock(), this.deps.policy);
      let outcome: HandlerOutcome | Raced;
      switch (step.kind) {
        case "finished":
          log.debug({ state: step.row.state }, "order already dispatched; acking");
          return ACK;
        case "wait":
          if (step.why === "lease") {
            log.info({ retryInMs: step.retryAfterMs }, "another handler holds the order; retrying later");
            this.deps.metrics.outcome(row === null || row.state === "unrouted" ? "none" : row.provider, "busy");
          } else {
            log.info({ retryInMs: step.retryAfterMs }, "the next check of the placement is not due yet; waiting");
            this.deps.metrics.outcome(row === null || row.state === "unrouted" ? "none" : row.provider, "not_due");
          }
          return { retryAfterMs: step.retryAfterMs };
        case "review":
          outcome = await this.reviewWithoutCall(event, step.decision, log);
          break;
        case "open":
          outcome = await this.open(event, log);
          break;
        case "place":
          outcome = await this.place(event, step.row, log);
          break;
        case "reconcile":
          outcome = await this.reconcile(event, step.row, log);
          break;
        default: {
          const never: never = step;
          throw new Error(`unhandled step ${JSON.stringify(never)}`);
        }
      }
      if (!("raced" in outcome)) return outcome;
      log.info("lost a race for the order's row; reading it again");
    }
    return { retryAfterMs: RACE_RETRY_MS };
  };

  /** A new order: snapshot the route, store the first attempt's reference, then place it. */
  private async open(event: EventOf<"OrderCreated">, log: Logger): Promise<HandlerOutcome | Raced> {
    const order: OrderInput = { orderId: event.orderId, ...event.data };
    const configured = new Set<ProviderName>(this.deps.providers.keys());
    const offers = await this.deps.store.offers(order.packageId);
    for (let draw = 0; draw < REFERENCE_DRAWS; draw++) {
      const d = openOrder(order, offers, configured, this.newReference(), this.clock(), this.deps.policy);
      const result = await this.deps.store.insert(d.row, this.outbox(event, d.events));
      if (result === "exists") return RACED;
      if (result === "reference_taken") {
        log.warn("reference already taken; drawing another");
        continue;
      }
      if (d.events.length > 0) this.deps.kick();
      if (d.row.state === "unrouted") {
        const how = d.row.reasonCode === "no_route" ? "no_route" : "refused_without_call";
        this.deps.metrics.outcome("none", how);
        log.warn({ packageId: order.packageId, reasonCode: d.row.reasonCode, message: d.row.message }, `no offer can be placed; DispatchFailed(${d.row.reasonCode})`);
        return ACK;
      }
      for (const skipped of d.row.history) log.info({ provider: skipped.provider, reasonCode: skipped.reasonCode }, skipped.message);
      return this.place(event, d.row, log);
    }
    throw new ReferenceExhausted(`no free reference after ${REFERENCE_DRAWS} draws`);
  }

  /** The place request of a `ready` row (its reference is committed): permit, claim, call, commit. */
  private async place(event: EventOf<"OrderCreated">, row: ReadyRow, log: Logger): Promise<HandlerOutcome | Raced> {
    const provider = this.deps.providers.get(row.provider);
    if (provider === undefined) {
      this.deps.metrics.providerError(row.provider, "not_configured");
      log.error({ provider: row.provider, reference: row.reference }, "provider of the order's next attempt is not configured; waiting");
      return this.hold(event, row, "provider_not_configured", this.deps.policy.retryMaxMs, log);
    }
    const permit = await this.permit(row.provider, log);
    if ("blocked" in permit) return this.heldBack(event, row, permit.blocked, log);
    const placing = beginPlace(row, this.clock(), this.deps.policy);
    let claimed: boolean;
    try {
      claimed = await this.deps.store.update(placing, []);
    } catch (error) {
      await this.release(permit, NO_CALL, log);
      throw error;
    }
    if (!claimed) {
      await this.release(permit, NO_CALL, log);
      return RACED;
    }
    log.info({ provider: row.provider, reference: row.reference, offer: row.offerIndex, placeCalls: placing.placeCalls }, "placing order");
    return this.request(event, placing, provider, permit, log);
  }

  /** The place request itself, under `permit`, for a claimed `placing` row. */
  private async request(
    event: EventOf<"OrderCreated">,
    row: PlacingRow,
    provider: DispatchProvider,
    permit: Permit,
    log: Logger,
  ): Promise<HandlerOutcome | Raced> {
    let result: PlaceResult;
    try {
      result = await provider.place({ reference: row.reference, productCode: row.productCode, playerId: row.playerId, extra: row.extra });
    } catch (error) {
      // Adapters never throw for provider behaviour; if one does, the request may have gone out.
      result = { kind: "ambiguous", cause: `adapter error: ${String((error as Error)?.message ?? error).slice(0, 200)}` };
    }
    // Every provider text goes on (rows, events, logs) only through the one masking function.
    result = maskPlaceResult(result);
    await this.release(permit, classifyPlace(result, this.defaultRetryAfterMs), log);
    await this.noteAccess(row.provider, placeAccess(result), log);
    // A PIN in the place reply is sealed here, at once; only the sealed form goes on (rules, outbox).
    const { result: placed, sealedPin } = sealPlaceReplyPin(result, this.deps.pins, { orderId: row.orderId, reference: row.reference });
    const d = afterPlace(row, placed, this.clock(), this.deps.policy, this.newReference(), sealedPin);
    await this.commit(event, row, d, log);
    this.observeHolds(d, log);
    switch (result.kind) {
      case "accepted":
        this.deps.metrics.outcome(row.provider, "accepted");
        this.observeAccepted(event, row.provider);
        if (result.balance !== null) this.deps.metrics.balance(row.provider, result.balance);
        if (row.maxCost !== null && compareMoney(result.cost, row.maxCost) > 0) {
          // Also on OrderSent (maxCost, costAboveMaximum: true), so it is a fact on the order.
          this.deps.metrics.costAboveMaximum(row.provider);
          log.warn({ reference: row.reference, cost: result.cost, maxCost: row.maxCost }, "provider charged more than the route's maxCost");
        }
        if (sealedPin !== null) {
          log.info(
            { provider: row.provider, reference: row.reference, cost: result.cost, placeCalls: row.placeCalls, pinInPlaceReply: true },
            "order accepted and finished in the place reply; OrderSent and PinReceived",
          );
        } else {
          log.info({ provider: row.provider, reference: row.reference, cost: result.cost, placeCalls: row.placeCalls }, "order accepted; OrderSent");
        }
        break;
      case "refused": {
        const next = d.row.state;
        this.deps.metrics.outcome(row.provider, next === "ready" ? "fallback" : next === "refused" ? "refused" : next === "sent" ? "reconciled" : "review");
        if (next === "sent") this.observeAccepted(event, row.provider);
        log.info(
          { provider: row.provider, reference: row.reference, providerCode: result.providerCode, reasonCode: result.reasonCode, state: next },
          next === "ready" ? "provider refused the placement; trying the next offer" : "provider refused the placement",
        );
        break;
      }
      case "ambiguous":
        this.deps.metrics.outcome(row.provider, "ambiguous");
        this.deps.metrics.providerError(row.provider, "place_ambiguous");
        log.warn({ provider: row.provider, reference: row.reference, cause: result.cause }, "placement outcome unknown; will reconcile before anything else");
        break;
      default: {
        const never: never = result;
        throw new Error(`unhandled place result ${JSON.stringify(never)}`);
      }
    }
    if (d.then === "place" && d.row.state === "ready") {
      const skipped = d.row.history.slice(row.history.length + 1);
      for (const s of skipped) log.info({ provider: s.provider, reasonCode: s.reasonCode }, s.message);
      log.info({ provider: d.row.provider, reference: d.row.reference, offer: d.row.offerIndex }, "next offer chosen; reference stored");
      return this.place(event, d.row, log);
    }
    return this.outcome(d);
  }

  /** Ask the provider about the reference of an open row before anything else (I1). */
  private async reconcile(event: EventOf<"OrderCreated">, row: OpenRow, log: Logger): Promise<HandlerOutcome | Raced> {
    const provider = this.deps.providers.get(row.provider);
    if (provider === undefined) {
      // The order may exist at a provider we can no longer talk to: keep it open and loud, never guess.
      this.deps.metrics.providerError(row.provider, "not_configured");
      log.error({ provider: row.provider, reference: row.reference }, "provider of an open placement is not configured; cannot reconcile");
      return this.hold(event, row, "provider_not_configured", this.deps.policy.retryMaxMs, log);
    }
    const permit = await this.permit(row.provider, log);
    if ("blocked" in permit) return this.heldBack(event, row, permit.blocked, log);
    const claimed = claimForReconcile(row, this.clock(), this.deps.policy);
    let took: boolean;
    try {
      took = await this.deps.store.update(claimed, []);
    } catch (error) {
      await this.release(permit, NO_CALL, log);
      throw error;
    }
    if (!took) {
      await this.release(permit, NO_CALL, log);
      return RACED;
    }
    let result: CheckResult;
    try {
      result = await provider.check(claimed.reference);
    } catch (error) {
      result = { kind: "unknown", cause: `adapter error: ${String((error as Error)?.message ?? error).slice(0, 200)}` };
    }
    result = maskCheckResult(result);
    await this.release(permit, classifyCheck(result, this.defaultRetryAfterMs), log);
    await this.noteAccess(row.provider, checkAccess(result), log);
    const d = afterReconcile(claimed, result, this.clock(), this.deps.policy);
    await this.commit(event, claimed, d, log);
    this.observeHolds(d, log);
    switch (result.kind) {
      case "pending":
      case "done":
      case "cancelled":
        this.deps.metrics.outcome(row.provider, "reconciled");
        this.observeAccepted(event, row.provider);
        log.info({ provider: row.provider, reference: row.reference, found: result.kind }, "placement found at the provider; OrderSent");
        break;
      case "not_found":
        this.deps.metrics.providerError(row.provider, "check_not_found");
        log.warn({ provider: row.provider, reference: row.reference, streak: claimed.notFoundStreak + 1, next: d.row.state }, "provider does not know the reference");
        break;
      case "unknown":
        this.deps.metrics.providerError(row.provider, "check_unknown");
        log.warn({ provider: row.provider, reference: row.reference, cause: result.cause, tries: claimed.reconcileTries + 1 }, "placement still unknown");
        break;
      default: {
        const never: never = result;
        throw new Error(`unhandled check result ${JSON.stringify(never)}`);
      }
    }
    if (d.then === "place" && d.row.state === "ready") {
      this.deps.metrics.outcome(row.provider, "place_again");
      log.warn({ provider: row.provider, reference: d.row.reference, placeCalls: d.row.placeCalls }, "placement definitely absent; placing again with the same reference");
      return this.place(event, d.row, log);
    }
    if (d.row.state === "review") {
      this.deps.metrics.outcome(row.provider, "review");
      log.error({ provider: row.provider, reference: row.reference, message: d.row.message }, "placement unknown; ReviewRequired");
    } else if (d.row.state === "unknown") {
      this.deps.metrics.outcome(row.provider, "retry");
    }
    return this.outcome(d);
  }

  /** A decision made without a provider call (e.g. the bound of place requests is reached): commit it, or re-read on a lost race. */
  private async reviewWithoutCall(event: EventOf<"OrderCreated">, d: Decision<ReviewRow>, log: Logger): Promise<HandlerOutcome | Raced> {
    if (!(await this.deps.store.update(d.row, this.outbox(event, d.events)))) return RACED;
    this.deps.kick();
    this.deps.metrics.outcome(d.row.provider, "review");
    log.error({ provider: d.row.provider, reference: d.row.reference, message: d.row.message }, "order needs a person; ReviewRequired");
    return ACK;
  }

  /** A permit for one call to `provider`, or why the gate holds the call back (the order never fails for this). */
  private async permit(provider: ProviderName, log: Logger): Promise<Permit | { blocked: Blocked }> {
    const decision = await this.gate.acquire(provider, this.gateWaitMs);
    if (decision.kind === "granted") return decision.permit;
    this.deps.metrics.heldBack(provider, decision.reason);
    this.deps.metrics.outcome(provider, "held");
    log.info({ provider, reason: decision.reason, retryInMs: decision.retryAfterMs }, "provider calls are held back; the order waits");
    return { blocked: decision };
  }

  /**
   * The gate held the call back. Paused or circuit open (a shut-out when the provider's last replies
   * were empty bodies) is a hold the order shows; rate or concurrency is only a short wait.
   */
  private async heldBack(event: EventOf<"OrderCreated">, row: ReadyRow | OpenRow, blocked: Blocked, log: Logger): Promise<HandlerOutcome | Raced> {
    const retryAfterMs = Math.max(MIN_HELD_RETRY_MS, blocked.retryAfterMs);
    switch (blocked.reason) {
      case "rate_limited":
      case "busy":
        return { retryAfterMs };
      case "paused":
        return this.hold(event, row, "provider_paused", retryAfterMs, log);
      case "circuit_open": {
        const shutOut = await this.deps.store.providerAccess(row.provider);
        return this.hold(event, row, shutOut === null ? "circuit_open" : "provider_shut_out", retryAfterMs, log);
      }
      default: {
        const never: never = blocked.reason;
        throw new Error(`unhandled gate block ${JSON.stringify(never)}`);
      }
    }
  }

  /** The order waits for `reason`: a new reason is published once (DispatchHeld); at the dispatch deadline, review. */
  private async hold(event: EventOf<"OrderCreated">, row: ReadyRow | OpenRow, reason: HoldReason, retryAfterMs: number, log: Logger): Promise<HandlerOutcome | Raced> {
    const held = holdBack(row, { reason, message: holdMessage(row.provider, reason) }, retryAfterMs, this.clock(), this.deps.policy);
    if (held.kind === "wait") return { retryAfterMs: held.retryAfterMs };
    const d = held.decision;
    if (!(await this.deps.store.update(d.row, this.outbox(event, d.events)))) return RACED;
    if (d.events.length > 0) this.deps.kick();
    this.observeHolds(d, log);
    if (d.row.state === "review") {
      this.deps.metrics.outcome(row.provider, "review");
      log.error({ provider: row.provider, reason, message: d.row.message }, "held past the dispatch deadline; ReviewRequired");
    }
    return this.outcome(d);
  }

  /** Count and log the DispatchHeld events of a committed decision. */
  private observeHolds(d: Decision, log: Logger): void {
    for (const e of d.events) {
      if (e.type !== "DispatchHeld") continue;
      this.deps.metrics.orderHeld(e.data.provider, e.data.reasonCode);
      log.warn({ provider: e.data.provider, reason: e.data.reasonCode, deadline: e.data.deadline }, `order waits: ${e.data.message}; DispatchHeld`);
    }
  }

  /** Remember whether the provider let us in (shared, shown on its status); a failure here never fails the order. */
  private async noteAccess(provider: ProviderName, access: Access, log: Logger): Promise<void> {
    if (access === "unclear") return;
    if (access !== "let_in") this.deps.metrics.providerError(provider, "access_denied");
    try {
      await this.deps.store.recordAccess(provider, access === "let_in" ? null : { cause: access.denied }, this.clock());
    } catch (error) {
      log.warn({ err: error, provider }, "could not record the provider's access state");
    }
  }

  private async release(permit: Permit, outcome: CallOutcome, log: Logger): Promise<void> {
    try {
      await this.gate.release(permit, outcome);
    } catch (error) {
      // The slot's lease runs out on its own; the call's result is what matters now.
      log.warn({ err: error, provider: permit.provider }, "could not release the provider permit");
    }
  }

  /** Write the decision and its events in one transaction (CAS on the version we hold); release the row on failure. */
  private async commit(event: EventOf<"OrderCreated">, held: OpenRow, d: Decision, log: Logger): Promise<void> {
    let written: boolean;
    try {
      written = await this.deps.store.update(d.row, this.outbox(event, d.events));
    } catch (error) {
      await this.deps.store.update(releaseLease(held, this.clock()), []).catch(() => false);
      throw error;
    }
    if (!written) {
      log.error({ version: held.version }, "the order's row changed while a provider call was in flight");
      throw new ConcurrentUpdate(`dispatch row of order ${held.orderId} changed under a held lease`);
    }
    if (d.events.length > 0) this.deps.kick();
  }

  private outcome(d: Decision): HandlerOutcome {
    const then = d.then;
    if (then === "ack") return ACK;
    if (then === "place") throw new Error("a ready row must be placed before answering");
    return { retryAfterMs: then.retryAfterMs };
  }

  private outbox(cause: EventOf<"OrderCreated">, drafts: readonly EventDraft[]): OutboxEntry[] {
    const origin = causedBy(cause);
    const at = this.clock();
    return drafts.map((draft) => {
      const event = envelope(draft, origin, at, this.newId());
      // A hold may happen several times: each DispatchHeld is numbered (its own fact, deduplicated by number).
      if (draft.type === "DispatchHeld") return { event, msgId: factMsgId(event, draft.seq), once: false };
      // Every other dispatcher fact is once-only per order (terminal, or the single acceptance).
      return { event, msgId: factMsgId(event), once: true };
    });
  }

  private observeAccepted(event: EventOf<"OrderCreated">, provider: string): void {
    this.deps.metrics.acceptedAfter(provider, (this.clock().getTime() - Date.parse(event.occurredAt)) / 1000);
  }
}

function envelope(draft: EventDraft, origin: EventOrigin, at: Date, id: string): OrderEvent {
  switch (draft.type) {
    case "OrderSent":
      return makeEvent("OrderSent", origin, draft.data, at, id);
    case "PinReceived":
      return makeEvent("PinReceived", origin, draft.data, at, id);
    case "DispatchFailed":
      return makeEvent("DispatchFailed", origin, draft.data, at, id);
    case "ReviewRequired":
      return makeEvent("ReviewRequired", origin, draft.data, at, id);
    case "DispatchHeld":
      return makeEvent("DispatchHeld", origin, draft.data, at, id);
    default: {
      const never: never = draft;
      throw new Error(`unhandled event draft ${JSON.stringify(never)}`);
    }
  }
}
