import { HoldReason, LEGACY_TENANT_ID, type EncryptedPin, type EventOf, type OrderEvent, type OrderReasonCode, type OrderStatus, type ReviewReason } from "@pinflow/contracts";

/**
 * The customer's view of one order, folded from its events. Pure: no I/O,
 * so the projection is a function of the stream (DESIGN.md I5).
 */
export interface OrderRecord {
  orderId: string;
  /** The tenant that owns the order (OrderCreated's; `legacy` for orders from before tenants). */
  tenantId: string;
  packageId: string;
  playerId: string;
  extra: string | null;
  status: OrderStatus;
  provider: string | null;
  reference: string | null;
  providerNote: string | null;
  /** Why it failed; while pending, why it waits (a hold reason, cleared once it is sent). */
  reasonCode: OrderReasonCode | null;
  reviewReason: string | null;
  pinSealed: EncryptedPin | null;
  checks: number;
  createdAt: string;
  updatedAt: string;
}

const SETTLED: ReadonlySet<OrderStatus> = new Set(["completed", "failed"]);

/**
 * Apply one event. Events of one order arrive in stream order; a settled
 * order (completed/failed) is not moved back by a late status check, and an
 * event for an order whose creation we never saw is ignored (returns the state).
 */
export function evolve(state: OrderRecord | null, event: OrderEvent): OrderRecord | null {
  if (event.type === "OrderCreated") {
    if (state) return state;
    return {
      orderId: event.orderId,
      tenantId: event.tenantId ?? LEGACY_TENANT_ID,
      packageId: event.data.packageId,
      playerId: event.data.playerId,
      extra: event.data.extra,
      status: "pending",
      provider: null,
      reference: null,
      providerNote: null,
      reasonCode: null,
      reviewReason: null,
      pinSealed: null,
      checks: 0,
      createdAt: event.occurredAt,
      updatedAt: event.occurredAt,
    };
  }
  if (!state) return null;
  const at = { updatedAt: event.occurredAt };
  switch (event.type) {
    case "OrderSent": {
      if (SETTLED.has(state.status)) return state;
      // The order no longer waits: a hold's reason and note go.
      const waited = state.reasonCode !== null && HoldReason.safeParse(state.reasonCode).success;
      const cleared = waited ? { reasonCode: null, providerNote: null } : {};
      return { ...state, ...at, ...cleared, status: "processing", provider: event.data.provider, reference: event.data.reference };
    }
    case "DispatchHeld":
      // Shown only while the order waits for dispatch; the timeline keeps every one.
      if (state.status !== "pending") return state;
      return { ...state, ...at, reasonCode: event.data.reasonCode, providerNote: event.data.message };
    case "StatusChecked":
      if (SETTLED.has(state.status)) return { ...state, checks: Math.max(state.checks, event.data.attempt) };
      return {
        ...state,
        ...at,
        status: state.status === "review" ? "review" : "processing",
        checks: Math.max(state.checks, event.data.attempt),
        providerNote: event.data.note ?? state.providerNote,
      };
    case "PinReceived":
      return {
        ...state,
        ...at,
        status: "completed",
        pinSealed: event.data.pin,
        providerNote: event.data.note ?? state.providerNote,
        reviewReason: null,
      };
    case "DispatchFailed":
      if (state.status === "completed") return state;
      return { ...state, ...at, status: "failed", reasonCode: event.data.reasonCode, providerNote: event.data.message };
    case "OrderFailed":
      if (state.status === "completed") return state;
      return { ...state, ...at, status: "failed", reasonCode: event.data.reasonCode, providerNote: event.data.message };
    case "PlacementStarted":
    case "PlacementAnswered":
    case "ReconcileAnswered":
      // The dispatcher's attempt facts: shown on the timeline, they change no status.
      return state;
    case "ReviewRequired":
      if (SETTLED.has(state.status)) return state;
      return { ...state, ...at, status: "review", reviewReason: event.data.reason, providerNote: event.data.message };
    case "CompletedByOperator":
      if (SETTLED.has(state.status)) return state;
      return { ...state, ...at, status: "completed", pinSealed: event.data.pin, reviewReason: null, providerNote: `completed by an operator: ${event.data.reason}` };
    case "FailedByOperator":
      if (SETTLED.has(state.status)) return state;
      return { ...state, ...at, status: "failed", reasonCode: event.data.reasonCode, providerNote: `failed by an operator: ${event.data.reason}` };
    case "RecheckRequested":
      // Shown on the timeline; the check it asks for reports through StatusChecked as usual.
      return state;
    case "RedispatchRequested":
      // An operator dispatched the order again: it waits for dispatch as a new order does.
      if (state.status !== "review") return state;
      return { ...state, ...at, status: "pending", reviewReason: null, reasonCode: null, provider: null, reference: null, providerNote: `dispatched again by an operator: ${event.data.reason}` };
    default:
      return assertNever(event);
  }
}

/** Whether a sealed PIN opens for this order id and reference (the PIN itself is not needed here). */
export type PinCheck = (pin: EncryptedPin, binding: { orderId: string; reference: string }) => boolean;

/** Fold the event in, or refuse it: it goes to the dead-letter record and the order to review. */
export type Admission = { kind: "apply" } | { kind: "refuse"; reason: ReviewReason; error: string };

const APPLY: Admission = { kind: "apply" };

/**
 * Whether `event` may be folded into the order. A PIN belongs to its order: a `PinReceived` is
 * accepted only for the reference of the order's `OrderSent`, and only if its PIN opens for that
 * order and reference (PINs sealed before binding existed open for any); anything else is refused
 * and never shown as the order's PIN. Events of orders we never saw are left to `evolve` (ignored).
 */
export function admit(state: OrderRecord | null, event: OrderEvent, pinOpens: PinCheck): Admission {
  if (state !== null && event.type === "CompletedByOperator") {
    const reference = event.data.reference ?? "";
    if (!pinOpens(event.data.pin, { orderId: state.orderId, reference })) {
      return { kind: "refuse", reason: "pin_mismatch", error: `the operator's PIN does not open for order ${state.orderId}` };
    }
    return APPLY;
  }
  if (state === null || event.type !== "PinReceived") return APPLY;
  const reference = event.data.reference;
  if (state.reference !== reference) {
    return {
      kind: "refuse",
      reason: "pin_mismatch",
      error: `PinReceived for reference ${reference}, but the order was sent with ${state.reference === null ? "no reference" : `reference ${state.reference}`}`,
    };
  }
  if (!pinOpens(event.data.pin, { orderId: state.orderId, reference })) {
    return { kind: "refuse", reason: "pin_mismatch", error: `the PIN does not open for order ${state.orderId} and reference ${reference}` };
  }
  return APPLY;
}

/** What the customer reads on an order whose event was dead-lettered (no internals). */
export function reviewNote(reason: ReviewReason): string {
  return reason === "pin_mismatch"
    ? "A PIN arrived that does not belong to this order; a person will review it."
    : "An event of this order could not be processed; a person will review it.";
}

/**
 * The order after one of its events was dead-lettered: in review with `reason` (a settled order
 * stays settled). `at` is the event's own time when it had one, so a replay gives the same row.
 */
export function markForReview(state: OrderRecord, reason: ReviewReason, at: string | null): OrderRecord {
  if (SETTLED.has(state.status)) return state;
  return { ...state, status: "review", reviewReason: reason, providerNote: reviewNote(reason), updatedAt: at ?? state.updatedAt };
}

/**
 * An order whose `OrderCreated` could not be stored as it is (e.g. NUL in the player id): kept in
 * review with its text made storable (NUL → U+FFFD), so the customer's order is not lost (404).
 */
export function unstorableOrder(event: EventOf<"OrderCreated">): OrderRecord {
  const created = evolve(null, event)!;
  return {
    ...created,
    playerId: storable(created.playerId),
    extra: created.extra === null ? null : storable(created.extra),
    status: "review",
    reviewReason: "unprocessable_event",
    providerNote: reviewNote("unprocessable_event"),
  };
}

/** NUL is the one character PostgreSQL text cannot hold (the contract already caps the length). */
function storable(text: string): string {
  return text.replaceAll("\u0000", "\uFFFD");
}

/** What the timeline shows of an event: its data without the PIN ciphertext. */
export function timelineSummary(event: OrderEvent): Record<string, unknown> {
  if (event.type === "PinReceived" || event.type === "CompletedByOperator") {
    const { pin: _sealed, ...rest } = event.data;
    return rest;
  }
  return { ...event.data };
}

function assertNever(value: never): never {
  throw new Error(`unhandled event ${JSON.stringify(value)}`);
}
