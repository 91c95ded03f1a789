/**
 * The OrderCreated handler: reads the dispatch row, asks the pure rules what to do, makes the
 * provider call under the provider's limits, and commits each result with its events (outbox) in
 * one transaction.
 *
 * Order of writes around a place request (I1): the attempt and its reference are committed (`ready`),
 * a permit is taken from the provider's gate, the row is claimed (`placing`, request counted, lease
 * held), PlacementStarted is acknowledged by the stream, and only then does the request go out; the
 * answer (PlacementAnswered) is appended to the stream right after it, and the row's result and its
 * events are committed together (outbox).
 *
 * The row is a projection of the order's stream (I5): an order without a row, or whose row has no
 * place request yet, is first looked up in its own history; when that shows an attempt, the row is
 * restored from it (dispatch-fold.ts) and the attempt is reconciled by its recorded reference.
 */
import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { ACK, causedBy, factMsgId, makeEvent, type DeliveryContext, type HandlerOutcome } from "@pinflow/bus";
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
  renewLease,
  type Decision,
  type DispatchPolicy,
  type EventDraft,
  type OpenRow,
  type OrderInput,
  type PlacingRow,
  type ReadyRow,
  type ReviewRow,
  type DispatchRow,
} from "./dispatch.js";
import type { AttemptLog } from "./attempt-log.js";
import { foldDispatch, placementAnswered, placementStarted, reconcileAnswered } from "./dispatch-fold.js";
import type { DispatchStore } from "./dispatch-store.js";
import { ConcurrentUpdate } from "./dispatch-store.js";
import { checkAccess, classifyCheck, classifyPlace, NO_CALL, OPEN_GATE, placeAccess, type Access, type Blocked, type CallGate } from "./gate.js";
import type { DispatchMetrics } from "./metrics.js";
import { outboxEntries } from "./dispatch-events.js";
import { sealPlaceReplyPin, type PinSealer } from "./pin-sealer.js";
import { newReference, type DispatchProvider, type ProviderRegistry } from "./providers.js";

export interface DispatchHandlerDeps {
  store: DispatchStore;
  /** The order's stream: attempt facts written before/after each call, and the order's history read when the row is missing. */
  facts: AttemptLog;
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

/** The order's own events could not be read from the stream: nothing is placed until they can. */
export class HistoryUnavailable extends Error {
  override name = "HistoryUnavailable";
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
/** Come back after this when the stream did not take a PlacementStarted. */
const STREAM_RETRY_MS = 1_000;
/** Pause between asks for PlacementStarted's acknowledgement. */
const START_ASK_PAUSE_MS = 200;
/** The longest one ask waits for PlacementStarted's acknowledgement (the publisher's default). */
const START_ASK_TIMEOUT_MS = 5_000;
/**
 * A first delivery with at most this many OrderCreated behind it is near the stream's end: its
 * history look-up scans forward from it (one request). Others (redeliveries, a deep backlog, a
 * consumer created anew over an old stream) use the look-ups by subject, whose cost does not grow
 * with the stream.
 */
const FRESH_BACKLOG = 500;

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

  /** WorkHandler of the OrderCreated consumer (`ctx` is the OrderCreated's own delivery): bound, so it can be passed to the WorkConsumer as is. */
  readonly handle = (event: OrderEvent, ctx: DeliveryContext): Promise<HandlerOutcome> => {
    const fresh = ctx.deliveryCount === 1 && ctx.pending !== undefined && ctx.pending <= FRESH_BACKLOG;
    return this.run(event, ctx, fresh ? ctx.seq : undefined);
  };

  /** The order's OrderCreated handled again for another delivery (an operator's dispatch again: `ctx` is that request's). */
  readonly handleAgain = (created: OrderEvent, ctx: DeliveryContext): Promise<HandlerOutcome> => this.run(created, ctx, undefined);

  private async run(event: OrderEvent, ctx: DeliveryContext, createdSeq: number | undefined): Promise<HandlerOutcome> {
    if (event.type !== "OrderCreated") return { reject: `unexpected event type ${event.type}` };
    const log = this.deps.logger.child({ orderId: event.orderId, eventId: event.id, delivery: ctx.deliveryCount });
    let historyChecked = false;
    for (let round = 0; round < RACE_ROUNDS; round++) {
      const row = await this.deps.store.get(event.orderId);
      if (row === null && !historyChecked) {
        // No row: an order this dispatcher never saw, or one its lost database forgot. The stream knows.
        historyChecked = true;
        if ((await this.restore(event, null, log, createdSeq)) === "restored") continue;
      }
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
          if (step.row.placeCalls === 0 && !historyChecked) {
            // Before a reference's first request: a row from a restored (older) database may not know an attempt the stream has.
            historyChecked = true;
            const restored = await this.restore(event, step.row, log);
            if (restored === "wait_for_outbox") return { retryAfterMs: STREAM_RETRY_MS };
            if (restored === "restored") continue;
          }
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
  }

  /**
   * Restore the order's row from its stream when the stream knows more than the row (`current`, or
   * none): any attempt fact, or a dispatcher outcome. Outputs the stream lacks are appended again
   * (outbox, same msgIDs). "restored" when a row was written (read it again); "as_is" to go on as
   * today; "wait_for_outbox" when the stream differs from the row while the order's own events are
   * still in the outbox: then the stream is behind the row, not ahead (an answer whose append failed,
   * the row already at the next offer), and the look-up is repeated once the relay has caught up.
   */
  private async restore(event: EventOf<"OrderCreated">, current: ReadyRow | null, log: Logger, createdSeq?: number): Promise<"restored" | "as_is" | "wait_for_outbox"> {
    // Most orders were never handled: a look-up says so without reading their history.
    if (!(await this.deps.facts.handled(event.orderId, createdSeq))) return "as_is";
    const history = await this.deps.facts.history(event.orderId);
    // The delivered OrderCreated is on the stream: an empty history means it could not be read, not "never handled".
    if (history.length === 0) throw new HistoryUnavailable(`the history of order ${event.orderId} could not be read`);
    const fold = foldDispatch(history, this.deps.policy);
    const found = fold.row;
    if (found === null) return "as_is";
    if (current !== null && found.state === "ready" && found.reference === current.reference && found.placeCalls === current.placeCalls) return "as_is";
    if (current !== null && (await this.deps.store.hasUnpublishedEvents(event.orderId))) {
      this.deps.kick();
      log.info({ reference: current.reference, onStream: { state: found.state, reference: found.state === "unrouted" ? null : found.reference } }, "the order's stream differs from its row while its events wait in the outbox; looking again after the relay");
      return "wait_for_outbox";
    }
    const at = this.clock();
    const outbox = this.outbox(event, fold.pending, found.generation, at);
    const fields = { state: found.state, reference: found.state === "unrouted" ? null : found.reference, pendingEvents: fold.pending.map((e) => e.type) };
    if (current === null) {
      const restored: DispatchRow = { ...found, version: 1, updatedAt: at };
      const result = await this.deps.store.insert(restored, outbox);
      if (result === "reference_taken") throw new ConcurrentUpdate(`the recorded reference of order ${event.orderId} belongs to another order`);
      if (result === "inserted") log.warn(fields, "no dispatch row, but the order's stream shows it was handled: row restored from the stream");
    } else {
      const restored: DispatchRow = { ...found, version: current.version + 1, updatedAt: at };
      if (await this.deps.store.update(restored, outbox)) log.warn(fields, "the dispatch row is behind the order's stream: row restored from the stream");
    }
    if (outbox.length > 0) this.deps.kick();
    return "restored";
  }

  /** A new order: snapshot the route, store the first attempt's reference, then place it. */
  private async open(event: EventOf<"OrderCreated">, log: Logger): Promise<HandlerOutcome | Raced> {
    const order: OrderInput = { orderId: event.orderId, ...event.data };
    const configured = new Set<ProviderName>(this.deps.providers.keys());
    const offers = await this.deps.store.offers(order.packageId);
    for (let draw = 0; draw < REFERENCE_DRAWS; draw++) {
      const d = openOrder(order, offers, configured, this.newReference(), this.clock(), this.deps.policy);
      const result = await this.deps.store.insert(d.row, this.outbox(event, d.events, d.row.generation, d.row.updatedAt));
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
  private async place(event: EventOf<"OrderCreated">, row: ReadyRow, log: Logger, after: "answer_on_stream" | "delivery" = "delivery"): Promise<HandlerOutcome | Raced> {
    if (after === "delivery" && (row.placeCalls > 0 || row.offerIndex > 0 || row.generation > 1) && (await this.deps.store.hasUnpublishedEvents(row.orderId))) {
      // An earlier answer (or the redispatch) is still only in the outbox: its PlacementStarted must not overtake it on the stream.
      this.deps.kick();
      log.info({ provider: row.provider, reference: row.reference }, "the order's earlier events are not on the stream yet; placing after the outbox has relayed them");
      return { retryAfterMs: STREAM_RETRY_MS };
    }
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
    // The attempt is on the order's stream before the request goes out (I1, I5).
    const started = makeEvent("PlacementStarted", causedBy(event), placementStarted(placing), this.clock(), this.newId());
    const start = await this.appendStart(started, placing, log);
    if (start === "unacknowledged") {
      // Stored or not, we cannot tell, and a copy may still reach the stream later (the NATS client sends
      // what it holds when it reconnects). So the claim stands, unsent: once its lease ends the placement is
      // reconciled, and the reconcile puts this same start on the stream before anything else (I5).
      await this.release(permit, NO_CALL, log);
      log.warn({ provider: row.provider, reference: row.reference }, "the stream did not acknowledge PlacementStarted; not placed — the claimed placement is reconciled when its lease ends");
      return { retryAfterMs: STREAM_RETRY_MS };
    }
    if (start === "taken_over") {
      // The lease ran out while the stream answered, and another handler took the placement over.
      await this.release(permit, NO_CALL, log);
      return RACED;
    }
    log.info({ provider: row.provider, reference: row.reference, offer: row.offerIndex, placeCalls: start.placeCalls }, "placing order");
    return this.request(event, start, provider, permit, log);
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
    // One reading of the clock for the decision and its answer: a rebuild decides at the answer's time.
    const answeredAt = this.clock();
    const d = afterPlace(row, placed, answeredAt, this.deps.policy, this.newReference(), sealedPin);
    const answered = makeEvent("PlacementAnswered", causedBy(event), placementAnswered(row, placed, d), answeredAt, this.newId());
    const answerOnStream = await this.commitAnswer(event, row, d, answered, factMsgId(answered, `${row.reference}:${row.placeCalls}`), log);
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
      if (!answerOnStream) return { retryAfterMs: STREAM_RETRY_MS };
      return this.place(event, d.row, log, "answer_on_stream");
    }
    return this.outcome(d);
  }

  /**
   * Append a claimed placement's PlacementStarted and wait for the stream's acknowledgement, asking
   * again under the same msgID (the stream keeps one copy) while the claim's lease lasts. Acknowledged
   * (stored now or before): the row to place, its lease renewed (compare-and-set) when the answer came
   * later than `startAckMs` after the claim, so the request still fits in it — "taken_over" when the
   * renewal finds that another handler took the placement over meanwhile.
   */
  private async appendStart(started: OrderEvent, placing: PlacingRow, log: Logger): Promise<PlacingRow | "unacknowledged" | "taken_over"> {
    const msgId = factMsgId(started, `${placing.reference}:${placing.placeCalls}`);
    const until = placing.leaseUntil?.getTime() ?? placing.updatedAt.getTime() + this.deps.policy.leaseMs;
    for (let ask = 1; ; ask++) {
      const left = until - this.clock().getTime();
      if (left <= 0) return "unacknowledged";
      try {
        await this.deps.facts.append(started, msgId, Math.min(START_ASK_TIMEOUT_MS, left));
        if (ask > 1) log.info({ reference: placing.reference, asks: ask }, "PlacementStarted acknowledged after asking again");
        break;
      } catch (error) {
        log.warn({ err: error, reference: placing.reference, ask }, "the stream did not acknowledge PlacementStarted");
        await sleep(Math.min(START_ASK_PAUSE_MS, Math.max(0, until - this.clock().getTime())));
      }
    }
    const now = this.clock();
    if (now.getTime() - placing.updatedAt.getTime() <= this.deps.policy.startAckMs) return placing;
    const renewed = renewLease(placing, now, this.deps.policy);
    if (await this.deps.store.update(renewed, [])) {
      log.info({ reference: placing.reference, waitedMs: now.getTime() - placing.updatedAt.getTime() }, "PlacementStarted acknowledged late; lease renewed before the request");
      return renewed;
    }
    return "taken_over";
  }

  /**
   * A `placing` row being reconciled: its handler claimed it and may or may not have had its
   * PlacementStarted acknowledged (a crash, or the stream away). The start goes on the stream before the
   * reconcile's own answers, so the stream reads as the row does (I5); a late copy from the first
   * handler is then a duplicate. False when the stream cannot be reached now.
   */
  private async ensureStart(event: EventOf<"OrderCreated">, row: PlacingRow, log: Logger): Promise<boolean> {
    try {
      if (await this.deps.facts.startRecorded(row.orderId, row.reference, row.placeCalls)) return true;
      const started = makeEvent("PlacementStarted", causedBy(event), placementStarted(row), row.updatedAt, this.newId());
      await this.deps.facts.append(started, factMsgId(started, `${row.reference}:${row.placeCalls}`));
      log.warn({ provider: row.provider, reference: row.reference, placeCalls: row.placeCalls }, "a claimed placement's PlacementStarted was not on the stream; appended before reconciling");
      return true;
    } catch (error) {
      log.warn({ err: error, reference: row.reference }, "cannot put the claimed placement's start on the stream now; reconciling later");
      return false;
    }
  }

  /** Ask the provider about the reference of an open row before anything else (I1). */
  private async reconcile(event: EventOf<"OrderCreated">, row: OpenRow, log: Logger): Promise<HandlerOutcome | Raced> {
    if (row.state === "placing" && !(await this.ensureStart(event, row, log))) return { retryAfterMs: STREAM_RETRY_MS };
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
    const answeredAt = this.clock();
    const d = afterReconcile(claimed, result, answeredAt, this.deps.policy);
    const answered = makeEvent("ReconcileAnswered", causedBy(event), reconcileAnswered(claimed, result), answeredAt, this.newId());
    const answerOnStream = await this.commitAnswer(event, claimed, d, answered, factMsgId(answered, `${claimed.reference}:${claimed.attempt}`), log);
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
      if (!answerOnStream) return { retryAfterMs: STREAM_RETRY_MS };
      return this.place(event, d.row, log, "answer_on_stream");
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
    if (!(await this.deps.store.update(d.row, this.outbox(event, d.events, d.row.generation, d.row.updatedAt)))) return RACED;
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
    if (!(await this.deps.store.update(d.row, this.outbox(event, d.events, d.row.generation, d.row.updatedAt)))) return RACED;
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

  /**
   * A provider's answer: committed with the decision (outbox, ahead of the decision's events), or,
   * when the decision places again at once (the next offer, or the same reference after proof),
   * appended to the stream first, so it is there before that request's PlacementStarted. If the
   * stream does not take it now, it goes through the outbox under the same msgID.
   */
  /**
   * Commit the decision with the provider's answer in the outbox (one transaction), and only then, when
   * the next step is another place request, append the answer to the stream at once (its msgID makes the
   * outbox copy a no-op), so it is on the stream before the next PlacementStarted. Never the other way
   * round: an answer appended before a commit that then fails (PostgreSQL restarting) would tell the
   * stream a story the row never learnt — the stream says "refused, next offer", the row stays placing
   * and is reconciled, placed again and sent to review — and a rebuild would give another row (I5).
   */
  private async commitAnswer(event: EventOf<"OrderCreated">, held: OpenRow, d: Decision, answered: OrderEvent, msgId: string, log: Logger): Promise<boolean> {
    await this.commit(event, held, d, log, [{ event: answered, msgId, once: false }]);
    if (d.then !== "place") return true;
    if (await this.deps.store.hasUnpublishedEvents(held.orderId, msgId)) {
      // An earlier answer is still only in the outbox: appended now, this one would stand before it. The relay keeps their order.
      this.deps.kick();
      log.info({ type: answered.type }, "the order's earlier events are not on the stream yet; the outbox relays this answer after them");
      return false;
    }
    try {
      await this.deps.facts.append(answered, msgId);
      return true;
    } catch (error) {
      // The next request waits for the relay (see place): its PlacementStarted must come after this answer.
      log.warn({ err: error, type: answered.type }, "could not append the answer to the stream now; the outbox relays it before the next request");
      return false;
    }
  }

  /** Write the decision and its events in one transaction (CAS on the version we hold); release the row on failure. */
  private async commit(event: EventOf<"OrderCreated">, held: OpenRow, d: Decision, log: Logger, facts: OutboxEntry[] = []): Promise<void> {
    let written: boolean;
    try {
      written = await this.deps.store.update(d.row, [...facts, ...this.outbox(event, d.events, d.row.generation, d.row.updatedAt)]);
    } catch (error) {
      await this.deps.store.update(releaseLease(held, this.clock()), []).catch(() => false);
      throw error;
    }
    if (!written) {
      log.error({ version: held.version }, "the order's row changed while a provider call was in flight");
      throw new ConcurrentUpdate(`dispatch row of order ${held.orderId} changed under a held lease`);
    }
    if (d.events.length > 0 || facts.length > 0) this.deps.kick();
  }

  private outcome(d: Decision): HandlerOutcome {
    const then = d.then;
    if (then === "ack") return ACK;
    if (then === "place") throw new Error("a ready row must be placed before answering");
    return { retryAfterMs: then.retryAfterMs };
  }

  /** A decision's events, stamped with the decision's own time `at` (a hold's `since` is its DispatchHeld's time: one reading of the clock). */
  private outbox(cause: EventOf<"OrderCreated">, drafts: readonly EventDraft[], generation: number, at: Date): OutboxEntry[] {
    return outboxEntries(causedBy(cause), drafts, generation, at, this.newId);
  }

  private observeAccepted(event: EventOf<"OrderCreated">, provider: string): void {
    this.deps.metrics.acceptedAfter(provider, (this.clock().getTime() - Date.parse(event.occurredAt)) / 1000);
  }
}
