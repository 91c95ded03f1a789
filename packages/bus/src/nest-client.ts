/**
 * The emitting side of the Nest JetStream transport: `client.emit(event.type, event)` publishes the
 * event on its order's subject through EventPublisher — with its `msgID` (deduplication) and the
 * active trace context in the headers — and the returned observable emits the stream's answer
 * (`{ seq, duplicate }`). Request/response (`send`) is not offered: the bus carries facts.
 *
 *   client.emit("OrderFailed", event)                                 // msgID = "<type>:<orderId>"
 *   client.emit("ReviewRequired", { event, msgId: "ReviewRequired:<id>:g2" })
 */
import { ClientProxy, type ReadPacket, type WritePacket } from "@nestjs/microservices";
import type { NatsConnection } from "@nats-io/transport-node";
import type { EventNames, OrderEvent } from "@pinflow/contracts";
import { EventPublisher, type PublishOptions, type Published } from "./publisher.js";

/** What `emit` takes as data: the event, or the event with its publish options. */
export type EmittedEvent = OrderEvent | ({ event: OrderEvent } & PublishOptions);

export class JetStreamClient extends ClientProxy {
  private readonly publisher: EventPublisher;

  constructor(
    private readonly nc: NatsConnection,
    names: EventNames,
  ) {
    super();
    this.publisher = new EventPublisher(nc, names);
  }

  /** The connection is made (and closed) by its owner. */
  async connect(): Promise<NatsConnection> {
    return this.nc;
  }

  close(): void {}

  unwrap<T>(): T {
    return this.nc as T;
  }

  protected async dispatchEvent<T = Published>(packet: ReadPacket<EmittedEvent>): Promise<T> {
    const { event, options } = split(packet.data);
    if (packet.pattern !== event.type) throw new Error(`emit pattern ${String(packet.pattern)} is not the event's type ${event.type}`);
    return (await this.publisher.publish(event, options)) as T;
  }

  protected publish(_packet: ReadPacket, callback: (packet: WritePacket) => void): () => void {
    callback({ err: new Error("JetStreamClient only emits events (no request/response)"), isDisposed: true });
    return () => undefined;
  }
}

function split(data: EmittedEvent): { event: OrderEvent; options: PublishOptions } {
  if ("event" in data) {
    const { event, ...options } = data;
    return { event, options };
  }
  return { event: data, options: {} };
}
