/**
 * The dispatcher's row as a fold of the order's stream (DESIGN.md I5, §4), pure.
 *
 * The attempt facts (PlacementStarted before each place request, PlacementAnswered and
 * ReconcileAnswered with what the provider said) are the inputs of the rules in dispatch.ts: the
 * fold replays those same rules on the recorded answers, so it reaches the row the live handler
 * wrote. The rules' own outputs (OrderSent, DispatchFailed, ReviewRequired, DispatchHeld) are
 * folded as setters, so decisions taken without a provider answer (holds, the dispatch deadline,
 * the place bound) and streams written before the attempt facts existed are followed too.
 *
 * Not facts, so not in the fold: leases (a started placement without an answer has none: it is
 * reconciled at once) and the row's version. Next-check times are derived from the policy and the
 * time of the recorded answer, as the rules derive them.
 */
import type { EventData, OrderEvent } from "@pinflow/contracts";
import type { CheckResult, PlaceResult } from "@pinflow/providers";
import {
  afterPlace,
  afterReconcile,
  attemptAt,
  claimForReconcile,
  clip,
  openOrder,
  UNTRIED,
  type Decision,
  type DispatchPolicy,
  type DispatchRow,
  type EventDraft,
  type Hold,
  type Offer,
  type OrderInput,
  type PlacingRow,
  type RowBase,
} from "./dispatch.js";

export interface DispatchFold {
  /** From the order's OrderCreated; null until it is seen. */
  order: OrderInput | null;
  /** The order's tenant, from its OrderCreated (null before it is seen, or for an order from before tenants). */
  tenantId: string | null;
  row: DispatchRow | null;
  /**
   * Outputs the replayed rules produced that the stream does not show (yet): a dispatcher that lost
   * its database after an answer was written but before its decision's events were relayed appends
   * them again (their msgIDs make a second copy a no-op).
   */
  pending: EventDraft[];
  /** Whether any attempt fact was seen (a place request may have gone out). */
  attempted: boolean;
  /** DispatchHeld events before the first place request (the order waited before any attempt). */
  heldBeforeOpen: number;
  /**
   * The last of those holds: the live row, `ready` while it waited, still shows it when its first
   * request goes out (a place reply that says the same, e.g. znet's empty body again, is no new hold).
   */
  holdBeforeOpen: Hold | null;
}

export const EMPTY_FOLD: DispatchFold = { order: null, tenantId: null, row: null, pending: [], attempted: false, heldBeforeOpen: 0, holdBeforeOpen: null };

/** The PlacementStarted of a claimed `placing` row (written to the stream before its request goes out). */
export function placementStarted(row: PlacingRow): EventData<"PlacementStarted"> {
  return {
    provider: row.provider,
    offerIndex: row.offerIndex,
    reference: row.reference,
    placeCall: row.placeCalls,
    route: row.route.map((o) => ({ provider: o.provider, productCode: { ...o.productCode }, maxCost: o.maxCost, price: o.price, priceImportedAt: o.priceImportedAt })),
    openedAt: row.createdAt.toISOString(),
  };
}

/**
 * The PlacementAnswered of a place request: the masked result (a PIN in the reply only as
 * `pinInReply`) and, when a refusal moved the order on, the next offer's stored reference.
 */
export function placementAnswered(row: PlacingRow, result: PlaceResult, decision: Decision): EventData<"PlacementAnswered"> {
  const head = { provider: row.provider, reference: row.reference, placeCall: row.placeCalls };
  switch (result.kind) {
    case "accepted":
      return {
        ...head,
        outcome: "accepted",
        cost: result.cost,
        balance: result.balance,
        providerOrderId: result.providerOrderId,
        ...(decision.events.some((e) => e.type === "PinReceived") ? { pinInReply: true } : {}),
      };
    case "refused": {
      const next = decision.row.state === "ready" && decision.row.reference !== row.reference ? { nextReference: decision.row.reference } : {};
      return { ...head, outcome: "refused", reasonCode: result.reasonCode, providerCode: clip(result.providerCode, 32), message: clip(result.message), ...next };
    }
    case "ambiguous":
      return {
        ...head,
        outcome: "ambiguous",
        cause: clip(result.cause),
        ...(result.retryAfterMs !== undefined ? { retryAfterMs: Math.max(0, Math.round(result.retryAfterMs)) } : {}),
        ...(result.accessDenied === true ? { accessDenied: true } : {}),
      };
    default: {
      const never: never = result;
      throw new Error(`unhandled place result ${JSON.stringify(never)}`);
    }
  }
}

/** The ReconcileAnswered of a check of `row`'s reference (claimed at handling step `row.attempt`); never the PIN. */
export function reconcileAnswered(row: DispatchRow & { provider: PlacingRow["provider"]; reference: string }, result: CheckResult): EventData<"ReconcileAnswered"> {
  const head = { provider: row.provider, reference: row.reference, step: Math.max(1, row.attempt) };
  switch (result.kind) {
    case "pending":
    case "done":
    case "cancelled":
      return { ...head, outcome: result.kind, note: result.note === null ? null : clip(result.note) };
    case "not_found":
      return { ...head, outcome: "not_found", message: clip(result.message) };
    case "unknown":
      return {
        ...head,
        outcome: "unknown",
        cause: clip(result.cause),
        ...(result.retryAfterMs !== undefined ? { retryAfterMs: Math.max(0, Math.round(result.retryAfterMs)) } : {}),
        ...(result.accessDenied === true ? { accessDenied: true } : {}),
      };
    default: {
      const never: never = result;
      throw new Error(`unhandled check result ${JSON.stringify(never)}`);
    }
  }
}

/** The place result a PlacementAnswered records (the PIN never: the rules see a sealed one only through PinReceived). */
export function recordedPlaceResult(d: EventData<"PlacementAnswered">): PlaceResult {
  switch (d.outcome) {
    case "accepted":
      return { kind: "accepted", cost: d.cost ?? "0", balance: d.balance ?? null, providerOrderId: d.providerOrderId ?? null, pin: null };
    case "refused":
      return { kind: "refused", providerCode: d.providerCode ?? "", message: d.message ?? "", reasonCode: providerReason(d.reasonCode) };
    case "ambiguous":
      return {
        kind: "ambiguous",
        cause: d.cause ?? "",
        ...(d.retryAfterMs !== undefined ? { retryAfterMs: d.retryAfterMs } : {}),
        ...(d.accessDenied === true ? { accessDenied: true as const } : {}),
      };
    default: {
      const never: never = d.outcome;
      throw new Error(`unhandled place outcome ${JSON.stringify(never)}`);
    }
  }
}

/** The check result a ReconcileAnswered records (a `done` carries no PIN here: the rules do not read it). */
export function recordedCheckResult(d: EventData<"ReconcileAnswered">): CheckResult {
  switch (d.outcome) {
    case "pending":
    case "cancelled":
      return { kind: d.outcome, note: d.note ?? null };
    case "done":
      return { kind: "done", pin: "", note: d.note ?? null };
    case "not_found":
      return { kind: "not_found", message: d.message ?? "" };
    case "unknown":
      return {
        kind: "unknown",
        cause: d.cause ?? "",
        ...(d.retryAfterMs !== undefined ? { retryAfterMs: d.retryAfterMs } : {}),
        ...(d.accessDenied === true ? { accessDenied: true as const } : {}),
      };
    default: {
      const never: never = d.outcome;
      throw new Error(`unhandled reconcile outcome ${JSON.stringify(never)}`);
    }
  }
}

const PROVIDER_REASONS = ["insufficient_balance", "product_unavailable", "invalid_player", "auth_failed", "duplicate_reference", "provider_error"] as const;

/** A recorded refusal's reason as the adapters give it (anything else reads as the provider's own error). */
function providerReason(code: string | undefined): (typeof PROVIDER_REASONS)[number] {
  return PROVIDER_REASONS.find((r) => r === code) ?? "provider_error";
}

function baseOf(order: OrderInput, at: Date, route: Offer[], generation = 1): RowBase {
  return {
    orderId: order.orderId,
    packageId: order.packageId,
    playerId: order.playerId,
    extra: order.extra,
    attempt: 0,
    version: 1,
    generation,
    createdAt: at,
    updatedAt: at,
    route,
    history: [],
    holds: 0,
  };
}

/** The row's common part without its state and placement (for a row rebuilt from an output event alone). */
function commonOf(state: DispatchFold, at: Date): RowBase | null {
  if (state.row !== null) {
    const r = state.row;
    return { orderId: r.orderId, packageId: r.packageId, playerId: r.playerId, extra: r.extra, attempt: r.attempt, version: r.version + 1, generation: r.generation, createdAt: r.createdAt, updatedAt: at, route: r.route, history: r.history, holds: r.holds };
  }
  return state.order === null ? null : baseOf(state.order, at, []);
}

/** A placement seen only through an output event (older streams): no counts, no route. */
function placementOf(row: DispatchRow | null, provider: PlacingRow["provider"], reference: string | null) {
  if (row !== null && row.state !== "unrouted" && (reference === null || row.reference === reference)) {
    const { state: _state, ...rest } = row;
    return { ...rest, leaseUntil: null, nextTryAt: null };
  }
  return {
    offerIndex: 0,
    provider,
    reference: reference ?? "-",
    productCode: {},
    maxCost: null,
    ...UNTRIED,
  };
}

/** Drop the first pending output of `type` (the stream shows it now); true when there was one. */
function settle(state: DispatchFold, type: EventDraft["type"]): { found: boolean; pending: EventDraft[] } {
  const i = state.pending.findIndex((e) => e.type === type);
  if (i < 0) return { found: false, pending: state.pending };
  return { found: true, pending: [...state.pending.slice(0, i), ...state.pending.slice(i + 1)] };
}

function isOpen(row: DispatchRow | null): boolean {
  return row !== null && (row.state === "ready" || row.state === "placing" || row.state === "unknown");
}

/** Apply one event of the order. Events of other orders, unknown orders and duplicates leave the state as it is. */
export function evolveDispatch(state: DispatchFold, event: OrderEvent, policy: DispatchPolicy): DispatchFold {
  const at = new Date(event.occurredAt);
  switch (event.type) {
    case "OrderCreated":
      if (state.order !== null) return state;
      return { ...state, order: { orderId: event.orderId, ...event.data }, tenantId: event.tenantId ?? null };
    case "PlacementStarted": {
      const d = event.data;
      const order = state.order;
      if (order === null) return state;
      let row = state.row;
      if (row !== null && row.state !== "unrouted" && row.reference === d.reference && row.placeCalls >= d.placeCall) return { ...state, attempted: true };
      if (row === null || row.state === "unrouted") {
        const route: Offer[] = d.route.map((o) => ({ ...o, productCode: { ...o.productCode } }));
        const opened = new Date(d.openedAt);
        const first = openOrder(order, route, new Set(route.map((o) => o.provider)), d.reference, opened, policy).row;
        const history = first.state === "ready" ? first.history.filter((h) => route.findIndex((o) => o.provider === h.provider) < d.offerIndex) : [];
        row = { ...attemptAt({ ...baseOf(order, opened, route), history, holds: state.heldBeforeOpen }, route, Math.min(d.offerIndex, route.length - 1), d.reference), hold: state.holdBeforeOpen };
      } else if (row.reference !== d.reference) {
        if (row.route[d.offerIndex] === undefined) return state;
        row = attemptAt(row, row.route, d.offerIndex, d.reference);
      }
      const placing: DispatchRow = {
        ...row,
        state: "placing",
        attempt: row.attempt + 1,
        version: row.version + 1,
        updatedAt: at,
        placeCalls: d.placeCall,
        notFoundStreak: 0,
        nextTryAt: null,
        leaseUntil: null,
      };
      return { ...state, row: placing, attempted: true };
    }
    case "PlacementAnswered": {
      const row = state.row;
      const d = event.data;
      if (row === null || row.state !== "placing" || row.reference !== d.reference || row.placeCalls !== d.placeCall) return { ...state, attempted: true };
      const decision = afterPlace(row, recordedPlaceResult(d), at, policy, d.nextReference ?? row.reference);
      // The place reply's PIN is sealed only in PinReceived: a replay cannot make that event again.
      const pending = decision.events.filter((e) => e.type !== "PinReceived");
      return { ...state, row: decision.row, pending: [...state.pending, ...pending], attempted: true };
    }
    case "ReconcileAnswered": {
      const row = state.row;
      const d = event.data;
      if (row === null || (row.state !== "placing" && row.state !== "unknown") || row.reference !== d.reference) return { ...state, attempted: true };
      const claimed = { ...claimForReconcile(row, at, policy), attempt: Math.max(row.attempt + 1, d.step), leaseUntil: null };
      const decision = afterReconcile(claimed, recordedCheckResult(d), at, policy);
      return { ...state, row: decision.row, pending: [...state.pending, ...decision.events], attempted: true };
    }
    case "OrderSent": {
      const settled = settle(state, "OrderSent");
      if (settled.found || state.row?.state === "sent") return { ...state, pending: settled.pending };
      const base = commonOf(state, at);
      if (base === null) return state;
      const d = event.data;
      const placement = placementOf(state.row, d.provider, d.reference);
      return { ...state, pending: settled.pending, row: { ...base, ...placement, hold: null, state: "sent", cost: d.cost, balance: d.balance, providerOrderId: d.providerOrderId } };
    }
    case "DispatchFailed": {
      const settled = settle(state, "DispatchFailed");
      if (state.row?.state === "unrouted") {
        // A generation that could place no offer (an operator's dispatch again): the failure's own words.
        return { ...state, pending: settled.pending, row: { ...state.row, reasonCode: event.data.reasonCode, message: event.data.message } };
      }
      if (settled.found || state.row?.state === "refused") return { ...state, pending: settled.pending };
      const base = commonOf(state, at);
      if (base === null) return state;
      const d = event.data;
      if (d.provider === null || state.row === null) {
        return { ...state, pending: settled.pending, row: { ...base, state: "unrouted", reasonCode: d.reasonCode, message: d.message } };
      }
      const placement = placementOf(state.row, d.provider, null);
      return { ...state, pending: settled.pending, row: { ...base, ...placement, state: "refused", reasonCode: d.reasonCode, providerCode: d.providerCode ?? "", message: d.message } };
    }
    case "ReviewRequired": {
      if (event.data.stage !== "dispatch") return state;
      const settled = settle(state, "ReviewRequired");
      if (settled.found || state.row?.state === "review") return { ...state, pending: settled.pending };
      const provider = event.data.provider ?? (state.row !== null && state.row.state !== "unrouted" ? state.row.provider : null);
      const base = commonOf(state, at);
      if (base === null || provider === null) return { ...state, pending: settled.pending };
      const keep = state.row !== null && state.row.state !== "unrouted" ? state.row.reference : event.data.reference;
      const placement = placementOf(state.row, provider, keep);
      const hold = state.row !== null && state.row.state !== "unrouted" ? state.row.hold : null;
      return { ...state, pending: settled.pending, row: { ...base, ...placement, hold, state: "review", message: event.data.message } };
    }
    case "DispatchHeld": {
      const settled = settle(state, "DispatchHeld");
      if (settled.found) return { ...state, pending: settled.pending };
      const row = state.row;
      const hold: Hold = { reason: event.data.reasonCode, message: event.data.message, since: at };
      if (row === null) return { ...state, heldBeforeOpen: state.heldBeforeOpen + 1, holdBeforeOpen: hold };
      if (row.state === "unrouted" || !isOpen(row)) return state;
      // A hold of an open placement leaves it unknown (the lease released); a ready one stays ready.
      const next = row.state === "ready" ? ("ready" as const) : ("unknown" as const);
      return { ...state, row: { ...row, state: next, hold, holds: row.holds + 1, version: row.version + 1, updatedAt: at, leaseUntil: null } };
    }
    case "PinReceived":
      return { ...state, pending: settle(state, "PinReceived").pending };
    case "StatusChecked":
    case "OrderFailed":
      // The status-poller's facts about an accepted order: the dispatch row is settled already.
      return state;
    case "RedispatchRequested":
      return redispatched(state, event.data, policy);
    case "CompletedByOperator":
    case "FailedByOperator":
    case "RecheckRequested":
      // An operator's decision on an order in review: the dispatch row stays as the provider left it.
      return state;
    default: {
      const never: never = event;
      throw new Error(`unhandled event ${JSON.stringify(never)}`);
    }
  }
}

/**
 * An operator's "dispatch again": the next generation's row, as `reopen` (dispatch.ts) wrote it: ready
 * at the recorded offer and reference of the recorded route, or, when no offer could be placed, left
 * for the DispatchFailed that follows. What the earlier generation left pending is on the stream
 * (the dispatcher decided from it), so nothing stays pending. A generation seen before is a duplicate.
 */
function redispatched(state: DispatchFold, d: EventData<"RedispatchRequested">, policy: DispatchPolicy): DispatchFold {
  const at = new Date(d.openedAt);
  const order = state.order;
  const row = state.row;
  if (order === null || row === null || d.generation <= row.generation) return state;
  const route: Offer[] = d.route.map((o) => ({ ...o, productCode: { ...o.productCode } }));
  const carried = { attempt: row.attempt, version: row.version + 1, holds: row.holds };
  const base: RowBase = { ...baseOf(order, at, route, d.generation), ...carried };
  if (d.offerIndex === null || d.reference === null || route[d.offerIndex] === undefined) {
    // The DispatchFailed that follows settles the row; until then it is an empty-handed generation.
    const opened = openOrder(order, route, new Set(route.map((o) => o.provider)), "-", at, policy).row;
    const failed = opened.state === "unrouted" ? opened : { ...opened, state: "unrouted" as const, reasonCode: "no_route" as const, message: "no offer could be placed" };
    return { ...state, pending: [], row: { ...failed, ...carried, generation: d.generation, createdAt: at, updatedAt: at } };
  }
  const opened = openOrder(order, route, new Set(route.map((o) => o.provider)), d.reference, at, policy).row;
  const history = opened.state === "ready" ? opened.history.filter((h) => route.findIndex((o) => o.provider === h.provider) < d.offerIndex!) : [];
  return { ...state, pending: [], row: attemptAt({ ...base, history }, route, d.offerIndex, d.reference) };
}

/** The fold of an order's events, in stream order. */
export function foldDispatch(events: readonly OrderEvent[], policy: DispatchPolicy): DispatchFold {
  return events.reduce((state, event) => evolveDispatch(state, event, policy), EMPTY_FOLD);
}
