/**
 * The dispatcher's rules (DESIGN.md §1 I1/I2, §4), as pure functions over the dispatch row.
 * No pg, NATS, Nest or clock/random in here: time, references and provider answers are passed in,
 * and the results are the next row plus event drafts (the handler wraps them in envelopes).
 *
 *   placing → sent | refused | unknown → (reconciled) sent | refused | review
 *   (no configured offer) → unrouted
 */
import type { EventData, ProviderName, ReasonCode } from "@pinflow/contracts";
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
}

export const DEFAULT_POLICY: DispatchPolicy = {
  maxReconcileTries: 8,
  notFoundBeforeReplace: 2,
  retryBaseMs: 2_000,
  retryMaxMs: 60_000,
  leaseMs: 30_000,
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
}

interface RowBase {
  orderId: string;
  packageId: string;
  playerId: string;
  extra: string | null;
  /** Handling steps that changed the row (placements and reconciles). */
  attempt: number;
  /** Optimistic-concurrency version: every write is a compare-and-set on the previous one. */
  version: number;
  createdAt: Date;
  updatedAt: Date;
}

/** The provider leg: chosen once, stored before the first call, never changed afterwards. */
export interface Placement {
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
  /** Set while a provider call is in flight; null otherwise. */
  leaseUntil: Date | null;
  /** Why the last place request was ambiguous. */
  placeError: string | null;
  /** The last unclear answer (place or check). */
  lastError: string | null;
}

export type PlacingRow = RowBase & Placement & { state: "placing" };
export type UnknownRow = RowBase & Placement & { state: "unknown" };
export type SentRow = RowBase &
  Placement & { state: "sent"; cost: string | null; balance: string | null; providerOrderId: string | null };
export type RefusedRow = RowBase & Placement & { state: "refused"; reasonCode: ReasonCode; providerCode: string; message: string };
export type ReviewRow = RowBase & Placement & { state: "review"; message: string };
export type UnroutedRow = RowBase & { state: "unrouted"; message: string };

export type DispatchRow = PlacingRow | UnknownRow | SentRow | RefusedRow | ReviewRow | UnroutedRow;
/** Rows whose placement outcome is not known yet. */
export type OpenRow = PlacingRow | UnknownRow;
export type DispatchState = DispatchRow["state"];

export type EventDraft =
  | { type: "OrderSent"; data: EventData<"OrderSent"> }
  | { type: "DispatchFailed"; data: EventData<"DispatchFailed"> }
  | { type: "ReviewRequired"; data: EventData<"ReviewRequired"> };

export type Then = "ack" | "place-again" | { retryAfterMs: number };

export interface Decision<R extends DispatchRow = DispatchRow> {
  row: R;
  events: EventDraft[];
  then: Then;
}

export type Step =
  /** No row yet: choose the route, store the reference, then place. */
  | { kind: "place" }
  /** A placement may or may not exist: ask the provider about the reference first. */
  | { kind: "reconcile"; row: OpenRow }
  /** Another handler holds the row (a provider call in flight): come back later. */
  | { kind: "wait"; retryAfterMs: number }
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
export function nextStep(row: DispatchRow | null, now: Date): Step {
  if (row === null) return { kind: "place" };
  switch (row.state) {
    case "placing":
    case "unknown": {
      if (row.leaseUntil !== null && row.leaseUntil.getTime() > now.getTime()) {
        return { kind: "wait", retryAfterMs: row.leaseUntil.getTime() - now.getTime() + 100 };
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

/** The first offer whose provider is configured, or null (→ no_route). */
export function chooseOffer(offers: readonly Offer[], configured: ReadonlySet<ProviderName>): Offer | null {
  return offers.find((o) => configured.has(o.provider)) ?? null;
}

function leaseFrom(now: Date, policy: DispatchPolicy): Date {
  return new Date(now.getTime() + policy.leaseMs);
}

/** Delay before the next reconcile after `tries` unclear answers. */
export function retryDelay(tries: number, policy: DispatchPolicy): number {
  const exp = Math.min(30, Math.max(0, tries));
  return Math.min(policy.retryMaxMs, policy.retryBaseMs * 2 ** exp);
}

/** The new row, committed before the first place request: reference chosen once, lease held, one place call counted. */
export function startPlacement(order: OrderInput, offer: Offer, reference: string, now: Date, policy: DispatchPolicy): PlacingRow {
  return {
    state: "placing",
    orderId: order.orderId,
    packageId: order.packageId,
    playerId: order.playerId,
    extra: order.extra,
    attempt: 1,
    version: 1,
    createdAt: now,
    updatedAt: now,
    provider: offer.provider,
    reference,
    productCode: { ...offer.productCode },
    maxCost: offer.maxCost,
    placeCalls: 1,
    reconcileTries: 0,
    notFoundStreak: 0,
    leaseUntil: leaseFrom(now, policy),
    placeError: null,
    lastError: null,
  };
}

/** No configured provider offers the package: a definite failure, decided before anything was sent. */
export function unroutable(order: OrderInput, configured: ReadonlySet<ProviderName>, now: Date): Decision<UnroutedRow> {
  const names = [...configured].sort().join(", ") || "none";
  const message = clip(`no route for package ${order.packageId} (configured providers: ${names})`);
  return {
    row: {
      state: "unrouted",
      orderId: order.orderId,
      packageId: order.packageId,
      playerId: order.playerId,
      extra: order.extra,
      attempt: 1,
      version: 1,
      createdAt: now,
      updatedAt: now,
      message,
    },
    events: [{ type: "DispatchFailed", data: { reasonCode: "no_route", provider: null, providerCode: null, message } }],
    then: "ack",
  };
}

/** Take the row for a reconcile: hold the lease while the check call is in flight. */
export function claimForReconcile(row: OpenRow, now: Date, policy: DispatchPolicy): OpenRow {
  return { ...row, attempt: row.attempt + 1, version: row.version + 1, updatedAt: now, leaseUntil: leaseFrom(now, policy) };
}

/** Give the row back without a result (the handler failed after claiming it). */
export function releaseLease(row: OpenRow, now: Date): OpenRow {
  return { ...row, version: row.version + 1, updatedAt: now, leaseUntil: null };
}

type PlacementPatch = Partial<Pick<Placement, "placeCalls" | "reconcileTries" | "notFoundStreak" | "placeError" | "lastError" | "leaseUntil">>;

/** The row's common and placement fields, one version on, lease released, with `patch` applied. */
function advance(row: OpenRow, now: Date, patch: PlacementPatch = {}): RowBase & Placement {
  const { state: _state, ...rest } = row;
  return { ...rest, leaseUntil: null, ...patch, version: row.version + 1, updatedAt: now };
}

function sentByReconcile(row: OpenRow, now: Date, how: string, patch: PlacementPatch = {}): Decision<SentRow> {
  return {
    row: { ...advance(row, now, { ...patch, lastError: clip(how) }), state: "sent", cost: null, balance: null, providerOrderId: null },
    events: [
      {
        type: "OrderSent",
        data: { packageId: row.packageId, provider: row.provider, reference: row.reference, cost: null, balance: null, providerOrderId: null },
      },
    ],
    then: "ack",
  };
}

function review(row: OpenRow, now: Date, message: string, patch: PlacementPatch = {}): Decision<ReviewRow> {
  const text = clip(message);
  return {
    row: { ...advance(row, now, patch), state: "review", message: text },
    events: [
      {
        type: "ReviewRequired",
        data: { stage: "dispatch", reason: "placement_unknown", provider: row.provider, reference: row.reference, message: text },
      },
    ],
    then: "ack",
  };
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

/** The outcome of a place request made for a `placing` row. */
export function afterPlace(row: DispatchRow, result: PlaceResult, now: Date, policy: DispatchPolicy): Decision {
  if (row.state !== "placing") throw new InvalidTransition(`afterPlace on a ${row.state} row (order ${row.orderId})`);
  switch (result.kind) {
    case "accepted":
      return {
        row: {
          ...advance(row, now),
          state: "sent",
          cost: result.cost,
          balance: result.balance,
          providerOrderId: result.providerOrderId,
        },
        events: [
          {
            type: "OrderSent",
            data: {
              packageId: row.packageId,
              provider: row.provider,
              reference: row.reference,
              cost: result.cost,
              balance: result.balance,
              providerOrderId: result.providerOrderId,
            },
          },
        ],
        then: "ack",
      };
    case "refused": {
      if (result.reasonCode === "duplicate_reference") {
        // On a re-place the earlier request was recorded after all: the order exists.
        if (row.placeCalls > 1) return sentByReconcile(row, now, `re-place refused as duplicate (code ${result.providerCode}): the order exists`);
        // On the first request our fresh reference is already known to the provider: whose order that is cannot be told.
        const refusal = clip(`${result.providerCode}|${result.message}`, 120);
        return review(
          row,
          now,
          `${row.provider} refused the first placement of reference ${row.reference} as a duplicate reference (${refusal}); whose order that is cannot be told`,
          { lastError: clip(`first place refused as duplicate: ${refusal}`) },
        );
      }
      const message = clip(result.message.trim() === "" ? `${row.provider} refused with code ${result.providerCode}` : result.message);
      const providerCode = clip(result.providerCode, MAX_CODE);
      return {
        row: { ...advance(row, now), state: "refused", reasonCode: result.reasonCode, providerCode, message },
        events: [{ type: "DispatchFailed", data: { reasonCode: result.reasonCode, provider: row.provider, providerCode, message } }],
        then: "ack",
      };
    }
    case "ambiguous":
      return {
        row: { ...advance(row, now, { placeError: clip(result.cause), lastError: clip(result.cause), notFoundStreak: 0 }), state: "unknown" },
        events: [],
        then: { retryAfterMs: retryDelay(row.reconcileTries, policy) },
      };
    default:
      return assertNever(result);
  }
}

/**
 * The provider's answer about the reference of an open row.
 * Found in any state → sent (the poller follows it). not_found `notFoundBeforeReplace` times in a row
 * → place again with the SAME reference. Too many unclear answers → review.
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
        // Definitely not there (asked on separate deliveries): place again with the SAME reference, lease held.
        const again: PlacingRow = {
          ...advance(row, now, { ...patch, notFoundStreak: 0, placeCalls: row.placeCalls + 1, leaseUntil: leaseFrom(now, policy) }),
          state: "placing",
        };
        return { row: again, events: [], then: "place-again" };
      }
      return unclear(row, now, patch, policy);
    }
    case "unknown":
      return unclear(row, now, { notFoundStreak: 0, reconcileTries: row.reconcileTries + 1, lastError: clip(result.cause) }, policy);
    default:
      return assertNever(result);
  }
}

/** An unclear answer: try again later, or hand the order to a person once the tries are used up. */
function unclear(row: OpenRow, now: Date, patch: PlacementPatch & { reconcileTries: number }, policy: DispatchPolicy): Decision {
  const next: UnknownRow = { ...advance(row, now, patch), state: "unknown" };
  if (next.reconcileTries >= policy.maxReconcileTries) return review(row, now, evidence(next), patch);
  return { row: next, events: [], then: { retryAfterMs: retryDelay(next.reconcileTries, policy) } };
}
