import type { StreamTokenResponse } from "@pinflow/contracts";
import { Controller, Get, HttpCode, Inject, Param, Post, Req, Res } from "@nestjs/common";
import { Caller, isOwner, Roles, type Principal } from "@pinflow/auth";
import { ORDER_ID_PATTERN } from "@pinflow/contracts";
import type { Request, Response } from "express";
import { ApiError } from "./api-error.js";
import { LiveStreams } from "./live-streams.js";
import type { OrderStore } from "./order-store.js";
import { ORDER_STORE } from "./orders.controller.js";
import { lastEventId } from "./sse.js";
import { signStreamToken } from "./stream-token.js";

export const STREAM_TOKENS = Symbol("STREAM_TOKENS");

export interface StreamTokenSettings {
  secret: string;
  ttlMs: number;
  now: () => number;
}


/** The owner's live stream of one order, and the short-lived token a browser opens it with. */
@Controller("v1/orders")
export class StreamController {
  constructor(
    @Inject(ORDER_STORE) private readonly store: OrderStore,
    @Inject(LiveStreams) private readonly streams: LiveStreams,
    @Inject(STREAM_TOKENS) private readonly tokens: StreamTokenSettings,
  ) {}

  /** 200, not 201: nothing is stored (the token is signed, not recorded), so no resource is created. */
  @Post(":id/stream-token")
  @HttpCode(200)
  @Roles("customer")
  async token(@Caller() caller: Principal, @Param("id") id: string): Promise<StreamTokenResponse> {
    await this.ownOrder(caller, id);
    const expiresAt = Math.floor((this.tokens.now() + this.tokens.ttlMs) / 1000);
    const token = signStreamToken({ orderId: id, tenantId: caller.tenantId!, keyId: caller.keyId, expiresAt }, this.tokens.secret);
    const path = encodeURIComponent(id);
    return {
      token,
      expiresAt: new Date(expiresAt * 1000).toISOString(),
      streamUrl: `/v1/orders/${path}/stream?token=${token}`,
      pageUrl: `/orders/${path}#token=${token}`,
    };
  }

  /** `text/event-stream` of `order` events (see LiveStreams); `Last-Event-ID` resumes after a version. */
  @Get(":id/stream")
  @Roles("customer")
  async stream(@Caller() caller: Principal, @Param("id") id: string, @Req() req: Request, @Res() res: Response): Promise<void> {
    await this.ownOrder(caller, id);
    this.streams.open(req, res, id, caller.keyId, lastEventId(req.headers["last-event-id"]));
  }

  /** Only the owner (its tenant's customer key) — another tenant's order answers 404 like a missing one (I8). */
  private async ownOrder(caller: Principal, id: string): Promise<void> {
    const order = ORDER_ID_PATTERN.test(id) ? await this.store.get(id) : null;
    if (!order || !isOwner(caller, order.tenantId)) throw new ApiError(404, "not_found", "no such order");
  }
}
