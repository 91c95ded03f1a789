/**
 * The dispatcher's decisions as events and outbox entries: each draft in its envelope, with the
 * msgID that makes it a fact once (used by the live handler, the operator's dispatch again and the
 * rebuild alike, so a rebuilt copy deduplicates against the live one).
 */
import { factMsgId, makeEvent, type EventOrigin } from "@pinflow/bus";
import type { OrderEvent } from "@pinflow/contracts";
import type { OutboxEntry } from "@pinflow/pg";
import type { EventDraft } from "./dispatch.js";

/**
 * The outbox entries of a decision's events in dispatch generation `generation`. A hold may happen
 * several times: each DispatchHeld is numbered (its own fact, deduplicated by number). A dispatch
 * again is once per generation, and so is a review of a later generation (the first generation's
 * review holds the order's ReviewRequired subject). Every other dispatcher fact is once-only per
 * order (terminal, or the single acceptance: an order is dispatched again only without them).
 */
export function outboxEntries(origin: EventOrigin, drafts: readonly EventDraft[], generation: number, at: Date, newId: () => string): OutboxEntry[] {
  return drafts.map((draft) => {
    const event = envelope(draft, origin, at, newId());
    if (draft.type === "DispatchHeld") return { event, msgId: factMsgId(event, draft.seq), once: false };
    if (draft.type === "RedispatchRequested") return { event, msgId: factMsgId(event, draft.data.generation), once: false };
    if (draft.type === "ReviewRequired" && generation > 1) return { event, msgId: factMsgId(event, `g${generation}`), once: false };
    return { event, msgId: factMsgId(event), once: true };
  });
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
    case "RedispatchRequested":
      return makeEvent("RedispatchRequested", origin, draft.data, at, id);
    default: {
      const never: never = draft;
      throw new Error(`unhandled event draft ${JSON.stringify(never)}`);
    }
  }
}
