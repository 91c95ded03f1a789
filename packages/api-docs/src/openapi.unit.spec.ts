import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { API_ROUTES, API_SERVICES } from "@pinflow/contracts";
import SwaggerParser from "@apidevtools/swagger-parser";
import { buildOpenApi, openApiPath } from "./openapi.js";

type Operation = { security?: unknown[]; requestBody?: unknown; responses: Record<string, { content?: Record<string, { schema: unknown }> }>; parameters?: { name: string; in: string }[] };

describe("OpenAPI documents generated from the route table", () => {
  test("every route of the table is in its service's document, with its success status, body and path parameters", () => {
    for (const service of API_SERVICES) {
      const doc = buildOpenApi(service) as { openapi: string; paths: Record<string, Record<string, Operation>> };
      assert.equal(doc.openapi, "3.1.0");
      const routes = API_ROUTES.filter((r) => r.service === service);
      let operations = 0;
      for (const path of Object.values(doc.paths)) operations += Object.keys(path).length;
      assert.equal(operations, routes.length, `${service}: one operation per route`);
      for (const route of routes) {
        const { path, params } = openApiPath(route.path);
        const op = doc.paths[path]?.[route.method];
        assert.ok(op, `${service} ${route.method} ${path}`);
        assert.ok(op.responses[String(route.status)], `${route.method} ${path} answers ${route.status}`);
        assert.equal(Boolean(op.requestBody), Boolean(route.body), `${route.method} ${path} request body`);
        assert.deepEqual((op.parameters ?? []).filter((p) => p.in === "path").map((p) => p.name), params);
        if (route.access === "public") assert.deepEqual(op.security, [], `${path} is public`);
        else assert.ok(op.responses["401"], `${path} documents 401`);
      }
    }
  });

  test("each document is valid OpenAPI 3.1 (checked by an independent validator)", async () => {
    for (const service of API_SERVICES) {
      // validate() dereferences in place: give it a copy.
      await assert.doesNotReject(SwaggerParser.validate(structuredClone(buildOpenApi(service)) as never), service);
    }
  });

  test("schemas come from zod: the order, the error body, the create request (with its limits) and the webhook payload", () => {
    const doc = buildOpenApi("orders") as { components: { schemas: Record<string, { properties?: Record<string, { maxLength?: number; enum?: string[] }>; required?: string[] }> }; webhooks: Record<string, unknown> };
    const schemas = doc.components.schemas;
    for (const name of ["OrderView", "ErrorBody", "CreateOrderRequest", "WebhookPayload"]) assert.ok(schemas[name], name);
    assert.equal(schemas.CreateOrderRequest!.properties!.playerId!.maxLength, 128);
    assert.deepEqual(schemas.OrderView!.properties!.status!.enum, ["pending", "processing", "completed", "failed", "review"]);
    assert.equal("pin" in schemas.WebhookPayload!.properties!, false, "no PIN in a webhook body");
    assert.ok(doc.webhooks["order.status_changed"]);
  });
});
