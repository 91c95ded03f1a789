import { HoldReason, type EncryptedPin, type OrderEvent, type OrderReasonCode, type OrderStatus } from "@pinflow/contracts";

/**
 * The customer's view of one order, folded from its events. Pure: no I/O,
 * so the projection is a function of the stream (DESIGN.md I5).
 */
export interface OrderRecord {
  orderId: string;
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
    default:
      return assertNever(event);
  }
}

/** What the timeline shows of an event: its data without the PIN ciphertext. */
export function timelineSummary(event: OrderEvent): Record<string, unknown> {
  if (event.type === "PinReceived") {
    const { pin: _sealed, ...rest } = event.data;
    return rest;
  }
  return { ...event.data };
}

function assertNever(value: never): never {
  throw new Error(`unhandled event ${JSON.stringify(value)}`);
}
