/**
 * The OrderCreated handler: reads the dispatch row, asks the pure rules what to do, makes the
 * provider call, and commits each result with its events (outbox) in one transaction.
 */
import { randomUUID } from "node:crypto";
import { ACK, causedBy, factMsgId, makeEvent, type DeliveryContext, type EventOrigin, type HandlerOutcome } from "@pinflow/bus";
import type { EventOf, OrderEvent, ProviderName } from "@pinflow/contracts";
import type { OutboxEntry } from "@pinflow/pg";
import type { CheckResult, PlaceResult } from "@pinflow/providers";
import type { Logger } from "pino";
import {
  afterPlace,
  afterReconcile,
  chooseOffer,
  claimForReconcile,
  nextStep,
  releaseLease,
  startPlacement,
  unroutable,
  type Decision,
  type DispatchPolicy,
  type EventDraft,
  type OpenRow,
  type OrderInput,
  type PlacingRow,
} from "./dispatch.js";
import type { DispatchStore } from "./dispatch-store.js";
import { ConcurrentUpdate } from "./dispatch-store.js";
import type { DispatchMetrics } from "./metrics.js";
import type { DispatchProvider, ProviderRegistry } from "./providers.js";

export interface DispatchHandlerDeps {
  store: DispatchStore;
  providers: ProviderRegistry;
  policy: DispatchPolicy;
  /** Called after every commit that enqueued events. */
  kick: () => void;
  logger: Logger;
  metrics: DispatchMetrics;
  clock?: () => Date;
  newId?: () => string;
}

export class ReferenceExhausted extends Error {
  override name = "ReferenceExhausted";
}

const REFERENCE_DRAWS = 5;
/** Re-reads after losing a race for the row to another handler. */
const RACE_ROUNDS = 3;
const RACE_RETRY_MS = 250;

type Raced = { raced: true };
const RACED: Raced = { raced: true };

export class DispatchHandler {
  private readonly clock: () => Date;
  private readonly newId: () => string;

  constructor(private readonly deps: DispatchHandlerDeps) {
    this.clock = deps.clock ?? (() => new Date());
    this.newId = deps.newId ?? randomUUID;
  }

  /** WorkHandler: bound, so it can be passed to the WorkConsumer as is. */
  readonly handle = async (event: OrderEvent, ctx: DeliveryContext): Promise<HandlerOutcome> => {
    if (event.type !== "OrderCreated") return { reject: `unexpected event type ${event.type}` };
    const log = this.deps.logger.child({ orderId: event.orderId, eventId: event.id, delivery: ctx.deliveryCount });
    for (let round = 0; round < RACE_ROUNDS; round++) {
      const row = await this.deps.store.get(event.orderId);
      const step = nextStep(row, this.clock());
      let outcome: HandlerOutcome | Raced;
      switch (step.kind) {
        case "finished":
          log.debug({ state: step.row.state }, "order already dispatched; acking");
          return ACK;
        case "wait":
          log.info({ retryInMs: step.retryAfterMs }, "another handler holds the order; retrying later");
          this.deps.metrics.outcome(row?.state === "unrouted" || row === null ? "none" : row.provider, "busy");
          return { retryAfterMs: step.retryAfterMs };
        case "place":
          outcome = await this.placeNew(event, log);
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

  private async placeNew(event: EventOf<"OrderCreated">, log: Logger): Promise<HandlerOutcome | Raced> {
    const order: OrderInput = { orderId: event.orderId, ...event.data };
    const configured = new Set<ProviderName>(this.deps.providers.keys());
    const offer = chooseOffer(await this.deps.store.offers(order.packageId), configured);
    if (offer === null) {
      const d = unroutable(order, configured, this.clock());
      const result = await this.deps.store.insert(d.row, this.outbox(event, d.events));
      if (result !== "inserted") return RACED;
      this.deps.kick();
      this.deps.metrics.outcome("none", "no_route");
      log.warn({ packageId: order.packageId }, "no route for package; DispatchFailed(no_route)");
      return ACK;
    }
    const provider = this.provider(offer.provider);
    for (let draw = 0; draw < REFERENCE_DRAWS; draw++) {
      const row = startPlacement(order, offer, provider.newReference(), this.clock(), this.deps.policy);
      const result = await this.deps.store.insert(row, []);
      if (result === "exists") return RACED;
      if (result === "reference_taken") {
        log.warn({ reference: row.reference }, "reference already taken; drawing another");
        continue;
      }
      log.info({ provider: row.provider, reference: row.reference }, "placing order");
      return this.place(event, row, provider, log);
    }
    throw new ReferenceExhausted(`no free ${offer.provider} reference after ${REFERENCE_DRAWS} draws`);
  }

  /** A place request for a `placing` row whose reference (and lease) is committed. */
  private async place(event: EventOf<"OrderCreated">, row: PlacingRow, provider: DispatchProvider, log: Logger): Promise<HandlerOutcome> {
    let result: PlaceResult;
    try {
      result = await provider.place({ reference: row.reference, productCode: row.productCode, playerId: row.playerId, extra: row.extra });
    } catch (error) {
      // Adapters never throw for provider behaviour; if one does, the request may have gone out.
      result = { kind: "ambiguous", cause: `adapter error: ${String((error as Error)?.message ?? error).slice(0, 200)}` };
    }
    const d = afterPlace(row, result, this.clock(), this.deps.policy);
    await this.commit(event, row, d, log);
    switch (result.kind) {
      case "accepted":
        this.deps.metrics.outcome(row.provider, "accepted");
        this.observeAccepted(event, row.provider);
        if (row.maxCost !== null && Number(result.cost) > Number(row.maxCost)) {
          log.warn({ reference: row.reference, cost: result.cost, maxCost: row.maxCost }, "provider charged more than the route's maxCost");
        }
        log.info({ reference: row.reference, cost: result.cost, placeCalls: row.placeCalls }, "order accepted; OrderSent");
        break;
      case "refused":
        this.deps.metrics.outcome(row.provider, d.row.state === "refused" ? "refused" : d.row.state === "sent" ? "reconciled" : "review");
        if (d.row.state === "sent") this.observeAccepted(event, row.provider);
        log.info(
          { reference: row.reference, providerCode: result.providerCode, reasonCode: result.reasonCode, state: d.row.state },
          "provider refused the placement",
        );
        break;
      case "ambiguous":
        this.deps.metrics.outcome(row.provider, "ambiguous");
        this.deps.metrics.providerError(row.provider, "place_ambiguous");
        log.warn({ reference: row.reference, cause: result.cause }, "placement outcome unknown; will reconcile before anything else");
        break;
      default: {
        const never: never = result;
        throw new Error(`unhandled place result ${JSON.stringify(never)}`);
      }
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
      return { retryAfterMs: this.deps.policy.retryMaxMs };
    }
    const claimed = claimForReconcile(row, this.clock(), this.deps.policy);
    if (!(await this.deps.store.update(claimed, []))) return RACED;
    let result: CheckResult;
    try {
      result = await provider.check(claimed.reference);
    } catch (error) {
      result = { kind: "unknown", cause: `adapter error: ${String((error as Error)?.message ?? error).slice(0, 200)}` };
    }
    const d = afterReconcile(claimed, result, this.clock(), this.deps.policy);
    await this.commit(event, claimed, d, log);
    switch (result.kind) {
      case "pending":
      case "done":
      case "cancelled":
        this.deps.metrics.outcome(row.provider, "reconciled");
        this.observeAccepted(event, row.provider);
        log.info({ reference: row.reference, found: result.kind }, "placement found at the provider; OrderSent");
        break;
      case "not_found":
        this.deps.metrics.providerError(row.provider, "check_not_found");
        log.warn({ reference: row.reference, streak: claimed.notFoundStreak + 1, next: d.row.state }, "provider does not know the reference");
        break;
      case "unknown":
        this.deps.metrics.providerError(row.provider, "check_unknown");
        log.warn({ reference: row.reference, cause: result.cause, tries: claimed.reconcileTries + 1 }, "placement still unknown");
        break;
      default: {
        const never: never = result;
        throw new Error(`unhandled check result ${JSON.stringify(never)}`);
      }
    }
    if (d.then === "place-again" && d.row.state === "placing") {
      this.deps.metrics.outcome(row.provider, "place_again");
      log.warn({ reference: d.row.reference, placeCalls: d.row.placeCalls }, "placement definitely absent; placing again with the same reference");
      return this.place(event, d.row, provider, log);
    }
    if (d.row.state === "review") {
      this.deps.metrics.outcome(row.provider, "review");
      log.error({ reference: row.reference, message: d.row.message }, "placement unknown; ReviewRequired");
    } else if (d.row.state === "unknown") {
      this.deps.metrics.outcome(row.provider, "retry");
    }
    return this.outcome(d);
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
    if (then === "place-again") throw new Error("place-again must be handled before answering");
    return { retryAfterMs: then.retryAfterMs };
  }

  private outbox(cause: EventOf<"OrderCreated">, drafts: readonly EventDraft[]): OutboxEntry[] {
    const origin = causedBy(cause);
    const at = this.clock();
    return drafts.map((draft) => {
      const event = envelope(draft, origin, at, this.newId());
      // Every dispatcher fact is once-only per order (terminal, or the single acceptance).
      return { event, msgId: factMsgId(event), once: true };
    });
  }

  private provider(name: ProviderName): DispatchProvider {
    const p = this.deps.providers.get(name);
    if (p === undefined) throw new Error(`provider ${name} chosen but not configured`);
    return p;
  }

  private observeAccepted(event: EventOf<"OrderCreated">, provider: string): void {
    this.deps.metrics.acceptedAfter(provider, (this.clock().getTime() - Date.parse(event.occurredAt)) / 1000);
  }
}

function envelope(draft: EventDraft, origin: EventOrigin, at: Date, id: string): OrderEvent {
  switch (draft.type) {
    case "OrderSent":
      return makeEvent("OrderSent", origin, draft.data, at, id);
    case "DispatchFailed":
      return makeEvent("DispatchFailed", origin, draft.data, at, id);
    case "ReviewRequired":
      return makeEvent("ReviewRequired", origin, draft.data, at, id);
    default: {
      const never: never = draft;
      throw new Error(`unhandled event draft ${JSON.stringify(never)}`);
    }
  }
}
