import { z } from "zod";
import { ProviderName } from "./ids.js";
import { OrderStatus, OrderView } from "./http.js";
import { ReasonCode, ReviewReason } from "./reasons.js";
import { TenantId } from "./events.js";

/**
 * Request and answer shapes of the HTTP API that are not in http.ts or webhooks.ts: the route table
 * (api-routes.ts) names them, and the OpenAPI documents are generated from them.
 */
const reason = z.string().trim().min(1).max(500);

/** Operators: complete an order in review with a PIN entered by hand (sealed at once, never logged or echoed). */
export const CompleteOrderRequest = z.strictObject({ pin: z.string().trim().min(1).max(256), reason });
export const FailOrderRequest = z.strictObject({ reasonCode: ReasonCode, reason });
/** Operators (status-poller): check an order's status now. */
export const CheckNowRequest = z.strictObject({ reason });

const cursor = z.string().optional().describe("the `nextCursor` of the previous page");
const limit = z.coerce.number().int().min(1).max(200).optional().describe("page size, 1-200 (default 50)");

export const OrderListQuery = z.strictObject({ status: OrderStatus.optional(), tenant: TenantId.optional().describe("operators of every tenant: one tenant's orders"), limit, cursor });
export const ReviewQuery = z.strictObject({ reason: ReviewReason.optional(), tenant: TenantId.optional(), limit, cursor });
export const DeadLetterQuery = z.strictObject({ limit, before: z.string().regex(/^\d{1,18}$/).optional().describe("the `nextCursor` of the previous page") });

export const OrderList = z.object({ orders: z.array(OrderView), nextCursor: z.string().nullable() });
export const OrderTimeline = z.object({
  orderId: z.string(),
  events: z.array(z.object({ seq: z.number().int(), eventId: z.string(), type: z.string(), occurredAt: z.string(), data: z.record(z.string(), z.unknown()) })),
});
export const PackageList = z.object({ packages: z.array(z.object({ id: z.string(), name: z.string() })) });
export const ReviewEntry = z.object({
  orderId: z.string(),
  tenantId: z.string(),
  packageId: z.string(),
  provider: z.string().nullable(),
  reviewReason: z.string().nullable(),
  providerNote: z.string().nullable(),
  createdAt: z.string(),
  inReviewSince: z.string(),
  ageSeconds: z.number().int(),
});
export const ReviewList = z.object({ orders: z.array(ReviewEntry), nextCursor: z.string().nullable() });
export const OperatorActionResponse = z.object({ orderId: z.string(), status: z.string() });

export const DeadLetterPage = z.object({
  deadLetters: z.array(
    z.object({
      id: z.string(),
      consumer: z.string(),
      kind: z.string(),
      seq: z.number().int(),
      subject: z.string(),
      eventId: z.string().nullable(),
      eventType: z.string().nullable(),
      orderId: z.string().nullable(),
      error: z.string(),
      attempts: z.number().int(),
      raw: z.string(),
      rawBytes: z.number().int(),
      rawTruncated: z.boolean(),
      createdAt: z.string(),
    }),
  ),
  nextCursor: z.string().nullable(),
});

const gate = { provider: z.string(), paused: z.boolean(), circuitOpenForMs: z.number(), failuresInRow: z.number().int(), slotsInUse: z.number().int() };
export const DispatcherProviderStatus = z.object({
  ...gate,
  shutOut: z.object({ since: z.string(), lastDeniedAt: z.string(), deniedReplies: z.number().int(), cause: z.string(), message: z.string() }).nullable(),
});
export const DispatcherProviderList = z.object({ providers: z.array(DispatcherProviderStatus) });
export const ProviderBalance = z.object({ provider: ProviderName, balance: z.string() });
export const ProviderPaused = z.object({ provider: z.string(), paused: z.boolean() });
export const PollerProviderStatus = z.object({ ...gate, heldHere: z.object({ reason: z.string(), forMs: z.number() }).nullable() });
export const RedispatchVerdictResponse = z.object({ orderId: z.string(), kind: z.enum(["allowed", "refused"]), reason: z.string().optional() });
export const CheckNowResponse = z.object({ orderId: z.string(), state: z.string(), attempt: z.number().int(), nextCheckAt: z.string() });

export const Liveness = z.object({ status: z.literal("ok") });
export const Readiness = z.object({ status: z.enum(["ok", "unavailable"]), checks: z.record(z.string(), z.enum(["ok", "failing"])) });
