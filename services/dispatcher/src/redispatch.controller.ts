import { Body, Controller, Get, HttpCode, HttpException, HttpStatus, Inject, Param, Post } from "@nestjs/common";
import { Caller, Roles, type Principal } from "@pinflow/auth";
import { LEGACY_TENANT_ID, ORDER_ID_PATTERN, RedispatchRequestBody, type ErrorBody, type ErrorCode, type RedispatchResponse } from "@pinflow/contracts";
import type { OrderHistory, Redispatcher } from "./redispatch-action.js";
import { redispatchVerdict, type RedispatchVerdict } from "./redispatch.js";

export const REDISPATCH = Symbol("REDISPATCH");

export interface RedispatchDeps {
  history: OrderHistory;
  redispatcher: Redispatcher;
}

function error(status: HttpStatus, code: ErrorCode, message: string, issues?: { path: string; message: string }[]): HttpException {
  const body: ErrorBody = { error: { code, message, ...(issues ? { issues } : {}) } };
  return new HttpException(body, status);
}

const notFound = () => error(HttpStatus.NOT_FOUND, "not_found", "no such order");

/**
 * Operators: "dispatch again" of an order in review, allowed only when its record proves that no
 * placement can exist at any provider (redispatch.ts). GET tells whether it would be allowed and
 * why not; POST (`{reason}`) does it. An operator of one tenant sees only its tenant's orders
 * (another's answers 404 like a missing one).
 */
@Controller("v1/orders")
@Roles("operator")
export class RedispatchController {
  constructor(@Inject(REDISPATCH) private readonly deps: RedispatchDeps) {}

  @Get(":orderId/dispatch-again")
  async verdict(@Caller() caller: Principal, @Param("orderId") orderId: string): Promise<{ orderId: string } & RedispatchVerdict> {
    const events = ORDER_ID_PATTERN.test(orderId) ? await this.deps.history(orderId) : [];
    const created = events.find((e) => e.type === "OrderCreated");
    if (!created || (caller.tenantId !== null && (created.tenantId ?? LEGACY_TENANT_ID) !== caller.tenantId)) throw notFound();
    return { orderId, ...redispatchVerdict(events) };
  }

  @Post(":orderId/dispatch-again")
  @HttpCode(HttpStatus.ACCEPTED)
  async dispatchAgain(@Caller() caller: Principal, @Param("orderId") orderId: string, @Body() body: unknown): Promise<RedispatchResponse> {
    if (!ORDER_ID_PATTERN.test(orderId)) throw notFound();
    const parsed = RedispatchRequestBody.safeParse(body ?? {});
    if (!parsed.success) {
      throw error(HttpStatus.BAD_REQUEST, "validation_failed", "the request body is not valid", parsed.error.issues.map((i) => ({ path: i.path.join(".") || "(body)", message: i.message })));
    }
    const outcome = await this.deps.redispatcher.request(orderId, caller.tenantId, { operator: caller.keyId, reason: parsed.data.reason });
    switch (outcome.kind) {
      case "not_found":
        throw notFound();
      case "refused":
        throw error(HttpStatus.CONFLICT, "redispatch_refused", outcome.reason);
      case "dispatched": {
        const { kind: _kind, ...response } = outcome;
        return response;
      }
      default: {
        const never: never = outcome;
        throw new Error(`unexpected outcome ${JSON.stringify(never)}`);
      }
    }
  }
}
