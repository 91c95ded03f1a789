/**
 * The work behind an operator's dispatch again: each RedispatchRequested is handled like the
 * order's OrderCreated (dispatch-handler.ts), on the row of the new generation that the operator's
 * request committed. Its own durable consumer, so the placement survives a crash between the
 * request and the call, and is retried, held and reconciled like any dispatch.
 */
import type { WorkHandler } from "@pinflow/bus";
import type { EventOf } from "@pinflow/contracts";
import type { AttemptLog } from "./attempt-log.js";
import { HistoryUnavailable, type DispatchHandler } from "./dispatch-handler.js";

/** The redispatch consumer's durable name is `names.durable(REDISPATCH_CONSUMER)`. */
export const REDISPATCH_CONSUMER = "dispatcher-redispatch";

export function redispatchHandler(handler: Pick<DispatchHandler, "handleAgain">, facts: Pick<AttemptLog, "history">): WorkHandler {
  return async (event, ctx) => {
    if (event.type !== "RedispatchRequested") return { reject: `unexpected event type ${event.type}` };
    const history = await facts.history(event.orderId);
    const created = history.find((e): e is EventOf<"OrderCreated"> => e.type === "OrderCreated");
    // The request was decided from this history: without its OrderCreated it could not be read now.
    if (created === undefined) throw new HistoryUnavailable(`the OrderCreated of order ${event.orderId} could not be read`);
    return handler.handleAgain(created, ctx);
  };
}
