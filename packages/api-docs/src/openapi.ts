import { OpenAPIRegistry, OpenApiGeneratorV31 } from "@asteasolutions/zod-to-openapi";
import {
  API_ROUTES,
  ErrorBody,
  WebhookPayload,
  type ApiRoute,
  type ApiService,
} from "@pinflow/contracts";
import { z } from "zod";

const TITLES: Record<ApiService, string> = {
  orders: "pinflow orders API",
  dispatcher: "pinflow dispatcher operator API",
  "status-poller": "pinflow status-poller operator API",
};

const DESCRIPTIONS: Record<ApiService, string> = {
  orders:
    "The public HTTP API of the orders service: orders, the review queue, webhooks. Every route except the public ones needs `Authorization: Bearer <API key>`; a tenant sees only its own orders (another tenant's id answers 404). Errors are `{ error: { code, message, issues? } }`. Generated from the zod schemas in packages/contracts (scripts/openapi.mjs).",
  dispatcher: "Operator endpoints of the dispatcher (internal port). Generated from the zod schemas in packages/contracts.",
  "status-poller": "Operator endpoints of the status-poller (internal port). Generated from the zod schemas in packages/contracts.",
};

/** `/v1/orders/:id` → `/v1/orders/{id}`, and the path parameters' names. */
export function openApiPath(path: string): { path: string; params: string[] } {
  const params: string[] = [];
  const converted = path.replace(/:([A-Za-z]+)/g, (_, name: string) => {
    params.push(name);
    return `{${name}}`;
  });
  return { path: converted, params };
}

const STATUS_TEXT: Record<number, string> = {
  200: "OK",
  201: "Created",
  202: "Accepted",
  204: "No content",
  400: "Invalid request (validation_failed, invalid_json)",
  401: "No valid API key (unauthenticated)",
  403: "The key's role or tenant may not call this (forbidden)",
  404: "Not found (also another tenant's resource)",
  409: "Conflict with the resource's state",
  413: "Body too large",
  415: "Not JSON",
  422: "Understood but refused",
  429: "Too many failed authentications",
  502: "The provider failed",
  503: "Unavailable",
};

/** Operations are grouped by their resource: `/v1/<resource>/…`, the documents, or the probes. */
function tagOf(path: string): string {
  const [, first, second] = path.split("/");
  if (first === "v1" && second) return second;
  return first === "docs" ? "docs" : "probes";
}

function roleText(route: ApiRoute): string {
  if (route.access === "public") return "Public: no key.";
  return `Roles: ${route.access.join(", ")}${route.allTenants ? " (keys of every tenant only)" : ""}.`;
}

function register(registry: OpenAPIRegistry, route: ApiRoute, errorRef: z.ZodType): void {
  const { path, params } = openApiPath(route.path);
  const ok =
    route.response === null
      ? { description: STATUS_TEXT[route.status] ?? "OK" }
      : route.response === "text"
        ? { description: STATUS_TEXT[route.status] ?? "OK", content: { "text/plain": { schema: z.string() } } }
        : route.response === "json"
          ? { description: STATUS_TEXT[route.status] ?? "OK", content: { "application/json": { schema: z.record(z.string(), z.unknown()) } } }
        : { description: STATUS_TEXT[route.status] ?? "OK", content: { "application/json": { schema: route.response } } };
  const errors = [...(route.access === "public" ? [] : [401, 403, 429]), ...(route.errors ?? [])];
  registry.registerPath({
    method: route.method,
    path,
    summary: route.summary,
    description: roleText(route),
    tags: [tagOf(route.path)],
    ...(route.access === "public" ? { security: [] } : {}),
    request: {
      ...(params.length ? { params: z.object(Object.fromEntries(params.map((p) => [p, z.string()]))) } : {}),
      ...(route.query ? { query: route.query } : {}),
      ...(route.body ? { body: { required: true, content: { "application/json": { schema: route.body } } } } : {}),
    },
    responses: {
      [route.status]: ok,
      ...Object.fromEntries([...new Set(errors)].sort().map((s) => [s, { description: STATUS_TEXT[s] ?? "Error", content: { "application/json": { schema: errorRef } } }])),
    },
  });
}

/** The OpenAPI 3.1 document of one service's HTTP API, from the route table and the zod schemas. */
export function buildOpenApi(service: ApiService): Record<string, unknown> {
  const registry = new OpenAPIRegistry();
  registry.registerComponent("securitySchemes", "apiKey", { type: "http", scheme: "bearer", description: "An API key: `Authorization: Bearer pf_…`" });
  // Schemas with a `.meta({ id })` in packages/contracts become components ($ref) by that name.
  const errorRef = ErrorBody;
  if (service === "orders") {
    const payload = WebhookPayload;
    registry.registerWebhook({
      method: "post",
      path: "order.status_changed",
      summary: "POSTed to a registered webhook URL on every status change of the tenant's orders",
      description:
        "Headers: `Pinflow-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of \"<t>.<raw body>\" with the webhook's secret>`, `Pinflow-Event-Id` (the body's id: de-duplicate by it), `Pinflow-Order-Version`, `Pinflow-Delivery-Attempt`. Answer 2xx to accept; anything else is retried with backoff. No PIN in the body: fetch the order with your key.",
      request: { body: { content: { "application/json": { schema: payload } } } },
      responses: { 200: { description: "Accepted (any 2xx)" } },
    });
  }
  for (const route of API_ROUTES.filter((r) => r.service === service)) register(registry, route, errorRef);
  const document = new OpenApiGeneratorV31(registry.definitions).generateDocument({
    openapi: "3.1.0",
    info: { title: TITLES[service], version: "1", description: DESCRIPTIONS[service] },
    security: [{ apiKey: [] }],
  });
  return document as unknown as Record<string, unknown>;
}
