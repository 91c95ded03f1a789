import { DeliverPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import type { EventNames, OrderEvent } from "@pinflow/contracts";
import type { Logger } from "pino";
import { decodeEvent } from "./codec.js";
import { BusError } from "./errors.js";
import type { ProjectionMessage } from "./projection-consumer.js";

export interface HistoryOptions {
  /** How long one fetch may wait for the messages the stream said it holds. */
  fetchTimeoutMs?: number;
}

/**
 * Every message of one order on the stream, in stream order (an ordered consumer filtered on the
 * order's own subjects). Malformed messages are returned as such, for the caller to count and skip.
 * Messages appended while it reads may or may not be included; what was there when it started is.
 */
export async function readOrderHistory(nc: NatsConnection, names: EventNames, orderId: string, opts: HistoryOptions = {}): Promise<ProjectionMessage[]> {
  return readStream(nc, names, names.orderEvents(orderId), opts);
}

/** Every message of the order stream (or of `filter`) as it is now, in stream order. */
export async function readStream(nc: NatsConnection, names: EventNames, filter: string = names.allEvents, opts: HistoryOptions = {}): Promise<ProjectionMessage[]> {
  const messages: ProjectionMessage[] = [];
  await scanStream(nc, names, filter, (m) => messages.push(m), opts);
  return messages;
}

/**
 * Visit every message of the order stream (or of `filter`) as it is now, in stream order, without
 * keeping them (a rebuild of a million events folds as it reads). Returns how many it visited.
 */
export async function scanStream(
  nc: NatsConnection,
  names: EventNames,
  filter: string,
  visit: (message: ProjectionMessage) => void,
  opts: HistoryOptions = {},
): Promise<number> {
  // The whole stream: its message count says when to stop. One order's subjects: no count is asked
  // for (it would make the server scan every subject); the messages' own pending count says it.
  let total: number | null = null;
  if (filter === names.allEvents) {
    const jsm = await jetstreamManager(nc, { checkAPI: false });
    total = (await jsm.streams.info(names.stream)).state.messages;
    if (total === 0) return 0;
  }
  const consumer = await jetstream(nc, { checkAPI: false }).consumers.get(names.stream, { filter_subjects: filter, deliver_policy: DeliverPolicy.All });
  let visited = 0;
  try {
    for (;;) {
      // Large pulls for a whole-stream read (one round trip per 4,096 messages); small ones for one order.
      const batch = await consumer.fetch({ max_messages: total === null ? 256 : 4_096, expires: opts.fetchTimeoutMs ?? 2_000 });
      let received = 0;
      let caughtUp = false;
      for await (const msg of batch) {
        received++;
        visited++;
        const decoded = decodeEvent(msg.data, msg.subject);
        const at = { seq: msg.seq, subject: msg.subject, data: msg.data };
        visit(decoded.ok ? { ...at, ok: true, event: decoded.event } : { ...at, ok: false, reason: decoded.reason });
        if (msg.info.pending === 0) {
          caughtUp = true;
          break;
        }
      }
      if (caughtUp || (total !== null && visited >= total)) return visited;
      if (received === 0) {
        // Nothing came within the wait: no message matches (an order without events), or the server did not answer.
        if (visited === 0 && total === null) return 0;
        throw new BusError(`${filter}: read ${visited} message(s), then nothing within ${opts.fetchTimeoutMs ?? 2_000} ms`);
      }
    }
  } finally {
    await consumer.delete().catch(() => false);
  }
}

/**
 * Fold the whole stream per order, in stream order (a service's rebuild): `evolve` from `empty` for
 * each order's events. Malformed messages are logged and skipped, and counted.
 */
export async function foldStreamByOrder<S>(
  nc: NatsConnection,
  names: EventNames,
  empty: S,
  evolve: (state: S, event: OrderEvent) => S,
  logger: Logger,
): Promise<{ folds: Map<string, S>; malformed: number }> {
  const folds = new Map<string, S>();
  let malformed = 0;
  await scanStream(nc, names, names.allEvents, (m) => {
    if (!m.ok) {
      malformed++;
      logger.error({ seq: m.seq, subject: m.subject, reason: m.reason }, "skipped a malformed event");
      return;
    }
    folds.set(m.event.orderId, evolve(folds.get(m.event.orderId) ?? empty, m.event));
  });
  return { folds, malformed };
}
