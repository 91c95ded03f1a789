import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";

/** Where a durable consumer stands: what it has not been given yet, and what it holds unacknowledged. */
export interface ConsumerBacklog {
  durable: string;
  /** Messages on the stream that match the consumer and were not delivered yet (`num_pending`): its lag. */
  pending: number;
  /** Delivered, not yet acknowledged (`num_ack_pending`): in hand, or handed back to wait. */
  ackPending: number;
}

/** Read each durable's backlog from the server (the process's NATS user may read its own consumers' info). */
export async function consumerBacklogs(nc: NatsConnection, stream: string, durables: readonly string[]): Promise<ConsumerBacklog[]> {
  const jsm = await jetstreamManager(nc);
  return Promise.all(
    durables.map(async (durable) => {
      const info = await jsm.consumers.info(stream, durable);
      return { durable, pending: info.num_pending, ackPending: info.num_ack_pending };
    }),
  );
}
