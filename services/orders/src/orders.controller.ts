import { Body, Controller, Get, Headers, HttpCode, Inject, Param, Post, Query, Res } from "@nestjs/common";
import { ORDER_ID_PATTERN, OrderStatus, type CreateOrderResponse, type OrderView } from "@pinflow/contracts";
import type { PinCipher } from "@pinflow/secrets";
import type { Response } from "express";
import { z } from "zod";
import { ApiError } from "./api-error.js";
import type { PackageCatalog } from "./catalog.js";
import { decodeCursor } from "./cursor.js";
import type { OrderRecord } from "./order.js";
import { OrderIntake } from "./order-intake.js";
import type { OrderStore, TimelineEntry } from "./order-store.js";

export const ORDER_STORE = Symbol("ORDER_STORE");
export const PIN_CIPHER = Symbol("PIN_CIPHER");
export const CATALOG = Symbol("CATALOG");

const ListQuery = z.strictObject({
  status: OrderStatus.optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z
    .string()
    .transform((text, ctx) => {
      const cursor = decodeCursor(text);
      if (!cursor) ctx.addIssue({ code: "custom", message: "is not a cursor from a previous page (nextCursor)" });
      return cursor ?? z.NEVER;
    })
    .optional(),
});

@Controller("v1")
export class OrdersController {
  constructor(
    @Inject(OrderIntake) private readonly intake: OrderIntake,
    @Inject(ORDER_STORE) private readonly store: OrderStore,
    @Inject(PIN_CIPHER) private readonly pins: PinCipher,
    @Inject(CATALOG) private readonly catalog: PackageCatalog,
  ) {}

  @Post("orders")
  @HttpCode(201)
  async create(
    @Body() body: unknown,
    @Headers("idempotency-key") idempotencyKey: string | undefined,
    @Res({ passthrough: true }) res: Response,
  ): Promise<CreateOrderResponse> {
    const result = await this.intake.create(body, idempotencyKey);
    const view = await this.store.get(result.orderId);
    if (!result.created) res.status(200);
    res.location(`/v1/orders/${result.orderId}`);
    return { orderId: result.orderId, status: view?.status ?? "pending" };
  }

  @Get("orders")
  async list(@Query() query: Record<string, unknown>): Promise<{ orders: OrderView[]; nextCursor: string | null }> {
    const parsed = ListQuery.safeParse(query);
    if (!parsed.success) throw ApiError.fromZod(parsed.error, "query");
    const page = await this.store.list({
      limit: parsed.data.limit,
      ...(parsed.data.status ? { status: parsed.data.status } : {}),
      ...(parsed.data.cursor ? { cursor: parsed.data.cursor } : {}),
    });
    return { orders: page.orders.map((o) => this.toView(o)), nextCursor: page.nextCursor };
  }

  @Get("orders/:id")
  async get(@Param("id") id: string): Promise<OrderView> {
    return this.toView(await this.find(id));
  }

  @Get("orders/:id/events")
  async events(@Param("id") id: string): Promise<{ orderId: string; events: TimelineEntry[] }> {
    await this.find(id);
    return { orderId: id, events: await this.store.timeline(id) };
  }

  @Get("packages")
  packages(): { packages: { id: string; name: string }[] } {
    return { packages: this.catalog.list() };
  }

  private async find(id: string): Promise<OrderRecord> {
    const order = ORDER_ID_PATTERN.test(id) ? await this.store.get(id) : null;
    if (!order) throw new ApiError(404, "not_found", "no such order");
    return order;
  }

  private toView(o: OrderRecord): OrderView {
    return {
      orderId: o.orderId,
      packageId: o.packageId,
      playerId: o.playerId,
      status: o.status,
      provider: o.provider,
      providerNote: o.providerNote,
      reasonCode: o.reasonCode,
      reviewReason: o.reviewReason,
      pin: o.status === "completed" && o.pinSealed ? this.pins.open(o.pinSealed, { orderId: o.orderId, reference: o.reference ?? "" }) : null,
      createdAt: o.createdAt,
      updatedAt: o.updatedAt,
    };
  }
}
