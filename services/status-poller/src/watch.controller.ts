import { AllTenants, Roles } from "@pinflow/auth";
import { Controller, HttpCode, HttpException, HttpStatus, Inject, Param, Post } from "@nestjs/common";
import { ORDER_ID_PATTERN, type ErrorBody, type ErrorCode } from "@pinflow/contracts";
import type { Logger } from "pino";
import type { Clock } from "./poll.js";
import type { WatchStore } from "./watch-store.js";

export const WATCH_ADMIN = Symbol("WATCH_ADMIN");

export interface WatchAdmin {
  store: WatchStore;
  clock: Clock;
  /** Ask the scheduler to look for due watches right away. */
  kick(): void;
  logger: Logger;
}

export interface CheckNowResponse {
  orderId: string;
  state: string;
  attempt: number;
  nextCheckAt: string;
}

function error(status: HttpStatus, code: ErrorCode, message: string): HttpException {
  const body: ErrorBody = { error: { code, message } };
  return new HttpException(body, status);
}

@Roles("operator")
@AllTenants()
@Controller("v1/watches")
export class WatchController {
  constructor(@Inject(WATCH_ADMIN) private readonly admin: WatchAdmin) {}

  /** Operator tool: check this order's status now; a watch in review is re-opened for one more check. */
  @Post(":orderId/check-now")
  @HttpCode(HttpStatus.ACCEPTED)
  async checkNow(@Param("orderId") orderId: string): Promise<CheckNowResponse> {
    if (!ORDER_ID_PATTERN.test(orderId)) throw error(HttpStatus.NOT_FOUND, "not_found", "no watch for this order");
    const result = await this.admin.store.checkNow(orderId, this.admin.clock.now());
    switch (result.kind) {
      case "not_found":
        throw error(HttpStatus.NOT_FOUND, "not_found", "no watch for this order");
      case "closed":
        throw error(HttpStatus.CONFLICT, "watch_closed", `the order is already ${result.watch.state}`);
      case "scheduled":
        this.admin.logger.info({ orderId, attempt: result.watch.attempt }, "check requested by operator");
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
