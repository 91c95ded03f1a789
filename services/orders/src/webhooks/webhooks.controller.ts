import { Body, Controller, Delete, Get, HttpCode, Inject, Param, Post, Query } from "@nestjs/common";
import { Caller, Roles, type Principal } from "@pinflow/auth";
import {
  RegisterWebhookRequest,
  TenantId,
  WebhookDeliveriesQuery,
  type WebhookDeliveryList,
  type WebhookList,
  type WebhookRegistered,
} from "@pinflow/contracts";
import { generateWebhookSecret, type PinCipher } from "@pinflow/secrets";
import { randomBytes } from "node:crypto";
import { z } from "zod";
import { ApiError } from "../api-error.js";
import { PIN_CIPHER } from "../orders.controller.js";
import type { PgWebhookStore, WebhookEndpoint } from "./pg-webhook-store.js";
import type { TargetPolicy } from "./webhook-target.js";
import { sealWebhookSecret } from "./webhook-secrets.js";

export const WEBHOOK_STORE = Symbol("WEBHOOK_STORE");
export const WEBHOOK_SETTINGS = Symbol("WEBHOOK_SETTINGS");

export interface WebhookSettings {
  targets: TargetPolicy;
  maxPerTenant: number;
  /** The event stream's last sequence now: a new webhook gets the changes after it. */
  streamHead: () => Promise<number>;
}

const WEBHOOK_ID = /^wh_[0-9a-f]{24}$/;
const ListQuery = z.strictObject({ tenant: TenantId.optional() });
const AllDeliveriesQuery = WebhookDeliveriesQuery.extend({ tenant: TenantId.optional() });

/**
 * Tenants' webhook endpoints (README "Webhooks"). A customer key manages its own tenant's; an admin
 * any tenant's; operators see them and their deliveries (of their scope) and may send a given-up
 * delivery again. Another tenant's webhook answers 404, like a missing one.
 */
@Controller("v1/webhooks")
export class WebhooksController {
  constructor(
    @Inject(WEBHOOK_STORE) private readonly store: PgWebhookStore,
    @Inject(WEBHOOK_SETTINGS) private readonly settings: WebhookSettings,
    @Inject(PIN_CIPHER) private readonly cipher: PinCipher,
  ) {}

  /** Register a URL; the answer carries the signing secret, once. */
  @Post()
  @HttpCode(201)
  @Roles("customer", "admin")
  async register(@Caller() caller: Principal, @Body() body: unknown): Promise<WebhookRegistered> {
    const parsed = RegisterWebhookRequest.safeParse(body);
    if (!parsed.success) throw ApiError.fromZod(parsed.error);
    const tenantId = this.tenantToManage(caller, parsed.data.tenant);
    const refusal = this.settings.targets.refusal(parsed.data.url);
    if (refusal) throw new ApiError(refusal.code === "validation_failed" ? 400 : 422, refusal.code, refusal.message, [{ path: "url", message: refusal.message }]);
    const fromSeq = await this.settings.streamHead().catch(() => {
      throw new ApiError(503, "unavailable", "cannot read the event stream right now; retry");
    });
    const webhookId = `wh_${randomBytes(12).toString("hex")}`;
    const secret = generateWebhookSecret();
    const endpoint = await this.store
      .register(
        { webhookId, tenantId, url: parsed.data.url, description: parsed.data.description ?? "", secretSealed: sealWebhookSecret(this.cipher, secret, { webhookId, tenantId }) },
        this.settings.maxPerTenant,
        fromSeq,
      )
      .catch((error: unknown) => {
        if ((error as { code?: string }).code === "23503") throw new ApiError(404, "not_found", "no such tenant");
        throw error;
      });
    if (!endpoint) throw new ApiError(409, "too_many_webhooks", `a tenant may register at most ${this.settings.maxPerTenant} webhooks; delete one first`);
    return { ...endpoint, secret };
  }

  @Get()
  @Roles("customer", "operator", "admin")
  async list(@Caller() caller: Principal, @Query() query: Record<string, unknown>): Promise<WebhookList> {
    const parsed = ListQuery.safeParse(query);
    if (!parsed.success) throw ApiError.fromZod(parsed.error, "query");
    if (caller.tenantId !== null && parsed.data.tenant !== undefined && parsed.data.tenant !== caller.tenantId) throw new ApiError(403, "forbidden", "this key sees only its own tenant");
    const tenantId = caller.tenantId ?? parsed.data.tenant;
    return { webhooks: await this.store.list(tenantId ? { tenantId } : {}) };
  }

  @Delete(":id")
  @HttpCode(204)
  @Roles("customer", "admin")
  async remove(@Caller() caller: Principal, @Param("id") id: string): Promise<void> {
    const endpoint = await this.find(caller, id);
    await this.store.remove(endpoint.webhookId);
  }

  /** The endpoint's deliveries, newest first, each with its tries (status code or error, duration). */
  @Get(":id/deliveries")
  @Roles("customer", "operator", "admin")
  async deliveries(@Caller() caller: Principal, @Param("id") id: string, @Query() query: Record<string, unknown>): Promise<WebhookDeliveryList> {
    const endpoint = await this.find(caller, id);
    const parsed = WebhookDeliveriesQuery.safeParse(query);
    if (!parsed.success) throw ApiError.fromZod(parsed.error, "query");
    return this.store.deliveries({ webhookId: endpoint.webhookId }, {
      limit: parsed.data.limit,
      ...(parsed.data.state ? { state: parsed.data.state } : {}),
      ...(parsed.data.cursor ? { before: parsed.data.cursor } : {}),
    });
  }

  /** Send a delivery that was given up on (`failed`) again now. */
  @Post(":id/deliveries/:deliveryId/retry")
  @HttpCode(202)
  @Roles("customer", "operator", "admin")
  async retry(@Caller() caller: Principal, @Param("id") id: string, @Param("deliveryId") deliveryId: string): Promise<{ deliveryId: string; state: "pending" }> {
    const endpoint = await this.find(caller, id);
    if (!/^\d{1,18}$/.test(deliveryId) || !(await this.store.retry(endpoint.webhookId, deliveryId))) throw new ApiError(404, "not_found", "no failed delivery with that id");
    return { deliveryId, state: "pending" };
  }

  /** The tenant a registration is for: the customer's own; an admin must name one. */
  private tenantToManage(caller: Principal, tenant: string | undefined): string {
    if (caller.role === "customer") {
      if (tenant !== undefined && tenant !== caller.tenantId) throw new ApiError(403, "forbidden", "this key manages only its own tenant's webhooks");
      return caller.tenantId!;
    }
    if (caller.tenantId !== null) {
      if (tenant !== undefined && tenant !== caller.tenantId) throw new ApiError(403, "forbidden", "this key manages only its own tenant's webhooks");
      return caller.tenantId;
    }
    if (tenant === undefined) throw new ApiError(400, "validation_failed", "an admin names the tenant", [{ path: "tenant", message: "required for an admin key" }]);
    return tenant;
  }

  /** The caller's webhook (its tenant's; any for keys of every tenant), or 404. */
  private async find(caller: Principal, id: string): Promise<WebhookEndpoint> {
    const endpoint = WEBHOOK_ID.test(id) ? await this.store.get(id) : null;
    if (!endpoint || (caller.tenantId !== null && caller.tenantId !== endpoint.tenantId)) throw new ApiError(404, "not_found", "no such webhook");
    return endpoint;
  }
}

/**
 * Deliveries across all of a tenant's webhooks (keys of every tenant: all tenants, or `?tenant=`),
 * e.g. `?state=failed`: what an operator watches.
 */
@Controller("v1/webhook-deliveries")
export class WebhookDeliveriesController {
  constructor(@Inject(WEBHOOK_STORE) private readonly store: PgWebhookStore) {}

  @Get()
  @Roles("customer", "operator", "admin")
  async list(@Caller() caller: Principal, @Query() query: Record<string, unknown>): Promise<WebhookDeliveryList> {
    const parsed = AllDeliveriesQuery.safeParse(query);
    if (!parsed.success) throw ApiError.fromZod(parsed.error, "query");
    if (caller.tenantId !== null && parsed.data.tenant !== undefined && parsed.data.tenant !== caller.tenantId) throw new ApiError(403, "forbidden", "this key sees only its own tenant");
    const tenantId = caller.tenantId ?? parsed.data.tenant;
    return this.store.deliveries(tenantId ? { tenantId } : {}, {
      limit: parsed.data.limit,
      ...(parsed.data.state ? { state: parsed.data.state } : {}),
      ...(parsed.data.cursor ? { before: parsed.data.cursor } : {}),
    });
  }
}
