/**
 * The order's stream as the dispatcher reads and writes its attempt facts directly (not through the
 * outbox): a PlacementStarted must be acknowledged by JetStream before its place request goes out,
 * and an order without a dispatch row is looked up in its own history before anything is placed.
 */
import { readOrderHistory, type EventPublisher, type NatsConnection } from "@pinflow/bus";
import type { OrderEvent } from "@pinflow/contracts";
import type { Logger } from "pino";

export interface AttemptLog {
  /** Append a fact to the order's stream and wait for the stream's acknowledgement (throws when it cannot). */
  append(event: OrderEvent, msgId: string): Promise<void>;
  /** The order's events in stream order (malformed messages are logged and left out). */
  history(orderId: string): Promise<OrderEvent[]>;
}

export class StreamAttemptLog implements AttemptLog {
  constructor(
    private readonly nc: NatsConnection,
    private readonly publisher: EventPublisher,
    private readonly logger: Logger,
  ) {}

  async append(event: OrderEvent, msgId: string): Promise<void> {
    await this.publisher.publish(event, { msgId });
  }

  async history(orderId: string): Promise<OrderEvent[]> {
    const messages = await readOrderHistory(this.nc, orderId);
    const events: OrderEvent[] = [];
    for (const m of messages) {
      if (m.ok) events.push(m.event);
      else this.logger.error({ orderId, seq: m.seq, subject: m.subject, reason: m.reason }, "skipped a malformed event in the order's history");
    }
    return events;
  }
}
