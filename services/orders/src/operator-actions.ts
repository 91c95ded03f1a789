import { EventPublisher, makeEvent } from "@pinflow/bus";
import type { Principal } from "@pinflow/auth";
import { CompleteOrderRequest, FailOrderRequest, type OrderEvent } from "@pinflow/contracts";
import type { PinCipher } from "@pinflow/secrets";
import type { Logger } from "pino";
import { ApiError } from "./api-error.js";
import type { OrderRecord } from "./order.js";
import type { OrderProjection } from "./order-projection.js";

/** The request bodies, from the route table's schemas (packages/contracts api-responses.ts). */
export const CompleteRequest = CompleteOrderRequest;
export const FailRequest = FailOrderRequest;

export type OperatorAction = "complete" | "fail";

/** Where an operator decision is claimed (one per order) before its event is published. */
export interface DecisionClaims {
  claimDecision(orderId: string, action: OperatorAction, keyId: string): Promise<OperatorAction>;
  decisionOf(orderId: string): Promise<OperatorAction | null>;
}

/**
 * An operator's decision on an order in review, as an event naming the operator (API key id) and
 * the reason: `CompletedByOperator` (the PIN sealed for the order and its reference) or
 * `FailedByOperator`. One decision per order (claimed in the database first; the same decision
 * again is a retry), each event once-only on the stream.
 */
export class OperatorActions {
  constructor(
    private readonly claims: DecisionClaims,
    private readonly publisher: EventPublisher,
    private readonly pins: PinCipher,
    private readonly projection: Pick<OrderProjection, "waitFor">,
    private readonly logger: Logger,
    private readonly projectionWaitMs: number,
  ) {}

  async complete(order: OrderRecord, operator: Principal, body: unknown): Promise<void> {
    const parsed = CompleteRequest.safeParse(body);
    if (!parsed.success) throw ApiError.fromZod(parsed.error);
    await this.claim(order, "complete", operator);
    const reference = order.reference;
    const pin = this.pins.seal(parsed.data.pin, { orderId: order.orderId, reference: reference ?? "" });
    const event = makeEvent("CompletedByOperator", this.origin(order, operator), { operator: operator.keyId, reason: parsed.data.reason, reference, pin });
    await this.publish(event);
  }

  async fail(order: OrderRecord, operator: Principal, body: unknown): Promise<void> {
    const parsed = FailRequest.safeParse(body);
    if (!parsed.success) throw ApiError.fromZod(parsed.error);
    await this.claim(order, "fail", operator);
    const event = makeEvent("FailedByOperator", this.origin(order, operator), { operator: operator.keyId, reason: parsed.data.reason, reasonCode: parsed.data.reasonCode });
    await this.publish(event);
  }

  private async claim(order: OrderRecord, action: OperatorAction, operator: Principal): Promise<void> {
    if (order.status === "review") {
      const claimed = await this.claims.claimDecision(order.orderId, action, operator.keyId);
      if (claimed !== action) throw new ApiError(409, "order_not_in_review", `an operator already decided to ${claimed} this order`);
      return;
    }
    // Settled: only the same decision again (a retry after a lost answer) goes on; its event is once-only.
    const settledBy = action === "complete" ? "completed" : "failed";
    if (order.status !== settledBy || (await this.claims.decisionOf(order.orderId)) !== action) {
      throw new ApiError(409, "order_not_in_review", `the order is ${order.status}, not in review`);
    }
  }

  private origin(order: OrderRecord, operator: Principal) {
    return { orderId: order.orderId, correlationId: order.orderId, causationId: `operator:${operator.keyId}`, tenantId: order.tenantId };
  }

  private async publish(event: OrderEvent): Promise<void> {
    let seq: number;
    try {
      seq = (await this.publisher.publish(event, { once: true })).seq;
    } catch (error) {
      this.logger.error({ err: error, orderId: event.orderId, eventId: event.id }, "could not record the operator's decision");
      throw new ApiError(503, "unavailable", "the decision could not be recorded right now; retry shortly");
    }
    if (seq > 0) await this.projection.waitFor(seq, this.projectionWaitMs);
    this.logger.info({ orderId: event.orderId, eventId: event.id, type: event.type, operator: event.type === "CompletedByOperator" || event.type === "FailedByOperator" ? event.data.operator : null }, "operator decision recorded");
  }
}
