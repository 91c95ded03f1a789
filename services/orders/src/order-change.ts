import type { OrderEvent } from "@pinflow/contracts";
import { admit, evolve, type Admission, type OrderRecord, type PinCheck } from "./order.js";

/** What one event does to its order's row: the next row (null: no order yet), or a refusal (dead letter, review). */
export type Folded = { kind: "apply"; next: OrderRecord | null } | Extract<Admission, { kind: "refuse" }>;

/**
 * The orders projection's change for one event (what its `@EventPattern` handler returns): a pure
 * function of the order's row as the projection holds it when the event's turn comes in the batch.
 * The store applies it inside the batch's transaction (PgOrderStore.commit).
 */
export interface OrderChange {
  fold(current: OrderRecord | null): Folded;
}

/** An event that moves the order by the rules of `evolve` alone (OrderCreated, status events, attempt facts). */
export function evolveChange(event: OrderEvent): OrderChange {
  return { fold: (current) => ({ kind: "apply", next: evolve(current, event) }) };
}

/** An event that carries a PIN: folded only if `admit` lets it in (the PIN opens for the order and its reference). */
export function admittedChange(event: OrderEvent, pinOpens: PinCheck): OrderChange {
  return {
    fold: (current) => {
      const admission = admit(current, event, pinOpens);
      return admission.kind === "refuse" ? admission : { kind: "apply", next: evolve(current, event) };
    },
  };
}

/** Event types whose PIN must open for the order before they are folded. */
export const PIN_EVENT_TYPES = ["PinReceived", "CompletedByOperator"] as const;

/** The change for any event, as the projection's handlers route it (for folding messages outside the transport: tests, tools). */
export function orderChange(event: OrderEvent, pinOpens: PinCheck): OrderChange {
  return (PIN_EVENT_TYPES as readonly string[]).includes(event.type) ? admittedChange(event, pinOpens) : evolveChange(event);
}
