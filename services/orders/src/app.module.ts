import { Module, type DynamicModule } from "@nestjs/common";
import { APP_FILTER, APP_GUARD } from "@nestjs/core";
import { RolesGuard } from "@pinflow/auth";
import { DEAD_LETTERS, DeadLettersController, HealthController, METRICS_REGISTRY, READINESS_CHECKS, type ReadinessChecks } from "@pinflow/service-kit";
import type { PinCipher } from "@pinflow/secrets";
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import { ApiErrorFilter } from "./api-error.js";
import { apiDocuments } from "./api-documents.js";
import { API_DOCUMENTS, DocsController } from "./docs.controller.js";
import type { PackageCatalog } from "./catalog.js";
import { OrderIntake } from "./order-intake.js";
import { OperatorActions } from "./operator-actions.js";
import type { OrderStore } from "./order-store.js";
import { CATALOG, ORDER_STORE, OrdersController, PIN_CIPHER } from "./orders.controller.js";
import type { PgWebhookStore } from "./webhooks/pg-webhook-store.js";
import { WEBHOOK_SETTINGS, WEBHOOK_STORE, WebhookDeliveriesController, WebhooksController, type WebhookSettings } from "./webhooks/webhooks.controller.js";

export interface OrdersDeps {
  intake: OrderIntake;
  actions: OperatorActions;
  store: OrderStore;
  pins: PinCipher;
  catalog: PackageCatalog;
  registry: Registry;
  readiness: ReadinessChecks;
  logger: Logger;
  webhooks: { store: PgWebhookStore; settings: WebhookSettings };
}

@Module({})
export class AppModule {
  static register(deps: OrdersDeps): DynamicModule {
    return {
      module: AppModule,
      controllers: [OrdersController, WebhooksController, WebhookDeliveriesController, DocsController, DeadLettersController, HealthController],
      providers: [
        { provide: DEAD_LETTERS, useValue: { list: (query: { limit: number; before?: number }) => deps.store.deadLetters(query) } },
        { provide: OrderIntake, useValue: deps.intake },
        { provide: OperatorActions, useValue: deps.actions },
        { provide: APP_GUARD, useClass: RolesGuard },
        { provide: ORDER_STORE, useValue: deps.store },
        { provide: PIN_CIPHER, useValue: deps.pins },
        { provide: CATALOG, useValue: deps.catalog },
        { provide: WEBHOOK_STORE, useValue: deps.webhooks.store },
        { provide: WEBHOOK_SETTINGS, useValue: deps.webhooks.settings },
        { provide: API_DOCUMENTS, useValue: apiDocuments() },
        { provide: METRICS_REGISTRY, useValue: deps.registry },
        { provide: READINESS_CHECKS, useValue: deps.readiness },
        { provide: APP_FILTER, useValue: new ApiErrorFilter(deps.logger) },
      ],
    };
  }
}
