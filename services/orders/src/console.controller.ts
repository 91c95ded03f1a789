import { Body, Controller, Get, Headers, HttpCode, Inject, Param, Post, Res } from "@nestjs/common";
import { AllTenants, Caller, canSeeTenant, Roles, type Principal } from "@pinflow/auth";
import { ORDER_ID_PATTERN } from "@pinflow/contracts";
import { METRICS_REGISTRY } from "@pinflow/service-kit";
import type { Response } from "express";
import type { Registry } from "prom-client";
import { ApiError } from "./api-error.js";
import type { OrderStore } from "./order-store.js";
import { ORDER_STORE } from "./orders.controller.js";
import { histogramMean, largest, parsePrometheusText, total, type Sample } from "./prometheus-text.js";

export const SERVICE_URLS = Symbol("SERVICE_URLS");

/** Where the console's calls to the other services go (DISPATCHER_URL, STATUS_POLLER_URL). */
export interface ServiceUrls {
  dispatcher?: string;
  statusPoller?: string;
}

/** The monitoring figures at a glance; null where a service did not answer (named in `unavailable`). */
export interface ConsoleFigures {
  backlog: number | null;
  oldestOverdueSeconds: number | null;
  checksPerCompletedOrder: number | null;
  detectionDelaySeconds: number | null;
  /** Dead letters recorded since the services' processes started (their counters; every service's list is GET /v1/dead-letters). */
  deadLetters: number | null;
  inReview: number | null;
  unavailable: string[];
  at: string;
}

interface Reply {
  status: number;
  body: unknown;
}

const TIMEOUT_MS = 5_000;

/**
 * What the operator console needs from the dispatcher and the status-poller, through the orders
 * service (one origin for the browser): provider state and balances, "check again now" and
 * "dispatch again", and the monitoring figures from every service's /metrics. Calls carry the
 * operator's own key, so each service applies its own access rules; their errors come back as they were.
 */
@Roles("operator")
@Controller("v1/console")
export class ConsoleController {
  constructor(
    @Inject(SERVICE_URLS) private readonly urls: ServiceUrls,
    @Inject(METRICS_REGISTRY) private readonly registry: Registry,
    @Inject(ORDER_STORE) private readonly store: OrderStore,
  ) {}

  /** Each provider: the dispatcher's gate (paused, circuit, shut out), its balance, and the poller's view. */
  @Get("providers")
  @AllTenants()
  async providers(@Headers("authorization") auth: string): Promise<{ providers: unknown[] }> {
    const dispatcher = this.need(this.urls.dispatcher, "DISPATCHER_URL");
    const list = await call(dispatcher, "/v1/providers", auth);
    if (list.status !== 200) throw passOn(list);
    const providers = (list.body as { providers: { provider: string }[] }).providers;
    return {
      providers: await Promise.all(
        providers.map(async (p) => {
          const [balance, poller] = await Promise.all([
            call(dispatcher, `/v1/providers/${encodeURIComponent(p.provider)}/balance`, auth),
            this.urls.statusPoller ? call(this.urls.statusPoller, `/v1/providers/${encodeURIComponent(p.provider)}`, auth) : Promise.resolve(null),
          ]);
          return {
            ...p,
            balance: balance.status === 200 ? (balance.body as { balance: string }).balance : null,
            balanceError: balance.status === 200 ? null : errorCode(balance),
            poller: poller?.status === 200 ? poller.body : null,
          };
        }),
      ),
    };
  }

  @Get("figures")
  @AllTenants()
  async figures(): Promise<ConsoleFigures> {
    const unavailable: string[] = [];
    const scrape = async (name: string, base: string | undefined): Promise<Sample[]> => {
      if (!base) {
        unavailable.push(name);
        return [];
      }
      try {
        const res = await fetch(`${base}/metrics`, { signal: AbortSignal.timeout(TIMEOUT_MS) });
        if (!res.ok) throw new Error(String(res.status));
        return parsePrometheusText(await res.text());
      } catch {
        unavailable.push(name);
        return [];
      }
    };
    const [own, poller, dispatcher] = await Promise.all([
      this.registry.metrics().then(parsePrometheusText),
      scrape("status-poller", this.urls.statusPoller),
      scrape("dispatcher", this.urls.dispatcher),
    ]);
    const deadLetterSources = [own, poller, dispatcher].map((s) => total(s, "pinflow_dead_letters_total") ?? 0);
    return {
      backlog: total(poller, "pinflow_watch_backlog"),
      oldestOverdueSeconds: largest(poller, "pinflow_oldest_overdue_check_seconds"),
      checksPerCompletedOrder: histogramMean(poller, "pinflow_polls_per_completed_order"),
      detectionDelaySeconds: histogramMean(poller, "pinflow_detection_delay_seconds"),
      deadLetters: deadLetterSources.reduce((a, b) => a + b, 0),
      inReview: total(own, "pinflow_orders", { status: "review" }) ?? 0,
      unavailable,
      at: new Date().toISOString(),
    };
  }

  /** "Check again now" (status-poller `POST /v1/watches/:id/check-now`, `{reason}`). */
  @Post("orders/:id/check-now")
  @HttpCode(202)
  async checkNow(@Caller() caller: Principal, @Param("id") id: string, @Body() body: unknown, @Headers("authorization") auth: string, @Res() res: Response): Promise<void> {
    await this.visible(caller, id);
    const poller = this.need(this.urls.statusPoller, "STATUS_POLLER_URL");
    relay(res, await call(poller, `/v1/watches/${encodeURIComponent(id)}/check-now`, auth, { method: "POST", body }));
  }

  /** Whether "dispatch again" is allowed (dispatcher `GET /v1/orders/:id/dispatch-again`). */
  @Get("orders/:id/dispatch-again")
  async canDispatchAgain(@Caller() caller: Principal, @Param("id") id: string, @Headers("authorization") auth: string, @Res() res: Response): Promise<void> {
    await this.visible(caller, id);
    relay(res, await call(this.need(this.urls.dispatcher, "DISPATCHER_URL"), `/v1/orders/${encodeURIComponent(id)}/dispatch-again`, auth));
  }

  /** "Dispatch again" (dispatcher `POST /v1/orders/:id/dispatch-again`, `{reason}`). */
  @Post("orders/:id/dispatch-again")
  async dispatchAgain(@Caller() caller: Principal, @Param("id") id: string, @Body() body: unknown, @Headers("authorization") auth: string, @Res() res: Response): Promise<void> {
    await this.visible(caller, id);
    relay(res, await call(this.need(this.urls.dispatcher, "DISPATCHER_URL"), `/v1/orders/${encodeURIComponent(id)}/dispatch-again`, auth, { method: "POST", body }));
  }

  /** The operator's order (another tenant's: 404 like a missing one). */
  private async visible(caller: Principal, id: string): Promise<void> {
    const order = ORDER_ID_PATTERN.test(id) ? await this.store.get(id) : null;
    if (!order || !canSeeTenant(caller, order.tenantId)) throw new ApiError(404, "not_found", "no such order");
  }

  private need(url: string | undefined, setting: string): string {
    if (!url) throw new ApiError(503, "unavailable", `the console's link to that service is not configured (${setting})`);
    return url;
  }
}

async function call(base: string, path: string, authorization: string, init: { method?: string; body?: unknown } = {}): Promise<Reply> {
  try {
    const res = await fetch(`${base}${path}`, {
      method: init.method ?? "GET",
      headers: { authorization, ...(init.body !== undefined ? { "content-type": "application/json" } : {}) },
      ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
    const text = await res.text();
    let body: unknown = null;
    try {
      body = text ? JSON.parse(text) : null;
    } catch {
      body = { error: { code: "unavailable", message: `unexpected answer (${res.status})` } };
    }
    return { status: res.status, body };
  } catch {
    return { status: 502, body: { error: { code: "unavailable", message: "the service did not answer" } } };
  }
}

function errorCode(reply: Reply): string {
  const code = (reply.body as { error?: { code?: string } } | null)?.error?.code;
  return typeof code === "string" ? code : `http_${reply.status}`;
}

function relay(res: Response, reply: Reply): void {
  res.status(reply.status).json(reply.body);
}

function passOn(reply: Reply): ApiError {
  const error = (reply.body as { error?: { code?: string; message?: string } } | null)?.error;
  return new ApiError(reply.status >= 400 && reply.status < 600 ? reply.status : 502, (error?.code as never) ?? "unavailable", error?.message ?? "the service did not answer");
}
