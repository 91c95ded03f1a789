import { Body, Controller, Get, Headers, HttpCode, Inject, Param, Post, Query, Res } from "@nestjs/common";
import { Caller, canSeeTenant, isOwner, Roles, type Principal } from "@pinflow/auth";
import { ORDER_ID_PATTERN, OrderStatus, ProviderName, ReviewReason, TenantId, type CreateOrderResponse, type OrderView } from "@pinflow/contracts";
import type { PinCipher } from "@pinflow/secrets";
import type { Response } from "express";
import { z } from "zod";
import { ApiError } from "./api-error.js";
import type { PackageCatalog } from "./catalog.js";
import { decodeCursor } from "./cursor.js";
import type { OrderRecord } from "./order.js";
import { toOrderView } from "./order-view.js";
import { OrderIntake } from "./order-intake.js";
import type { ListFilter, OrderStore, TimelineEntry } from "./order-store.js";
import { OperatorActions } from "./operator-actions.js";

export const ORDER_STORE = Symbol("ORDER_STORE");
export const PIN_CIPHER = Symbol("PIN_CIPHER");
export const CATALOG = Symbol("CATALOG");

const cursor = z
  .string()
  .transform((text, ctx) => {
    const decoded = decodeCursor(text);
    if (!decoded) ctx.addIssue({ code: "custom", message: "is not a cursor from a previous page (nextCursor)" });
    return decoded ?? z.NEVER;
  })
  .optional();
const limit = z.coerce.number().int().min(1).max(200).default(50);

const ListQuery = z.strictObject({
  status: OrderStatus.optional(),
  packageId: z.string().min(1).max(64).optional(),
  provider: ProviderName.optional(),
  /** Player ids that start with this text. */
  player: z.string().min(1).max(128).optional(),
  /** Created at or after / before these times (ISO 8601). */
  from: z.iso.datetime({ offset: true }).optional(),
  to: z.iso.datetime({ offset: true }).optional(),
  /** Operators of every tenant: one tenant's orders. */
  tenant: TenantId.optional(),
  limit,
  cursor,
});

const ReviewQuery = z.strictObject({ reason: ReviewReason.optional(), tenant: TenantId.optional(), limit, cursor });

/** An order in the operators' review queue: why, and how long it has waited there. */
export interface ReviewEntry {
  orderId: string;
  tenantId: string;
  packageId: string;
  provider: string | null;
  reviewReason: string | null;
  providerNote: string | null;
  createdAt: string;
  inReviewSince: string;
  ageSeconds: number;
}

@Controller("v1")
export class OrdersController {
  constructor(
    @Inject(OrderIntake) private readonly intake: OrderIntake,
    @Inject(OperatorActions) private readonly actions: OperatorActions,
    @Inject(ORDER_STORE) private readonly store: OrderStore,
    @Inject(PIN_CIPHER) private readonly pins: PinCipher,
    @Inject(CATALOG) private readonly catalog: PackageCatalog,
  ) {}

  @Post("orders")
  @HttpCode(201)
  @Roles("customer")
  async create(
    @Caller() caller: Principal,
    @Body() body: unknown,
    @Headers("idempotency-key") idempotencyKey: string | undefined,
    @Res({ passthrough: true }) res: Response,
  ): Promise<CreateOrderResponse> {
    const result = await this.intake.create(caller.tenantId!, body, idempotencyKey);
    const view = await this.store.get(result.orderId);
    if (!result.created) res.status(200);
    res.location(`/v1/orders/${result.orderId}`);
    return { orderId: result.orderId, status: view?.status ?? "pending" };
  }

  /** Newest first, never with PINs (I8): a PIN is shown only on the owner's read of one order. */
  @Get("orders")
  @Roles("customer", "operator")
  async list(@Caller() caller: Principal, @Query() query: Record<string, unknown>): Promise<{ orders: OrderView[]; nextCursor: string | null }> {
    const parsed = ListQuery.safeParse(query);
    if (!parsed.success) throw ApiError.fromZod(parsed.error, "query");
    const page = await this.store.list({
      ...scope(caller, parsed.data.tenant),
      limit: parsed.data.limit,
      ...(parsed.data.status ? { status: parsed.data.status } : {}),
      ...(parsed.data.packageId ? { packageId: parsed.data.packageId } : {}),
      ...(parsed.data.provider ? { provider: parsed.data.provider } : {}),
      ...(parsed.data.player ? { playerPrefix: parsed.data.player } : {}),
      ...(parsed.data.from ? { createdFrom: parsed.data.from } : {}),
      ...(parsed.data.to ? { createdBefore: parsed.data.to } : {}),
      ...(parsed.data.cursor ? { cursor: parsed.data.cursor } : {}),
    });
    return { orders: page.orders.map((o) => this.toView(o, false)), nextCursor: page.nextCursor };
  }

  @Get("orders/:id")
  @Roles("customer", "operator")
  async get(@Caller() caller: Principal, @Param("id") id: string): Promise<OrderView> {
    const order = await this.find(caller, id);
    return this.toView(order, isOwner(caller, order.tenantId));
  }

  @Get("orders/:id/events")
  @Roles("customer", "operator")
  async events(@Caller() caller: Principal, @Param("id") id: string): Promise<{ orderId: string; events: TimelineEntry[] }> {
    await this.find(caller, id);
    return { orderId: id, events: await this.store.timeline(id) };
  }

  @Get("packages")
  @Roles("customer", "operator")
  packages(): { packages: { id: string; name: string }[] } {
    return { packages: this.catalog.list() };
  }

  /** Operators: orders in review with their reason and age, oldest reason first within the page order (newest orders first). */
  @Get("review")
  @Roles("operator")
  async review(@Caller() caller: Principal, @Query() query: Record<string, unknown>): Promise<{ orders: ReviewEntry[]; nextCursor: string | null }> {
    const parsed = ReviewQuery.safeParse(query);
    if (!parsed.success) throw ApiError.fromZod(parsed.error, "query");
    const page = await this.store.list({
      ...scope(caller, parsed.data.tenant),
      status: "review",
      limit: parsed.data.limit,
      ...(parsed.data.reason ? { reviewReason: parsed.data.reason } : {}),
      ...(parsed.data.cursor ? { cursor: parsed.data.cursor } : {}),
    });
    const now = Date.now();
    return {
      orders: page.orders.map((o) => ({
        orderId: o.orderId,
        tenantId: o.tenantId,
        packageId: o.packageId,
        provider: o.provider,
        reviewReason: o.reviewReason,
        providerNote: o.providerNote,
        createdAt: o.createdAt,
        inReviewSince: o.updatedAt,
        ageSeconds: Math.max(0, Math.round((now - Date.parse(o.updatedAt)) / 1000)),
      })),
      nextCursor: page.nextCursor,
    };
  }

  /** Operators: complete an order in review with a PIN entered by hand (`{pin, reason}`). */
  @Post("orders/:id/complete")
  @HttpCode(202)
  @Roles("operator")
  async complete(@Caller() caller: Principal, @Param("id") id: string, @Body() body: unknown): Promise<{ orderId: string; status: string }> {
    await this.actions.complete(await this.find(caller, id), caller, body);
    return { orderId: id, status: (await this.store.get(id))?.status ?? "review" };
  }

  /** Operators: fail an order in review (`{reasonCode, reason}`). */
  @Post("orders/:id/fail")
  @HttpCode(202)
  @Roles("operator")
  async fail(@Caller() caller: Principal, @Param("id") id: string, @Body() body: unknown): Promise<{ orderId: string; status: string }> {
    await this.actions.fail(await this.find(caller, id), caller, body);
    return { orderId: id, status: (await this.store.get(id))?.status ?? "review" };
  }

  /** The caller's order, or 404 — the same answer for another tenant's order as for a missing one (I8). */
  private async find(caller: Principal, id: string): Promise<OrderRecord> {
    const order = ORDER_ID_PATTERN.test(id) ? await this.store.get(id) : null;
    if (!order || !canSeeTenant(caller, order.tenantId)) throw new ApiError(404, "not_found", "no such order");
    return order;
  }

  private toView(o: OrderRecord, withPin: boolean): OrderView {
    return toOrderView(o, this.pins, withPin);
  }
}

/** The tenants a caller's list covers: its own (customer, tenant operator) or any one / all (operator of every tenant). */
function scope(caller: Principal, tenant: string | undefined): Pick<ListFilter, "tenantId"> {
  if (caller.tenantId === null) return tenant ? { tenantId: tenant } : {};
  if (tenant !== undefined && tenant !== caller.tenantId) throw new ApiError(403, "forbidden", "this key sees only its own tenant");
  return { tenantId: caller.tenantId };
}
