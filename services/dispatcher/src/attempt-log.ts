/**
 * The order's stream as the dispatcher reads and writes its attempt facts directly (not through the
 * outbox): a PlacementStarted must be acknowledged by JetStream before its place request goes out,
 * and an order without a dispatch row is looked up in its own history before anything is placed.
 */
import { jetstreamManager, type JetStreamManager, type MsgRequest, type NextMsgRequest } from "@nats-io/jetstream";
import { decodeEvent, readOrderHistory, type EventPublisher, type NatsConnection } from "@pinflow/bus";
import type { EventNames, EventType, OrderEvent } from "@pinflow/contracts";
import type { Logger } from "pino";

export interface AttemptLog {
  /** Append a fact to the order's stream and wait (at most `timeoutMs`, default 5 s) for the stream's acknowledgement (throws when it cannot). */
  append(event: OrderEvent, msgId: string, timeoutMs?: number): Promise<void>;
  /** Whether the order's latest PlacementStarted on the stream is the one of this reference and place call. */
  startRecorded(orderId: string, reference: string, placeCall: number): Promise<boolean>;
  /** The order's events in stream order (malformed messages are logged and left out). */
  history(orderId: string): Promise<OrderEvent[]>;
  /**
   * Whether the stream holds any dispatcher fact of the order (an attempt, or an outcome written
   * before attempts were recorded): a cheap look-up by subject before reading the whole history.
   * `createdSeq`, when given, is the stream sequence of the order's OrderCreated: every other event
   * of an order comes after it, so when nothing of the order follows it, one request answers "no".
   */
  handled(orderId: string, createdSeq?: number): Promise<boolean>;
}

/** The dispatcher's facts that show an order was handled: the attempt started, or an outcome (older streams). */
export const HANDLED_TYPES: readonly EventType[] = ["PlacementStarted", "OrderSent", "DispatchFailed", "ReviewRequired"];

export class StreamAttemptLog implements AttemptLog {
  private jsm: Promise<JetStreamManager> | undefined;

  constructor(
    private readonly nc: NatsConnection,
    private readonly names: EventNames,
    private readonly publisher: EventPublisher,
    private readonly logger: Logger,
  ) {}

  async append(event: OrderEvent, msgId: string, timeoutMs?: number): Promise<void> {
    await this.publisher.publish(event, timeoutMs === undefined ? { msgId } : { msgId, timeoutMs });
  }

  async startRecorded(orderId: string, reference: string, placeCall: number): Promise<boolean> {
    const subject = this.names.orderEvent(orderId, "PlacementStarted");
    const stored = await (await this.manager()).streams.getMessage(this.names.stream, { last_by_subj: subject });
    if (stored === null) return false;
    const decoded = decodeEvent(stored.data, subject);
    return decoded.ok && decoded.event.type === "PlacementStarted" && decoded.event.data.reference === reference && decoded.event.data.placeCall === placeCall;
  }

  async handled(orderId: string, createdSeq?: number): Promise<boolean> {
    const jsm = await this.manager();
    if (createdSeq !== undefined) {
      // The first message of the order's subjects after its OrderCreated (the server scans forward from
      // there: cheap for a fresh order near the stream's end). None: nothing was written for it yet.
      // Some message: it may or may not be a dispatcher fact; the look-ups by subject below decide.
      // (STREAM.MSG.GET takes next_by_subj with seq since server 2.9; the client types only seq and last_by_subj for it.)
      const request: NextMsgRequest = { next_by_subj: this.names.orderEvents(orderId), seq: createdSeq + 1 };
      const next = await jsm.streams.getMessage(this.names.stream, request as unknown as MsgRequest);
      if (next === null) return false;
    }
    // Last message by literal subject: answered from the stream's subject index, one round trip for all.
    const found = await Promise.all(HANDLED_TYPES.map((type) => jsm.streams.getMessage(this.names.stream, { last_by_subj: this.names.orderEvent(orderId, type) })));
    return found.some((m) => m !== null);
  }

  private manager(): Promise<JetStreamManager> {
    this.jsm ??= jetstreamManager(this.nc, { checkAPI: false });
    return this.jsm;
  }

  async history(orderId: string): Promise<OrderEvent[]> {
    const messages = await readOrderHistory(this.nc, this.names, orderId);
    const events: OrderEvent[] = [];
    for (const m of messages) {
      if (m.ok) events.push(m.event);
      else this.logger.error({ orderId, seq: m.seq, subject: m.subject, reason: m.reason }, "skipped a malformed event in the order's history");
    }
    return events;
  }
}
