import { ACK, type HandlerOutcome, type WorkHandler } from "@pinflow/bus";
import type { OrderEvent } from "@pinflow/contracts";
import type { Logger } from "pino";
import type { PollPlanner } from "./planner.js";
import { newWatch, type Clock } from "./poll.js";
import type { WatchStore } from "./watch-store.js";

/**
 * `OrderSent` → a watch row, then ack. Nothing else happens here: the
 * scheduler does the checking. A redelivery finds the row and just acks.
 * An order whose PIN came in the place reply gets a settled row: it is never checked.
 */
export function orderSentHandler(deps: {
  store: WatchStore;
  planner: PollPlanner;
  clock: Clock;
  random: () => number;
  logger: Logger;
}): WorkHandler {
  return async (event: OrderEvent): Promise<HandlerOutcome> => {
    if (event.type !== "OrderSent") return { reject: `unexpected event type ${event.type}` };
    const { provider, packageId } = event.data;
    const watch = newWatch(event, deps.planner.policyFor(provider), deps.random(), deps.planner.cadenceFor(provider, packageId));
    const inserted = await deps.store.insertWatch(watch, deps.clock.now());
    if (watch.state !== "watching") {
      deps.logger.info(
        { orderId: event.orderId, eventId: event.id, provider: watch.provider, state: watch.state, duplicate: !inserted },
        "PIN delivered in the place reply; the order is not watched",
      );
      return ACK;
    }
    deps.logger.info(
      { orderId: event.orderId, eventId: event.id, provider: watch.provider, firstCheckAt: watch.nextCheckAt.toISOString(), duplicate: !inserted },
      inserted ? "watching order" : "order already watched",
    );
    return ACK;
  };
}
