import { Controller, Get, Inject } from "@nestjs/common";

export const API_DOCUMENTS = Symbol("API_DOCUMENTS");

/** The generated API documents (packages/api-docs), built once at start. */
export interface ApiDocuments {
  openapi: Record<"orders" | "dispatcher" | "status-poller", Record<string, unknown>>;
  asyncapi: Record<string, unknown>;
}

/** The API documents, public (PUBLIC_PATHS): OpenAPI of the three services and AsyncAPI of the events. */
@Controller("docs")
export class DocsController {
  constructor(@Inject(API_DOCUMENTS) private readonly docs: ApiDocuments) {}

  @Get("openapi.json")
  orders(): Record<string, unknown> {
    return this.docs.openapi.orders;
  }

  @Get("openapi.dispatcher.json")
  dispatcher(): Record<string, unknown> {
    return this.docs.openapi.dispatcher;
  }

  @Get("openapi.status-poller.json")
  statusPoller(): Record<string, unknown> {
    return this.docs.openapi["status-poller"];
  }

  @Get("asyncapi.json")
  asyncapi(): Record<string, unknown> {
    return this.docs.asyncapi;
  }
}
