/**
 * "Dispatch again" for an order in review (DESIGN §6): allowed only when the order's own record
 * proves that no placement can exist at any provider — every reference it ever sent was refused
 * outright (never with an ambiguous outcome before), or the provider said plainly it does not know
 * it (a reconcile `not_found` as the last word). Pure: decided from the order's events alone (the
 * same facts the dispatcher's row is folded from), so every replica and a rebuilt database agree.
 */
import type { OrderEvent } from "@pinflow/contracts";

export type RedispatchVerdict = { kind: "allowed" } | { kind: "refused"; reason: string };

/** What the record says of one reference's placement. */
type ReferenceState =
  | { kind: "open"; provider: string; last: string }
  | { kind: "refused"; provider: string }
  | { kind: "absent"; provider: string }
  | { kind: "exists"; provider: string; last: string };

const SETTLING = new Set<OrderEvent["type"]>(["OrderSent", "PinReceived", "DispatchFailed", "OrderFailed", "CompletedByOperator", "FailedByOperator"]);

export function redispatchVerdict(events: readonly OrderEvent[]): RedispatchVerdict {
  if (!events.some((e) => e.type === "OrderCreated")) return refused("no such order on the stream");
  const settled = events.find((e) => SETTLING.has(e.type));
  if (settled) return refused(settled.type === "OrderSent" ? "a provider accepted the order (OrderSent)" : `the order is settled (${settled.type})`);
  const lastReview = events.findLastIndex((e) => e.type === "ReviewRequired");
  const review = events[lastReview];
  if (!review || review.type !== "ReviewRequired" || review.data.stage !== "dispatch") return refused("the order is not in review after dispatch");
  if (events.findLastIndex((e) => e.type === "RedispatchRequested") > lastReview) return refused("the order is being dispatched again already");

  const references = new Map<string, ReferenceState>();
  const ambiguous = new Set<string>();
  for (const e of events) {
    switch (e.type) {
      case "PlacementStarted":
        references.set(e.data.reference, { kind: "open", provider: e.data.provider, last: `place request ${e.data.placeCall} without an answer` });
        break;
      case "PlacementAnswered": {
        const ref = e.data.reference;
        const provider = e.data.provider;
        if (e.data.outcome === "accepted") references.set(ref, { kind: "exists", provider, last: "accepted" });
        else if (e.data.outcome === "ambiguous") {
          ambiguous.add(ref);
          references.set(ref, { kind: "open", provider, last: `ambiguous answer (${e.data.cause ?? "no cause"})` });
        } else if (ambiguous.has(ref)) {
          // A refusal after an ambiguous outcome may be "duplicate reference": the first request may have landed.
          references.set(ref, { kind: "open", provider, last: `refused (${e.data.reasonCode ?? "?"}) after an ambiguous answer` });
        } else references.set(ref, { kind: "refused", provider });
        break;
      }
      case "ReconcileAnswered": {
        const ref = e.data.reference;
        const provider = e.data.provider;
        if (e.data.outcome === "not_found") references.set(ref, { kind: "absent", provider });
        else if (e.data.outcome === "unknown") references.set(ref, { kind: "open", provider, last: `unclear reconcile answer (${e.data.cause ?? "no cause"})` });
        else references.set(ref, { kind: "exists", provider, last: `the provider knows it (${e.data.outcome})` });
        break;
      }
      default:
        break;
    }
  }

  for (const [reference, state] of references) {
    if (state.kind === "open" || state.kind === "exists") {
      return refused(`a placement at ${state.provider} with reference ${reference} may exist: ${state.last}`);
    }
  }
  if (references.size === 0 && review.data.reason === "placement_unknown") {
    // Written before attempt facts existed: the record cannot prove that nothing was placed.
    return refused("the order's record has no attempt facts to prove that nothing was placed");
  }
  return { kind: "allowed" };
}

function refused(reason: string): RedispatchVerdict {
  return { kind: "refused", reason };
}
