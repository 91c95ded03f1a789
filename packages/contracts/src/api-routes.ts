import type { z } from "zod";
import {
  CheckNowRequest,
  CheckNowResponse,
  CompleteOrderRequest,
  DeadLetterPage,
  DeadLetterQuery,
  DispatcherProviderList,
  DispatcherProviderStatus,
  FailOrderRequest,
  Liveness,
  OperatorActionResponse,
  OrderList,
  OrderListQuery,
  OrderTimeline,
  PackageList,
  PollerProviderStatus,
  ProviderBalance,
  ProviderPaused,
  Readiness,
  RedispatchVerdictResponse,
  ReviewList,
  ReviewQuery,
} from "./api-responses.js";
import { TenantId } from "./events.js";
import { CreateOrderRequest, CreateOrderResponse, OrderView, RedispatchRequestBody, RedispatchResponse } from "./http.js";
import { RegisterWebhookRequest, WebhookDeliveriesQuery, WebhookDeliveryList, WebhookList, WebhookRegistered, WebhookRetryResponse } from "./webhooks.js";

export const API_SERVICES = ["orders", "dispatcher", "status-poller"] as const;
export type ApiService = (typeof API_SERVICES)[number];
export type ApiRole = "customer" | "operator" | "admin";

/**
 * One HTTP route of a service: the single source of the OpenAPI documents (scripts/openapi.mjs) and
 * checked against the controllers' own route metadata by each service's routes test, so neither
 * can drift. `path` is written as the controllers write it (`:id`).
 */
export interface ApiRoute {
  service: ApiService;
  method: "get" | "post" | "delete";
  path: string;
  summary: string;
  /** Who may call it; "public": no key (PUBLIC_PATHS). */
  access: "public" | readonly ApiRole[];
  /** Only keys of every tenant (an operator of one tenant gets 403). */
  allTenants?: boolean;
  query?: z.ZodObject;
  body?: z.ZodType;
  /** The success status and its body (null: no body; "text": text/plain; "json": a JSON document not described here). */
  status: number;
  response: z.ZodType | null | "text" | "json";
  /** Error statuses besides 401/403 that the route answers. */
  errors?: readonly number[];
}

const operatorOfAll = { access: ["operator"], allTenants: true } as const;

/** Liveness, readiness and metrics: every service has them. */
const probes = (service: ApiService): ApiRoute[] => [
  { service, method: "get", path: "/healthz", summary: "Liveness: the process answers", access: "public", status: 200, response: Liveness },
  { service, method: "get", path: "/readyz", summary: "Readiness: every dependency answers (503 with the failing checks otherwise)", access: "public", status: 200, response: Readiness, errors: [503] },
  { service, method: "get", path: "/metrics", summary: "Prometheus metrics", access: "public", status: 200, response: "text" },
  { service, method: "get", path: "/v1/dead-letters", summary: "What this service's consumers gave up on, newest first", ...operatorOfAll, query: DeadLetterQuery, status: 200, response: DeadLetterPage, errors: [400] },
];

export const API_ROUTES: readonly ApiRoute[] = [
  // --- orders ---
  { service: "orders", method: "post", path: "/v1/orders", summary: "Create an order (Idempotency-Key header: same key and body give the same order)", access: ["customer"], body: CreateOrderRequest, status: 201, response: CreateOrderResponse, errors: [400, 409, 413, 415, 422] },
  { service: "orders", method: "get", path: "/v1/orders", summary: "The caller's orders, newest first, never with PINs", access: ["customer", "operator"], query: OrderListQuery, status: 200, response: OrderList, errors: [400] },
  { service: "orders", method: "get", path: "/v1/orders/:id", summary: "One order; the PIN only for its owner's customer key", access: ["customer", "operator"], status: 200, response: OrderView, errors: [404] },
  { service: "orders", method: "get", path: "/v1/orders/:id/events", summary: "The order's event timeline", access: ["customer", "operator"], status: 200, response: OrderTimeline, errors: [404] },
  { service: "orders", method: "get", path: "/v1/packages", summary: "The packages that can be ordered", access: ["customer", "operator"], status: 200, response: PackageList },
  { service: "orders", method: "get", path: "/v1/review", summary: "Operators: orders in review with reason and age", access: ["operator"], query: ReviewQuery, status: 200, response: ReviewList, errors: [400] },
  { service: "orders", method: "post", path: "/v1/orders/:id/complete", summary: "Operators: complete an order in review with a PIN entered by hand", access: ["operator"], body: CompleteOrderRequest, status: 202, response: OperatorActionResponse, errors: [400, 404, 409] },
  { service: "orders", method: "post", path: "/v1/orders/:id/fail", summary: "Operators: fail an order in review with a reason code", access: ["operator"], body: FailOrderRequest, status: 202, response: OperatorActionResponse, errors: [400, 404, 409] },
  { service: "orders", method: "post", path: "/v1/webhooks", summary: "Register a webhook URL for the tenant's order changes; the answer carries the signing secret once", access: ["customer", "admin"], body: RegisterWebhookRequest, status: 201, response: WebhookRegistered, errors: [400, 404, 409, 422] },
  { service: "orders", method: "get", path: "/v1/webhooks", summary: "The tenant's webhooks (operators and admins of every tenant: all, or ?tenant=)", access: ["customer", "operator", "admin"], status: 200, response: WebhookList, errors: [400] },
  { service: "orders", method: "delete", path: "/v1/webhooks/:id", summary: "Remove a webhook: no new deliveries, waiting ones cancelled", access: ["customer", "admin"], status: 204, response: null, errors: [404] },
  { service: "orders", method: "get", path: "/v1/webhooks/:id/deliveries", summary: "A webhook's deliveries, newest first, each with its tries", access: ["customer", "operator", "admin"], query: WebhookDeliveriesQuery, status: 200, response: WebhookDeliveryList, errors: [400, 404] },
  { service: "orders", method: "get", path: "/v1/webhook-deliveries", summary: "Deliveries across the tenant's webhooks (keys of every tenant: all, or ?tenant=), e.g. ?state=failed", access: ["customer", "operator", "admin"], query: WebhookDeliveriesQuery.extend({ tenant: TenantId.optional() }), status: 200, response: WebhookDeliveryList, errors: [400] },
  { service: "orders", method: "post", path: "/v1/webhooks/:id/deliveries/:deliveryId/retry", summary: "Send a delivery that was given up on again", access: ["customer", "operator", "admin"], status: 202, response: WebhookRetryResponse, errors: [404] },
  { service: "orders", method: "get", path: "/docs/openapi.json", summary: "This document: OpenAPI 3.1 of the orders API, generated from the zod schemas", access: "public", status: 200, response: "json" },
  { service: "orders", method: "get", path: "/docs/openapi.dispatcher.json", summary: "OpenAPI 3.1 of the dispatcher's operator API", access: "public", status: 200, response: "json" },
  { service: "orders", method: "get", path: "/docs/openapi.status-poller.json", summary: "OpenAPI 3.1 of the status-poller's operator API", access: "public", status: 200, response: "json" },
  { service: "orders", method: "get", path: "/docs/asyncapi.json", summary: "AsyncAPI 3.0 of the order events on NATS JetStream", access: "public", status: 200, response: "json" },
  ...probes("orders"),
  // --- dispatcher ---
  { service: "dispatcher", method: "get", path: "/v1/providers", summary: "Every configured provider: limits' state and whether it shuts us out", ...operatorOfAll, status: 200, response: DispatcherProviderList },
  { service: "dispatcher", method: "get", path: "/v1/providers/:provider/balance", summary: "The reseller balance at the provider", ...operatorOfAll, status: 200, response: ProviderBalance, errors: [404, 502, 503] },
  { service: "dispatcher", method: "get", path: "/v1/providers/:provider/status", summary: "The provider's gate state", ...operatorOfAll, status: 200, response: DispatcherProviderStatus, errors: [404] },
  { service: "dispatcher", method: "post", path: "/v1/providers/:provider/pause", summary: "Stop new calls to the provider on every replica (its orders wait)", ...operatorOfAll, status: 200, response: ProviderPaused, errors: [404] },
  { service: "dispatcher", method: "post", path: "/v1/providers/:provider/resume", summary: "Resume calls to the provider", ...operatorOfAll, status: 200, response: ProviderPaused, errors: [404] },
  { service: "dispatcher", method: "get", path: "/v1/orders/:orderId/dispatch-again", summary: "Operators: whether the order in review may be dispatched again, and why not", access: ["operator"], status: 200, response: RedispatchVerdictResponse, errors: [404] },
  { service: "dispatcher", method: "post", path: "/v1/orders/:orderId/dispatch-again", summary: "Operators: dispatch an order in review again (only when no placement can exist)", access: ["operator"], body: RedispatchRequestBody, status: 202, response: RedispatchResponse, errors: [400, 404, 409] },
  ...probes("dispatcher"),
  // --- status-poller ---
  { service: "status-poller", method: "get", path: "/v1/providers/:provider", summary: "The provider's checks: gate state and this replica's hold", ...operatorOfAll, status: 200, response: PollerProviderStatus, errors: [404] },
  { service: "status-poller", method: "post", path: "/v1/providers/:provider/pause", summary: "Stop the provider's checks on every replica", ...operatorOfAll, status: 200, response: ProviderPaused, errors: [404] },
  { service: "status-poller", method: "post", path: "/v1/providers/:provider/resume", summary: "Resume the provider's checks", ...operatorOfAll, status: 200, response: ProviderPaused, errors: [404] },
  { service: "status-poller", method: "post", path: "/v1/watches/:orderId/check-now", summary: "Operators: check the order's status now", access: ["operator"], body: CheckNowRequest, status: 202, response: CheckNowResponse, errors: [400, 404, 409] },
  ...probes("status-poller"),
];

/** The paths that need no key (the auth middleware's PUBLIC_PATHS must hold each one without a parameter). */
export const PUBLIC_API_PATHS: readonly string[] = [...new Set(API_ROUTES.filter((r) => r.access === "public" && !r.path.includes(":")).map((r) => r.path))];
