import { jetstream, type JetStreamClient } from "@nats-io/jetstream";
import { headers, type NatsConnection } from "@nats-io/transport-node";
import { HEADERS, type EventNames, type OrderEvent } from "@pinflow/contracts";
import { encodeEvent } from "./codec.js";
import { BusError } from "./errors.js";
import { inSpan, injectTraceContext, SpanKind } from "./tracing.js";
import { context } from "@opentelemetry/api";

export interface PublishOptions {
  /** Deduplication id; defaults to the event's fact id (`<type>:<orderId>`). */
  msgId?: string;
  /** A once-only fact: the server refuses a second one on the subject (expected last subject sequence 0). */
  once?: boolean;
  /** How long to wait for the stream's acknowledgement (default 5 s). */
  timeoutMs?: number;
}

export interface Published {
  seq: number;
  /** The stream already had this fact (same msgID in the window, or a once-only subject already written). */
  duplicate: boolean;
}

/** The deduplication id of a fact: its type and order, plus a discriminator for repeated facts. */
export function factMsgId(event: OrderEvent, discriminator?: string | number): string {
  return discriminator === undefined ? `${event.type}:${event.orderId}` : `${event.type}:${event.orderId}:${discriminator}`;
}

export class EventPublisher {
  private readonly js: JetStreamClient;

  constructor(
    nc: NatsConnection,
    private readonly names: EventNames,
  ) {
    this.js = jetstream(nc, { timeout: 5000 });
  }

  async publish(event: OrderEvent, opts: PublishOptions = {}): Promise<Published> {
    const subject = this.names.orderEvent(event.orderId, event.type);
    return inSpan(`publish ${event.type}`, SpanKind.PRODUCER, context.active(), { "messaging.destination.name": subject, "pinflow.order_id": event.orderId }, async () => {
      const hdrs = headers();
      hdrs.set(HEADERS.type, event.type);
      hdrs.set(HEADERS.schemaVersion, String(event.schemaVersion));
      hdrs.set(HEADERS.correlationId, event.correlationId);
      injectTraceContext(hdrs);
      try {
        const ack = await this.js.publish(subject, encodeEvent(event), {
          msgID: opts.msgId ?? factMsgId(event),
          headers: hdrs,
          ...(opts.timeoutMs !== undefined ? { timeout: opts.timeoutMs } : {}),
          ...(opts.once ? { expect: { lastSubjectSequence: 0 } } : {}),
        });
        return { seq: ack.seq, duplicate: ack.duplicate };
      } catch (error) {
        if (opts.once && isWrongLastSequence(error)) return { seq: 0, duplicate: true };
        throw new BusError(`publish ${event.type} for ${event.orderId} failed`, { cause: error });
      }
    });
  }
}

function isWrongLastSequence(error: unknown): boolean {
  const e = error as { api_error?: { err_code?: number }; message?: string };
  return e?.api_error?.err_code === 10071 || /wrong last sequence/i.test(String(e?.message));
}
