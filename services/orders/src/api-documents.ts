import { buildOpenApi } from "@pinflow/api-docs";
import { buildAsyncApi } from "@pinflow/contracts";
import type { ApiDocuments } from "./docs.controller.js";

/** The documents scripts/openapi.mjs and scripts/asyncapi.mjs write to docs/, made from the same code. */
export function apiDocuments(): ApiDocuments {
  return {
    openapi: { orders: buildOpenApi("orders"), dispatcher: buildOpenApi("dispatcher"), "status-poller": buildOpenApi("status-poller") },
    asyncapi: buildAsyncApi() as unknown as Record<string, unknown>,
  };
}
