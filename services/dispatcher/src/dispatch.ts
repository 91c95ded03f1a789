/**
 * The dispatcher's rules (DESIGN.md §1 I1/I2, §4), as pure functions over the dispatch row.
 * No pg, NATS, Nest or clock/random in here: time, references and provider answers are passed in,
 * and the results are the next row plus event drafts (the handler wraps them in envelopes).
 *
 *   ready → placing → sent | refused | unknown → (reconciled) sent | ready (same reference) | review
 *   refused before acceptance, another offer left → ready (next offer, new reference) → placing …
 *   (no configured offer, or every offer refused without a call) → unrouted
 *
 * A package's route is an ordered list of offers (provider, product codes, most we pay). Only a
 * definite refusal of an offer (FALLBACK_REASONS) moves the order to the next one; an ambiguous
 * outcome is always reconciled with the SAME provider and reference, never routed elsewhere.
 */
import type { EncryptedPin, EventData, HoldReason, ProviderName, ReasonCode, ReviewReason } from "@pinflow/contracts";
import type { CheckResult, PlaceResult } from "@pinflow/providers";

export interface DispatchPolicy {
  /** Unclear reconcile answers (unknown or not_found) before the order goes to review. */
  maxReconcileTries: number;
  /** Consecutive not_found answers, on separate deliveries, before the same reference is placed again. */
  notFoundBeforeReplace: number;
  /** Delay before the first reconcile; doubles with every unclear answer, up to `retryMaxMs`. */
  retryBaseMs: number;
  retryMaxMs: number;
  /** How long a handler holds the row while a provider call is in flight (longer than the call's timeout). */
  leaseMs: number;
  /**
   * How long a claimed placement may wait for the stream to acknowledge its PlacementStarted with its
   * request still fitting in the lease as claimed (at most `leaseMs` minus the call's timeout). A later
   * acknowledgement renews the lease (compare-and-set) before the request goes out. Unacknowledged
   * for the whole lease, the placement stays claimed, unsent, and is reconciled once the lease ends —
   * its start appended again first.
   */
  startAckMs: number;
  /**
   * Place requests per reference, counted before each request goes out (so every path counts:
   * duplicate deliveries, races, crash-restarts): the first request plus re-places after proof.
   * At the bound, a further "not found" sends the order to review with the evidence.
   */
  maxPlaceCalls: number;
  /** Which offers may be placed without a known price. */
  priceGuard: PriceGuard;
  /**
   * How long after it was first handled an order may wait while its provider's calls are held back
   * (paused, circuit open, shut out, not configured) before it goes to review with the last reason.
   */
  dispatchDeadlineMs: number;
}

/**
 * A price is known when the provider's list was imported less than `maxAgeMs` ago. An offer without a
 * known price is not placed (price_unknown) unless the operator allows it for that provider.
 */
export interface PriceGuard {
  maxAgeMs: number;
  unknownPriceAllowed: readonly ProviderName[];
}

export const DEFAULT_POLICY: DispatchPolicy = {
  maxReconcileTries: 8,
  notFoundBeforeReplace: 2,
  retryBaseMs: 2_000,
  retryMaxMs: 60_000,
  leaseMs: 30_000,
  startAckMs: 5_000,
  maxPlaceCalls: 2,
  priceGuard: { maxAgeMs: 7 * 24 * 60 * 60 * 1000, unknownPriceAllowed: [] },
  dispatchDeadlineMs: 30 * 60 * 1000,
};

/** What the dispatcher needs from an OrderCreated. */
export interface OrderInput {
  orderId: string;
  packageId: string;
  playerId: string;
  extra: string | null;
}

/** One ranked provider offer for a package (from the route table). */
export interface Offer {
  provider: ProviderName;
  productCode: Record<string, string>;
  /** The most we pay (TRY), a decimal string. */
  maxCost: string;
  /** The provider's price from the imported catalog (TRY), or null when its list is not imported. */
  price: string | null;
  /** When that price was imported (ISO time), or null. */
  priceImportedAt: string | null;
}

/** An offer that definitely did not take the order (refused by the provider, or refused here before a call). */
export interface PastAttempt {
  provider: ProviderName;
  /** null when the offer was refused without a call (cost above the maximum). */
  reference: string | null;
  reasonCode: ReasonCode;
  providerCode: string | null;
  message: string;
}

/**
 * Definite refusals before acceptance that move the order to the next offer: the provider cannot
 * serve it (stock, balance, product, our account or its own error), nothing was charged. A refusal
 * about the order itself (invalid_player) fails it; duplicate_reference is never a plain refusal.
 */
export const FALLBACK_REASONS: ReadonlySet<ReasonCode> = new Set<ReasonCode>([
  "insufficient_balance",
  "product_unavailable",
  "auth_failed",
  "provider_error",
  "cost_above_maximum",
  "price_unknown",
]);

export interface RowBase {
  orderId: string;
  packageId: string;
  playerId: string;
  extra: string | null;
  /** Handling steps that changed the row (placements and reconciles). */
  attempt: number;
  /** Optimistic-concurrency version: every write is a compare-and-set on the previous one. */
  version: number;
  /**
   * The dispatch generation: 1 for the first dispatch, one more for each operator's "dispatch again"
   * (RedispatchRequested). A later generation's once-only facts carry it in their msgIDs.
   */
  generation: number;
  /** When the current generation was opened (the dispatch deadline runs from here). */
  createdAt: Date;
  updatedAt: Date;
  /** The package's offers to configured providers when the order was first handled, best first. */
  route: Offer[];
  /** Offers that definitely did not take the order, oldest first. */
  history: PastAttempt[];
  /** DispatchHeld events appended so far (each is numbered, so each is its own fact). */
  holds: number;
}

/** Why the order waits before its next provider call, since when (shown on the order through DispatchHeld). */
export interface Hold {
  reason: HoldReason;
  message: string;
  since: Date;
}

/**
 * The current provider leg (one offer of the route): its reference is chosen once, stored before the
 * first call and reused on every retry of this offer; the next offer gets a new reference.
 */
export interface Placement {
  /** Index of the offer in `route`. */
  offerIndex: number;
  provider: ProviderName;
  reference: string;
  productCode: Record<string, string>;
  maxCost: string | null;
  /** Place requests started with this reference (counted before each request goes out). */
  placeCalls: number;
  /** Unclear reconcile answers so far (unknown and not_found). */
  reconcileTries: number;
  /** not_found answers in a row since the last place request. */
  notFoundStreak: number;
  /** Not before this time is the provider asked about the reference again (stored, so a redelivery cannot skip it). */
  nextTryAt: Date | null;
  /** Set while a provider call is in flight; null otherwise. */
  leaseUntil: Date | null;
  /** Why the last place request was ambiguous. */
  placeError: string | null;
  /** The last unclear answer (place or check). */
  lastError: string | null;
  /** Why the order waits now (calls held back, or the provider shut us out); null once a readable answer came. */
  hold: Hold | null;
}

/** An attempt chosen and committed (reference stored) whose place request has not gone out yet. */
export type ReadyRow = RowBase & Placement & { state: "ready" };
export type PlacingRow = RowBase & Placement & { state: "placing" };
export type UnknownRow = RowBase & Placement & { state: "unknown" };
export type SentRow = RowBase &
  Placement & { state: "sent"; cost: string | null; balance: string | null; providerOrderId: string | null };
export type RefusedRow = RowBase & Placement & { state: "refused"; reasonCode: ReasonCode; providerCode: string; message: string };
export type ReviewRow = RowBase & Placement & { state: "review"; message: string };
/** Failed before any provider call: no configured offer (no_route), or every offer refused without a call. */
export type UnroutedRow = RowBase & { state: "unrouted"; reasonCode: ReasonCode; message: string };

export type DispatchRow = ReadyRow | PlacingRow | UnknownRow | SentRow | RefusedRow | ReviewRow | UnroutedRow;
/** Rows whose placement outcome is not known yet. */
export type OpenRow = PlacingRow | UnknownRow;
export type DispatchState = DispatchRow["state"];

export type EventDraft =
  | { type: "OrderSent"; data: EventData<"OrderSent"> }
  | { type: "PinReceived"; data: EventData<"PinReceived"> }
  | { type: "DispatchFailed"; data: EventData<"DispatchFailed"> }
  | { type: "ReviewRequired"; data: EventData<"ReviewRequired"> }
  /** `seq`: the order's count of DispatchHeld events, this one included (its msgID discriminator). */
  | { type: "DispatchHeld"; seq: number; data: EventData<"DispatchHeld"> }
  | { type: "RedispatchRequested"; data: EventData<"RedispatchRequested"> };

/** ack; "place": the decision's row is `ready`, place it now; or come back later. */
export type Then = "ack" | "place" | { retryAfterMs: number };

export interface Decision<R extends DispatchRow = DispatchRow> {
  row: R;
  events: EventDraft[];
  then: Then;
}

export type Step =
  /** No row yet: choose the route, store the reference, then place. */
  | { kind: "open" }
  /** An attempt is stored but not requested yet: place it (under the provider's limits). */
  | { kind: "place"; row: ReadyRow }
  /** A placement may or may not exist: ask the provider about the reference first. */
  | { kind: "reconcile"; row: OpenRow }
  /** Another handler holds the row (a provider call in flight), or the next reconcile is not due yet: come back later. */
  | { kind: "wait"; why: "lease" | "spacing"; retryAfterMs: number }
  /** The row may not be placed again (the bound of place requests is reached): review, no call. */
  | { kind: "review"; decision: Decision<ReviewRow> }
  /** A final state: its event is already in the outbox. */
  | { kind: "finished"; row: DispatchRow };

export class InvalidTransition extends Error {
  override name = "InvalidTransition";
}

const MAX_TEXT = 500;
const MAX_CODE = 32;

/** Trim a text to the contracts' limit. */
export function clip(text: string, max = MAX_TEXT): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

function assertNever(x: never): never {
  throw new InvalidTransition(`unhandled case: ${JSON.stringify(x)}`);
}

/** What to do with an OrderCreated, given the order's row (or none). */
export function nextStep(row: DispatchRow | null, now: Date, policy: DispatchPolicy): Step {
  if (row === null) return { kind: "open" };
  switch (row.state) {
    case "ready":
      if (row.placeCalls >= policy.maxPlaceCalls) return { kind: "review", decision: placeBoundReached(row, now, policy) };
      return { kind: "place", row };
    case "placing":
    case "unknown": {
      if (row.leaseUntil !== null && row.leaseUntil.getTime() > now.getTime()) {
        return { kind: "wait", why: "lease", retryAfterMs: row.leaseUntil.getTime() - now.getTime() + 100 };
      }
      if (row.nextTryAt !== null && row.nextTryAt.getTime() > now.getTime()) {
        return { kind: "wait", why: "spacing", retryAfterMs: row.nextTryAt.getTime() - now.getTime() };
      }
      return { kind: "reconcile", row };
    }
    case "sent":
    case "refused":
    case "review":
    case "unrouted":
      return { kind: "finished", row };
    default:
      return assertNever(row);
  }
}

/** -1, 0 or 1: compares two decimal strings exactly (no floating point). */
export function compareMoney(a: string, b: string): number {
  const parse = (m: string): bigint => {
    const t = m.trim();
    const neg = t.startsWith("-");
    const [whole = "0", frac = ""] = (neg ? t.slice(1) : t).split(".");
    const v = BigInt(whole || "0") * 10n ** 12n + BigInt((frac + "0".repeat(12)).slice(0, 12) || "0");
    return neg ? -v : v;
  };
  const x = parse(a);
  const y = parse(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** The offers whose provider is configured, in route order. */
export function configuredOffers(offers: readonly Offer[], configured: ReadonlySet<ProviderName>): Offer[] {
  return offers.filter((o) => configured.has(o.provider));
}

/** "7d", "36h", "90m", "45s" or "1500ms": a duration for messages. */
function duration(ms: number): string {
  for (const [unit, size] of [["d", 86_400_000], ["h", 3_600_000], ["m", 60_000], ["s", 1_000]] as const) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

/** Why an offer may not be placed before any call (its known price is too high, or no price is known), or null. */
export function refusedBeforeCall(offer: Offer, now: Date, guard: PriceGuard): { reasonCode: ReasonCode; message: string } | null {
  const importedAt = offer.priceImportedAt === null ? Number.NaN : Date.parse(offer.priceImportedAt);
  const known = offer.price !== null && Number.isFinite(importedAt) && now.getTime() - importedAt < guard.maxAgeMs;
  if (known && offer.price !== null && compareMoney(offer.price, offer.maxCost) > 0) {
    return { reasonCode: "cost_above_maximum", message: `${offer.provider} price ${offer.price} is above the maximum ${offer.maxCost}; not placed` };
  }
  if (known || guard.unknownPriceAllowed.includes(offer.provider)) return null;
  const why =
    offer.price === null
      ? `${offer.provider} price is unknown (its product list was never imported)`
      : `${offer.provider} price ${offer.price} was imported at ${offer.priceImportedAt ?? "an unknown time"} (older than ${duration(guard.maxAgeMs)})`;
  return { reasonCode: "price_unknown", message: `${why}; not placed` };
}

/**
 * The next offer to try from `from` on. An offer whose known price is above its maximum
 * (cost_above_maximum), or without a known price where the operator does not allow that
 * (price_unknown), is refused here, without a call, and the search goes on.
 */
export function planFrom(route: readonly Offer[], from: number, now: Date, guard: PriceGuard): { index: number | null; skipped: PastAttempt[] } {
  const skipped: PastAttempt[] = [];
  for (let i = Math.max(0, from); i < route.length; i++) {
    const offer = route[i];
    if (offer === undefined) continue;
    const refused = refusedBeforeCall(offer, now, guard);
    if (refused !== null) {
      skipped.push({ provider: offer.provider, reference: null, reasonCode: refused.reasonCode, providerCode: null, message: clip(refused.message) });
      continue;
    }
    return { index: i, skipped };
  }
  return { index: null, skipped };
}

function leaseFrom(now: Date, policy: DispatchPolicy): Date {
  return new Date(now.getTime() + policy.leaseMs);
}

/** Delay before the next reconcile after `tries` unclear answers. */
export function retryDelay(tries: number, policy: DispatchPolicy): number {
  const exp = Math.min(30, Math.max(0, tries));
  return Math.min(policy.retryMaxMs, policy.retryBaseMs * 2 ** exp);
}

/** The counters, times and notes of a placement nothing was tried for yet. */
export const UNTRIED: Pick<
  Placement,
  "placeCalls" | "reconcileTries" | "notFoundStreak" | "nextTryAt" | "leaseUntil" | "placeError" | "lastError" | "hold"
> = Object.freeze({ placeCalls: 0, reconcileTries: 0, notFoundStreak: 0, nextTryAt: null, leaseUntil: null, placeError: null, lastError: null, hold: null });

/** A fresh attempt at offer `index` of the row's route: new reference, counters at zero, no lease. */
export function attemptAt(base: RowBase, route: readonly Offer[], index: number, reference: string): ReadyRow {
  const offer = route[index];
  if (offer === undefined) throw new InvalidTransition(`no offer ${index} in the route of order ${base.orderId}`);
  return {
    ...base,
    state: "ready",
    offerIndex: index,
    provider: offer.provider,
    reference,
    productCode: { ...offer.productCode },
    maxCost: offer.maxCost,
    ...UNTRIED,
  };
}

/** The DispatchFailed for refusals on every offer: the last reason code, earlier ones summed up. */
function failedOnEveryOffer(history: readonly PastAttempt[]): EventDraft & { type: "DispatchFailed" } {
  const last = history.at(-1);
  if (last === undefined) throw new InvalidTransition("a failure without any refusal");
  const earlier = history.slice(0, -1).map((h) => `${h.provider} ${h.reasonCode}`);
  const message = clip(earlier.length === 0 ? last.message : `${last.message} (earlier offers: ${earlier.join(", ")})`);
  return { type: "DispatchFailed", data: { reasonCode: last.reasonCode, provider: last.provider, providerCode: last.providerCode, message } };
}

/**
 * A new order: snapshot the route (offers to configured providers), choose the first offer that may
 * be placed and store its reference (the row is `ready`: place it next). No such offer → unrouted.
 */
export function openOrder(
  order: OrderInput,
  offers: readonly Offer[],
  configured: ReadonlySet<ProviderName>,
  reference: string,
  now: Date,
  policy: DispatchPolicy,
): Decision<ReadyRow | UnroutedRow> {
  const route = configuredOffers(offers, configured).map((o) => ({ ...o, productCode: { ...o.productCode } }));
  const base: RowBase = {
    orderId: order.orderId,
    packageId: order.packageId,
    playerId: order.playerId,
    extra: order.extra,
    attempt: 0,
    version: 1,
    generation: 1,
    createdAt: now,
    updatedAt: now,
    route,
    history: [],
    holds: 0,
  };
  if (route.length === 0) {
    const names = [...configured].sort().join(", ") || "none";
    const message = clip(`no route for package ${order.packageId} (configured providers: ${names})`);
    return {
      row: { ...base, state: "unrouted", reasonCode: "no_route", message },
      events: [{ type: "DispatchFailed", data: { reasonCode: "no_route", provider: null, providerCode: null, message } }],
      then: "ack",
    };
  }
  const plan = planFrom(route, 0, now, policy.priceGuard);
  if (plan.index === null) {
    const failed = failedOnEveryOffer(plan.skipped);
    return {
      row: { ...base, history: plan.skipped, state: "unrouted", reasonCode: failed.data.reasonCode, message: failed.data.message },
      events: [failed],
      then: "ack",
    };
  }
  return { row: attemptAt({ ...base, history: plan.skipped }, route, plan.index, reference), events: [], then: "place" };
}

/** Who asked for the order to be dispatched again, and why. */
export interface RedispatchRequest {
  operator: string;
  reason: string;
}

/**
 * An operator's "dispatch again" of an order in review (the caller has checked, from the order's
 * events, that no placement can exist: redispatch.ts): the next dispatch generation, opened like a
 * new order on the route as it is now, with a new reference. Its RedispatchRequested carries what a
 * replay needs to rebuild the row (generation, offer, reference, route). When no offer can be placed
 * the order fails at once (DispatchFailed), as a new order would.
 */
export function reopen(
  row: ReviewRow,
  request: RedispatchRequest,
  offers: readonly Offer[],
  configured: ReadonlySet<ProviderName>,
  reference: string,
  now: Date,
  policy: DispatchPolicy,
): Decision<ReadyRow | UnroutedRow> {
  const order: OrderInput = { orderId: row.orderId, packageId: row.packageId, playerId: row.playerId, extra: row.extra };
  const opened = openOrder(order, offers, configured, reference, now, policy);
  const generation = row.generation + 1;
  const carried = { attempt: row.attempt, version: row.version + 1, generation, holds: row.holds };
  const next: ReadyRow | UnroutedRow = { ...opened.row, ...carried };
  const placed = next.state === "ready" ? { offerIndex: next.offerIndex, reference: next.reference } : { offerIndex: null, reference: null };
  const requested: EventDraft = {
    type: "RedispatchRequested",
    data: { operator: request.operator, reason: clip(request.reason), generation, ...placed, route: next.route.map(routeOfferData), openedAt: now.toISOString() },
  };
  return { row: next, events: [requested, ...opened.events], then: opened.then };
}

/** One offer as the events carry it. */
export function routeOfferData(o: Offer): Offer {
  return { provider: o.provider, productCode: { ...o.productCode }, maxCost: o.maxCost, price: o.price, priceImportedAt: o.priceImportedAt };
}

/** No configured provider offers the package: a definite failure, decided before anything was sent. */
export function unroutable(order: OrderInput, configured: ReadonlySet<ProviderName>, now: Date): Decision<UnroutedRow> {
  const d = openOrder(order, [], configured, "-", now, DEFAULT_POLICY);
  if (d.row.state !== "unrouted") throw new InvalidTransition("an empty route must be unrouted");
  return { row: d.row, events: d.events, then: d.then };
}

/**
 * A single-offer placement, committed before its first request (kept for callers that already hold
 * an offer): reference chosen once, lease held, one place call counted.
 */
export function startPlacement(order: OrderInput, offer: Offer, reference: string, now: Date, policy: DispatchPolicy): PlacingRow {
  const d = openOrder(order, [offer], new Set([offer.provider]), reference, now, policy);
  if (d.row.state !== "ready") throw new InvalidTransition(`offer of order ${order.orderId} cannot be placed (${d.row.state})`);
  return beginPlace(d.row, now, policy);
}

/** Take a `ready` row for its place request: lease held while the request is in flight, the request counted before it goes out. */
export function beginPlace(row: ReadyRow, now: Date, policy: DispatchPolicy): PlacingRow {
  if (row.placeCalls >= policy.maxPlaceCalls) {
    throw new InvalidTransition(`reference ${row.reference} of order ${row.orderId} was requested ${row.placeCalls} time(s) already (bound ${policy.maxPlaceCalls})`);
  }
  return {
    ...row,
    state: "placing",
    attempt: row.attempt + 1,
    version: row.version + 1,
    updatedAt: now,
    placeCalls: row.placeCalls + 1,
    notFoundStreak: 0,
    nextTryAt: null,
    leaseUntil: leaseFrom(now, policy),
  };
}

/** Hold a claimed placement's row for a full lease from now (its PlacementStarted was acknowledged late). */
export function renewLease(row: PlacingRow, now: Date, policy: DispatchPolicy): PlacingRow {
  return { ...row, version: row.version + 1, updatedAt: now, leaseUntil: leaseFrom(now, policy) };
}

/** Take the row for a reconcile: hold the lease while the check call is in flight. */
export function claimForReconcile(row: OpenRow, now: Date, policy: DispatchPolicy): OpenRow {
  return { ...row, attempt: row.attempt + 1, version: row.version + 1, updatedAt: now, nextTryAt: null, leaseUntil: leaseFrom(now, policy) };
}

/** Give the row back without a result (the handler failed after claiming it). */
export function releaseLease(row: OpenRow, now: Date): OpenRow {
  return { ...row, version: row.version + 1, updatedAt: now, leaseUntil: null };
}

type PlacementPatch = Partial<Pick<Placement, "placeCalls" | "reconcileTries" | "notFoundStreak" | "placeError" | "lastError" | "leaseUntil" | "nextTryAt">>;

/** The row's common and placement fields, one version on, lease released, no reconcile due, no hold, with `patch` applied. */
function advance(row: ReadyRow | OpenRow, now: Date, patch: PlacementPatch = {}): RowBase & Placement {
  const { state: _state, ...rest } = row;
  return { ...rest, leaseUntil: null, nextTryAt: null, hold: null, ...patch, version: row.version + 1, updatedAt: now };
}

/** When the next reconcile is due, `delayMs` from now. */
function dueIn(now: Date, delayMs: number): Date {
  return new Date(now.getTime() + delayMs);
}

/** The route's maximum and, when the cost is known, whether the provider charged more. */
function costFacts(cost: string | null, maxCost: string | null): { maxCost?: string; costAboveMaximum?: boolean } {
  if (maxCost === null) return {};
  return cost === null ? { maxCost } : { maxCost, costAboveMaximum: compareMoney(cost, maxCost) > 0 };
}

function sentByReconcile(row: OpenRow, now: Date, how: string, patch: PlacementPatch = {}): Decision<SentRow> {
  return {
    row: { ...advance(row, now, { ...patch, lastError: clip(how) }), state: "sent", cost: null, balance: null, providerOrderId: null },
    events: [
      {
        type: "OrderSent",
        data: { packageId: row.packageId, provider: row.provider, reference: row.reference, cost: null, balance: null, providerOrderId: null, ...costFacts(null, row.maxCost) },
      },
    ],
    then: "ack",
  };
}

function review(
  row: ReadyRow | OpenRow,
  now: Date,
  message: string,
  patch: PlacementPatch = {},
  reason: ReviewReason = "placement_unknown",
  reference: string | null = row.reference,
): Decision<ReviewRow> {
  const text = clip(message);
  return {
    row: { ...advance(row, now, patch), hold: row.hold, state: "review", message: text },
    events: [{ type: "ReviewRequired", data: { stage: "dispatch", reason, provider: row.provider, reference, message: text } }],
    then: "ack",
  };
}

/** What an order shows while it waits for `reason` (no secrets: the adapters' causes are not needed here). */
export function holdMessage(provider: ProviderName, reason: HoldReason): string {
  switch (reason) {
    case "provider_paused":
      return `${provider} calls are paused by an operator; the order waits`;
    case "circuit_open":
      return `${provider} is failing (its circuit is open after unclear replies); the order waits`;
    case "provider_shut_out":
      return `${provider} shuts us out: it answers with an empty body (wrong code or password, API access off, or our IP not allowed); the order waits`;
    case "provider_not_configured":
      return `${provider} is not configured on this dispatcher; the order waits`;
    default:
      return assertNever(reason);
  }
}

/** The time a held order goes to review. */
export function dispatchDeadline(row: RowBase, policy: DispatchPolicy): Date {
  return new Date(row.createdAt.getTime() + policy.dispatchDeadlineMs);
}

/** `row` with `hold` (a new reason: one more DispatchHeld event), or unchanged when it already waits for that reason. */
function withHold<R extends ReadyRow | UnknownRow>(row: R, hold: Hold, policy: DispatchPolicy): { row: R; events: EventDraft[] } {
  if (row.hold?.reason === hold.reason) return { row, events: [] };
  const holds = row.holds + 1;
  const data = { provider: row.provider, reasonCode: hold.reason, message: clip(hold.message), deadline: dispatchDeadline(row, policy).toISOString() };
  return { row: { ...row, hold, holds }, events: [{ type: "DispatchHeld", seq: holds, data }] };
}

export type HeldOutcome =
  /** The order already waits for this reason: no write, no event; come back later. */
  | { kind: "wait"; retryAfterMs: number }
  /** Write the decision: a new hold reason (DispatchHeld), or review at the dispatch deadline. */
  | { kind: "write"; decision: Decision };

/**
 * The provider's calls are held back (paused, circuit open, shut out) or it is not configured: the
 * order waits, never fails and never goes elsewhere. A new or changed reason is published once
 * (DispatchHeld); at the dispatch deadline the order goes to review with the last reason.
 */
export function holdBack(row: ReadyRow | OpenRow, hold: { reason: HoldReason; message: string }, retryAfterMs: number, now: Date, policy: DispatchPolicy): HeldOutcome {
  const deadline = dispatchDeadline(row, policy);
  const left = deadline.getTime() - now.getTime();
  if (left <= 0) {
    const within = `within ${duration(policy.dispatchDeadlineMs)}`;
    if (row.state === "ready") {
      const sent = row.placeCalls === 0 ? "no place request was sent" : evidence(row);
      const message = `not dispatched ${within}: ${hold.message}; ${sent}`;
      return { kind: "write", decision: review(row, now, message, {}, "deadline_exceeded", row.placeCalls === 0 ? null : row.reference) };
    }
    return { kind: "write", decision: review(row, now, `${evidence(row)}; not resolved ${within}: ${hold.message}`) };
  }
  const wait = { retryAfterMs: Math.max(1, Math.min(retryAfterMs, left)) };
  if (row.hold?.reason === hold.reason) return { kind: "wait", ...wait };
  const moved = { ...row, version: row.version + 1, updatedAt: now };
  const next = row.state === "ready" ? withHold({ ...moved, state: "ready" }, { ...hold, since: now }, policy) : withHold({ ...moved, state: "unknown" as const, leaseUntil: null }, { ...hold, since: now }, policy);
  return { kind: "write", decision: { row: next.row, events: next.events, then: wait } };
}

/** The bound of place requests is reached and the provider still does not know the reference: a person decides. */
function placeBoundReached(row: ReadyRow | OpenRow, now: Date, policy: DispatchPolicy, patch: PlacementPatch = {}): Decision<ReviewRow> {
  const counts = { ...row, ...patch };
  return review(row, now, `${evidence(counts)}; at most ${policy.maxPlaceCalls} place requests per reference: not placed again`, patch);
}

/**
 * Whether an earlier request of this offer had an ambiguous outcome (a timeout, a dropped connection,
 * an unreadable reply, or a crash before its answer was stored): it may have been placed after all.
 * Every place request is counted before it goes out, so a second one only follows such an outcome.
 */
export function hadAmbiguousOutcome(p: Pick<Placement, "placeCalls" | "placeError">): boolean {
  return p.placeCalls > 1 || p.placeError !== null;
}

/** The evidence for a person: counts and causes (adapters already masked every secret in them). */
function evidence(p: Pick<Placement, "provider" | "reference" | "placeCalls" | "reconcileTries" | "placeError" | "lastError">): string {
  const parts = [
    `${p.provider} placement of reference ${p.reference} is unknown after ${p.placeCalls} place request(s) and ${p.reconcileTries} unclear check(s)`,
  ];
  if (p.placeError !== null) parts.push(`place: ${clip(p.placeError, 180)}`);
  if (p.lastError !== null && p.lastError !== p.placeError) parts.push(`last check: ${clip(p.lastError, 180)}`);
  return parts.join("; ");
}

/**
 * The outcome of a place request made for a `placing` row. `nextReference` is a fresh reference, used
 * only when a definite refusal moves the order to the next offer (it is stored with that attempt).
 * `sealedPin`: the PIN of an order the provider finished in its place reply, sealed by the caller
 * (the plaintext never reaches these rules: an accepted `result` must carry `pin: null`). The order is
 * then delivered at once: `PinReceived` (checks 0) right after `OrderSent`, which says so
 * (`pinInPlaceReply`), so the status-poller does not watch it.
 */
export function afterPlace(
  row: DispatchRow,
  result: PlaceResult,
  now: Date,
  policy: DispatchPolicy,
  nextReference: string,
  sealedPin: EncryptedPin | null = null,
): Decision {
  if (row.state !== "placing") throw new InvalidTransition(`afterPlace on a ${row.state} row (order ${row.orderId})`);
  if (sealedPin !== null && result.kind !== "accepted") throw new InvalidTransition(`a sealed PIN with a ${result.kind} place result (order ${row.orderId})`);
  switch (result.kind) {
    case "accepted": {
      if (result.pin !== null) throw new InvalidTransition(`the place reply's PIN must be sealed before the rules see it (order ${row.orderId})`);
      const sent: EventDraft = {
        type: "OrderSent",
        data: {
          packageId: row.packageId,
          provider: row.provider,
          reference: row.reference,
          cost: result.cost,
          balance: result.balance,
          providerOrderId: result.providerOrderId,
          ...costFacts(result.cost, row.maxCost),
          ...(sealedPin !== null ? { pinInPlaceReply: true } : {}),
        },
      };
      const delivered: EventDraft[] =
        sealedPin === null ? [] : [{ type: "PinReceived", data: { provider: row.provider, reference: row.reference, pin: sealedPin, note: null, checks: 0 } }];
      return {
        row: {
          ...advance(row, now),
          state: "sent",
          cost: result.cost,
          balance: result.balance,
          providerOrderId: result.providerOrderId,
        },
        events: [sent, ...delivered],
        then: "ack",
      };
    }
    case "refused": {
      const said = clip(`${result.providerCode}|${result.message}`, 120);
      if (hadAmbiguousOutcome(row)) {
        // No fallback after ambiguity: whatever the refusal says (a duplicate in any wording, a balance,
        // a product), an earlier request of this offer may have been placed; another provider could buy it twice.
        const patch = { lastError: clip(`re-place refused: ${said}`) };
        return review(
          row,
          now,
          `${row.provider} refused the re-placement of reference ${row.reference} (${said}) after an ambiguous outcome; ${evidence({ ...row, ...patch })}`,
          patch,
        );
      }
      if (result.reasonCode === "duplicate_reference") {
        // On the first request our fresh reference is already known to the provider: whose order that is cannot be told.
        return review(
          row,
          now,
          `${row.provider} refused the first placement of reference ${row.reference} as a duplicate reference (${said}); whose order that is cannot be told`,
          { lastError: clip(`first place refused as duplicate: ${said}`) },
        );
      }
      const message = clip(result.message.trim() === "" ? `${row.provider} refused with code ${result.providerCode}` : result.message);
      const providerCode = clip(result.providerCode, MAX_CODE);
      const refusal: PastAttempt = { provider: row.provider, reference: row.reference, reasonCode: result.reasonCode, providerCode, message };
      const done = advance(row, now);
      let history = [...row.history, refusal];
      if (FALLBACK_REASONS.has(result.reasonCode)) {
        const plan = planFrom(row.route, row.offerIndex + 1, now, policy.priceGuard);
        history = [...history, ...plan.skipped];
        if (plan.index !== null) {
          // Definitely not placed here: the next offer, with its own reference stored before its call.
          return { row: attemptAt({ ...done, history }, row.route, plan.index, nextReference), events: [], then: "place" };
        }
      }
      const failed = failedOnEveryOffer(history);
      return {
        row: { ...done, history, state: "refused", reasonCode: failed.data.reasonCode, providerCode: failed.data.providerCode ?? "", message: failed.data.message },
        events: [failed],
        then: "ack",
      };
    }
    case "ambiguous": {
      // A provider that asked for a pause (Retry-After) is not asked again before it is over.
      const delay = Math.max(retryDelay(row.reconcileTries, policy), result.retryAfterMs ?? 0);
      const patch = { placeError: clip(result.cause), lastError: clip(result.cause), notFoundStreak: 0, nextTryAt: dueIn(now, delay) };
      const next: UnknownRow = { ...advance(row, now, patch), state: "unknown" };
      if (result.accessDenied !== true) return { row: next, events: [], then: { retryAfterMs: delay } };
      // The provider shut us out (znet's empty body): the order waits for that reason, shown once.
      const hold: Hold = { reason: "provider_shut_out", message: holdMessage(row.provider, "provider_shut_out"), since: now };
      return { ...withHold({ ...next, hold: row.hold }, hold, policy), then: { retryAfterMs: delay } };
    }
    default:
      return assertNever(result);
  }
}

/**
 * The provider's answer about the reference of an open row.
 * Found in any state → sent (the poller follows it). not_found `notFoundBeforeReplace` times in a row
 * → ready to place again with the SAME reference (never another offer). Too many unclear answers → review.
 */
export function afterReconcile(row: DispatchRow, result: CheckResult, now: Date, policy: DispatchPolicy): Decision {
  if (row.state !== "placing" && row.state !== "unknown") {
    throw new InvalidTransition(`afterReconcile on a ${row.state} row (order ${row.orderId})`);
  }
  switch (result.kind) {
    case "pending":
    case "done":
    case "cancelled":
      return sentByReconcile(row, now, `reconciled: ${result.kind}`);
    case "not_found": {
      const streak = row.notFoundStreak + 1;
      const patch = { notFoundStreak: streak, reconcileTries: row.reconcileTries + 1, lastError: clip(`not found: ${result.message}`) };
      if (streak >= policy.notFoundBeforeReplace) {
        if (row.placeCalls >= policy.maxPlaceCalls) return placeBoundReached(row, now, policy, patch);
        // Definitely not there (asked on separate deliveries): place again with the SAME reference.
        const again: ReadyRow = { ...advance(row, now, { ...patch, notFoundStreak: 0 }), state: "ready" };
        return { row: again, events: [], then: "place" };
      }
      return unclear(row, now, patch, policy);
    }
    case "unknown":
      if (result.accessDenied === true) return shutOutWhileOpen(row, result.cause, now, policy);
      return unclear(row, now, { notFoundStreak: 0, reconcileTries: row.reconcileTries + 1, lastError: clip(result.cause) }, policy, result.retryAfterMs ?? 0);
    default:
      return assertNever(result);
  }
}

/** An unclear answer: try again later, or hand the order to a person once the tries are used up. */
function unclear(row: OpenRow, now: Date, patch: PlacementPatch & { reconcileTries: number }, policy: DispatchPolicy, minDelayMs = 0): Decision {
  if (patch.reconcileTries >= policy.maxReconcileTries) return review(row, now, evidence({ ...row, ...patch }), patch);
  const delay = Math.max(minDelayMs, retryDelay(patch.reconcileTries, policy));
  const next: UnknownRow = { ...advance(row, now, { ...patch, nextTryAt: dueIn(now, delay) }), state: "unknown" };
  return { row: next, events: [], then: { retryAfterMs: delay } };
}

/**
 * The check of an open placement got the provider's shut-out reply (znet's empty body): it says
 * nothing about the order, so it does not use up a reconcile try. The order waits, shown as shut
 * out, and goes to review at the dispatch deadline like any order held back.
 */
function shutOutWhileOpen(row: OpenRow, cause: string, now: Date, policy: DispatchPolicy): Decision {
  const hold = row.hold?.reason === "provider_shut_out" ? row.hold : { reason: "provider_shut_out" as const, message: holdMessage(row.provider, "provider_shut_out"), since: now };
  const patch = { lastError: clip(cause), notFoundStreak: 0 };
  if (now.getTime() >= dispatchDeadline(row, policy).getTime()) {
    return review(row, now, `${evidence({ ...row, ...patch })}; not resolved within ${duration(policy.dispatchDeadlineMs)}: ${hold.message}`, patch);
  }
  // No hurry while we are shut out: ask again at the longest reconcile spacing.
  const delay = policy.retryMaxMs;
  const next: UnknownRow = { ...advance(row, now, { ...patch, nextTryAt: dueIn(now, delay) }), hold: row.hold, state: "unknown" };
  return { ...withHold(next, hold, policy), then: { retryAfterMs: delay } };
}

