import { randomUUID } from "node:crypto";
import { Body, Controller, HttpCode, HttpException, HttpStatus, Inject, Param, Post } from "@nestjs/common";
import { Caller, Roles, type Principal } from "@pinflow/auth";
import { makeEvent } from "@pinflow/bus";
import { CheckNowRequest, ORDER_ID_PATTERN, type ErrorBody, type ErrorCode } from "@pinflow/contracts";
import type { OutboxEntry } from "@pinflow/pg";
import type { Logger } from "pino";
import type { Clock } from "./poll.js";
import { originOf } from "./scheduler.js";
import type { WatchRow, WatchStore } from "./watch-store.js";

export const WATCH_ADMIN = Symbol("WATCH_ADMIN");

export interface WatchAdmin {
  store: WatchStore;
  clock: Clock;
  /** Ask the scheduler to look for due watches right away. */
  kick(): void;
  /** Ask the outbox relay to publish right away (optional: it polls anyway). */
  committed?: () => void;
  logger: Logger;
}

export interface CheckNowResponse {
  orderId: string;
  state: string;
  attempt: number;
  nextCheckAt: string;
}


function error(status: HttpStatus, code: ErrorCode, message: string, issues?: { path: string; message: string }[]): HttpException {
  const body: ErrorBody = { error: { code, message, ...(issues ? { issues } : {}) } };
  return new HttpException(body, status);
}

/** The operator's request on the order's stream, naming the operator (key id) and the reason. */
function recheckRequested(watch: WatchRow, operator: Principal, reason: string, at: Date): OutboxEntry[] {
  const attempt = watch.attempt + 1;
  const event = makeEvent("RecheckRequested", originOf(watch), { operator: operator.keyId, reason, attempt }, at, randomUUID());
  return [{ event, msgId: `RecheckRequested:${watch.orderId}:${attempt}`, once: false }];
}

@Controller("v1/watches")
@Roles("operator")
export class WatchController {
  constructor(@Inject(WATCH_ADMIN) private readonly admin: WatchAdmin) {}

  /**
   * Operator tool: check this order's status now (`{reason}`); a watch in review is re-opened for one
   * more check. Recorded on the order's stream as RecheckRequested. An operator of one tenant sees
   * only its tenant's watches (another's answers 404 like a missing one).
   */
  @Post(":orderId/check-now")
  @HttpCode(HttpStatus.ACCEPTED)
  async checkNow(@Caller() caller: Principal, @Param("orderId") orderId: string, @Body() body: unknown): Promise<CheckNowResponse> {
    const notFound = () => error(HttpStatus.NOT_FOUND, "not_found", "no watch for this order");
    if (!ORDER_ID_PATTERN.test(orderId)) throw notFound();
    const existing = await this.admin.store.get(orderId);
    if (!existing || (caller.tenantId !== null && existing.tenantId !== caller.tenantId)) throw notFound();
    const parsed = CheckNowRequest.safeParse(body ?? {});
    if (!parsed.success) {
      throw error(HttpStatus.BAD_REQUEST, "validation_failed", "the request body is not valid", parsed.error.issues.map((i) => ({ path: i.path.join(".") || "(body)", message: i.message })));
    }
    const now = this.admin.clock.now();
    const result = await this.admin.store.checkNow(orderId, now, (watch) => recheckRequested(watch, caller, parsed.data.reason, now));
    switch (result.kind) {
      case "not_found":
        throw notFound();
      case "closed":
        throw error(HttpStatus.CONFLICT, "watch_closed", `the order is already ${result.watch.state}`);
      case "scheduled":
        this.admin.logger.info({ orderId, attempt: result.watch.attempt, operator: caller.keyId }, "check requested by operator");
        this.admin.committed?.();
        this.admin.kick();
        return {
          orderId,
          state: result.watch.state,
          attempt: result.watch.attempt,
          nextCheckAt: result.watch.nextCheckAt.toISOString(),
        };
      default: {
        const never: never = result;
        throw new Error(`unexpected result ${JSON.stringify(never)}`);
      }
    }
  }
}
