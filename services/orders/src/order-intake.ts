import { createHash, randomUUID } from "node:crypto";
import { EventPublisher, makeEvent } from "@pinflow/bus";
import { CreateOrderRequest, IdempotencyKey } from "@pinflow/contracts";
import type { Logger } from "pino";
import { ApiError } from "./api-error.js";
import type { PackageCatalog } from "./catalog.js";
import type { OrderStore } from "./order-store.js";
import type { OrderProjection } from "./order-projection.js";

export interface CreatedOrder {
  orderId: string;
  /** False when an earlier request with the same Idempotency-Key already created it (even one whose answer was lost). */
  created: boolean;
}

/**
 * Turns a customer's request into an `OrderCreated` fact on the stream.
 * With an Idempotency-Key the same key and body give the same order; the
 * order id is bound to the key before publishing, and the publish is
 * deduplicated by the stream, so a retry after a lost answer is safe.
 */
export class OrderIntake {
  constructor(
    private readonly catalog: PackageCatalog,
    private readonly store: OrderStore,
    private readonly publisher: EventPublisher,
    private readonly projection: Pick<OrderProjection, "waitFor">,
    private readonly logger: Logger,
    private readonly projectionWaitMs: number,
  ) {}

  /** Create an order of `tenantId` (the caller's key's tenant). */
  async create(tenantId: string, body: unknown, idempotencyKey: string | undefined): Promise<CreatedOrder> {
    const parsed = CreateOrderRequest.safeParse(body);
    if (!parsed.success) throw ApiError.fromZod(parsed.error);
    const request = parsed.data;
    if (!this.catalog.get(request.packageId)) {
      throw new ApiError(422, "unknown_package", `no package with id ${request.packageId}`);
    }

    let orderId: string = randomUUID();
    if (idempotencyKey !== undefined) {
      const key = IdempotencyKey.safeParse(idempotencyKey);
      if (!key.success) throw new ApiError(400, "validation_failed", key.error.issues[0]?.message ?? "invalid Idempotency-Key");
      const hash = createHash("sha256").update(JSON.stringify([request.packageId, request.playerId, request.extra ?? null])).digest("hex");
      const claimed = await this.store.claimIdempotencyKey(tenantId, idempotencyKey, hash, orderId);
      if (claimed.requestHash !== hash) {
        throw new ApiError(409, "idempotency_conflict", "this Idempotency-Key was used with a different request");
      }
      orderId = claimed.orderId;
    }

    const event = makeEvent(
      "OrderCreated",
      { orderId, correlationId: orderId, causationId: null, tenantId },
      { packageId: request.packageId, playerId: request.playerId, extra: request.extra || null },
    );
    let published: Awaited<ReturnType<EventPublisher["publish"]>>;
    try {
      published = await this.publisher.publish(event, { once: true });
    } catch (error) {
      this.logger.error({ err: error, orderId, eventId: event.id }, "could not record the order on the stream");
      throw new ApiError(503, "unavailable", "the order could not be recorded right now; retry (with the same Idempotency-Key) shortly");
    }
    if (published.seq > 0) await this.projection.waitFor(published.seq, this.projectionWaitMs);
    this.logger.info({ orderId, tenantId, eventId: event.id, packageId: request.packageId, duplicate: published.duplicate }, "order accepted");
    // Created now unless the stream already had this order (an earlier request with the same key).
    return { orderId, created: !published.duplicate };
  }
}
