import { Controller, Get, HttpException, HttpStatus, Inject, Param } from "@nestjs/common";
import { Caller, Roles, type Principal } from "@pinflow/auth";
import { LEGACY_TENANT_ID, ORDER_ID_PATTERN, type ErrorBody, type OrderEvent } from "@pinflow/contracts";
import { redispatchVerdict, type RedispatchVerdict } from "./redispatch.js";

export const ORDER_HISTORY = Symbol("ORDER_HISTORY");

/** The order's events on the stream. */
export type OrderHistory = (orderId: string) => Promise<OrderEvent[]>;

/**
 * Operators: may this order in review be dispatched again? Only when its record proves that no
 * placement can exist at any provider (redispatch.ts). The verdict only: the action itself is not
 * built yet. An operator of one tenant sees only its tenant's orders (another's answers 404).
 */
@Controller("v1/orders")
@Roles("operator")
export class RedispatchController {
  constructor(@Inject(ORDER_HISTORY) private readonly history: OrderHistory) {}

  @Get(":orderId/dispatch-again")
  async verdict(@Caller() caller: Principal, @Param("orderId") orderId: string): Promise<{ orderId: string } & RedispatchVerdict> {
    const events = ORDER_ID_PATTERN.test(orderId) ? await this.history(orderId) : [];
    const created = events.find((e) => e.type === "OrderCreated");
    if (!created || (caller.tenantId !== null && (created.tenantId ?? LEGACY_TENANT_ID) !== caller.tenantId)) {
      const body: ErrorBody = { error: { code: "not_found", message: "no such order" } };
      throw new HttpException(body, HttpStatus.NOT_FOUND);
    }
    return { orderId, ...redispatchVerdict(events) };
  }
}
