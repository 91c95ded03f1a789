import type { BeforeApplicationShutdown } from "@nestjs/common";
import type { OrderView } from "@pinflow/contracts";
import type { PinCipher } from "@pinflow/secrets";
import type { Request, Response } from "express";
import type { Logger } from "pino";
import { ApiError } from "./api-error.js";
import type { OrderChanges, VersionedOrder } from "./order-changes.js";
import type { OrderStore } from "./order-store.js";
import { toOrderView } from "./order-view.js";
import { SSE_HEARTBEAT, sseEvent, sseRetry } from "./sse.js";
import type { StreamSlots } from "./stream-slots.js";

/** What one `order` event carries: the owner's view of the order (PIN included once completed) and its version. */
export type OrderStreamEvent = OrderView & { version: number };

export interface LiveStreamSettings {
  heartbeatMs: number;
  /** What the browser waits before reconnecting. */
  retryMs: number;
}

/**
 * The owner's live streams of orders (Server-Sent Events). A stream sends the order's state as an
 * `order` event whose id is the order's version (the stream sequence of its last change): at once
 * when the client has an older version (`Last-Event-ID`) or none, then after every projection commit
 * of this replica that touched the order and moved its version. Several changes committed together
 * arrive as one event with the latest state. The projection hands over the rows it wrote, so a change costs
 * no read per stream; only the first event (and an event whose commit wrote no row) reads the order. Heartbeat comments keep the connection open. A failed
 * read ends the stream: the browser reconnects with its Last-Event-ID and misses nothing.
 */
export class LiveStreams implements BeforeApplicationShutdown {
  /** How to end each open stream (on shutdown). */
  private readonly enders = new Set<() => void>();

  constructor(
    private readonly store: Pick<OrderStore, "getVersioned">,
    private readonly pins: PinCipher,
    private readonly changes: OrderChanges,
    private readonly slots: StreamSlots,
    private readonly settings: LiveStreamSettings,
    private readonly logger: Logger,
  ) {}

  /** Serve `orderId`'s stream on `res` (the caller has checked that the key owns the order). Throws 429 beyond the key's bound. */
  open(req: Request, res: Response, orderId: string, keyId: string, knownVersion: number): void {
    const release = this.slots.take(keyId);
    if (!release) throw new ApiError(429, "too_many_streams", `this key has ${this.slots.maxPerKey} live streams open already; close one first`);
    res.status(200);
    res.setHeader("Content-Type", "text/event-stream; charset=utf-8");
    res.setHeader("Cache-Control", "no-cache, no-store, no-transform");
    res.setHeader("X-Accel-Buffering", "no");
    res.flushHeaders();
    res.socket?.setNoDelay(true);
    res.write(sseRetry(this.settings.retryMs));

    let sent = knownVersion;
    let closed = false;
    let reading: Promise<void> | null = null;
    let again = false;
    const send = (current: VersionedOrder): void => {
      if (current.version <= sent) return;
      sent = current.version;
      const data: OrderStreamEvent = { ...toOrderView(current.order, this.pins, true), version: current.version };
      res.write(sseEvent({ id: current.version, event: "order", data }));
    };
    /** The row a commit wrote is sent as it is; without one (or while a read is under way) the row is read. */
    const push = (changed: VersionedOrder | null): void => {
      if (closed) return;
      if (changed && !reading) return send(changed);
      if (reading) {
        again = true;
        return;
      }
      reading = (async () => {
        do {
          again = false;
          const current = await this.store.getVersioned(orderId);
          if (closed) return;
          if (current) send(current);
        } while (again && !closed);
      })()
        .catch((error: unknown) => {
          this.logger.warn({ err: error, orderId }, "live stream could not read its order; ending it (the client reconnects)");
          close();
          res.end();
        })
        .finally(() => {
          reading = null;
        });
    };
    const unsubscribe = this.changes.subscribe(orderId, push);
    const heartbeat = setInterval(() => res.write(SSE_HEARTBEAT), this.settings.heartbeatMs);
    const close = (): void => {
      if (closed) return;
      closed = true;
      clearInterval(heartbeat);
      unsubscribe();
      release();
      this.enders.delete(end);
    };
    const end = (): void => {
      close();
      res.end();
    };
    this.enders.add(end);
    req.on("close", close);
    res.on("close", close);
    push(null);
  }

  /**
   * Nest calls this before it closes the HTTP server, which would otherwise wait for these
   * never-ending responses: every stream is ended, and its browser reconnects (with Last-Event-ID)
   * to a replica that is still running.
   */
  beforeApplicationShutdown(): void {
    for (const end of [...this.enders]) end();
  }

  /** Open streams on this replica. */
  get size(): number {
    return this.enders.size;
  }
}
