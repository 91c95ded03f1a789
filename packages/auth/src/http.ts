import { createParamDecorator, ForbiddenException, Injectable, SetMetadata, type CanActivate, type ExecutionContext } from "@nestjs/common";
import { Reflector } from "@nestjs/core";
import { PUBLIC_API_PATHS, type ErrorBody, type ErrorCode } from "@pinflow/contracts";
import type { NextFunction, Request, RequestHandler, Response } from "express";
import type { Logger } from "pino";
import { Counter, type Registry } from "prom-client";
import type { Role } from "./api-key.js";
import type { Authenticator } from "./authenticator.js";
import type { Principal } from "./principal.js";

/** Open without a key: liveness, readiness, Prometheus metrics and the API documents (see README "Access", "API docs"). */
export const PUBLIC_PATHS: ReadonlySet<string> = new Set(["/healthz", "/readyz", "/metrics", ...PUBLIC_API_PATHS]);

const PRINCIPAL = Symbol("principal");
const ROLES = "pinflow:roles";
const ALL_TENANTS = "pinflow:all-tenants";

function reply(res: Response, status: number, code: ErrorCode, message: string): void {
  const body: ErrorBody = { error: { code, message } };
  res.status(status).json(body);
}

export function authFailuresCounter(registry: Registry): Counter<"reason"> {
  return new Counter({
    name: "pinflow_auth_failures_total",
    help: "Refused authentications by reason (missing, malformed, unknown_key, wrong_secret, revoked, throttled)",
    labelNames: ["reason"],
    registers: [registry],
  });
}

/**
 * Express middleware in front of body parsing: every request except PUBLIC_PATHS needs a valid
 * key (`Authorization: Bearer pf_…`), else 401 `unauthenticated` (429 `too_many_requests` while
 * throttled). Failures are counted and logged with the key id and client, never the key.
 */
export function authenticate(deps: { authenticator: Authenticator; logger: Logger; failures: Counter<"reason"> }): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    if (PUBLIC_PATHS.has(req.path)) return next();
    const client = req.socket.remoteAddress ?? "unknown";
    deps.authenticator.authenticate(req.headers.authorization, client).then(
      (outcome) => {
        if (outcome.ok) {
          (req as unknown as Record<symbol, Principal>)[PRINCIPAL] = outcome.principal;
          return next();
        }
        deps.failures.inc({ reason: outcome.reason });
        deps.logger.warn({ reason: outcome.reason, keyId: outcome.keyId, client, method: req.method, path: req.path }, "authentication refused");
        if (outcome.reason === "throttled") {
          res.setHeader("Retry-After", String(Math.max(1, Math.ceil(outcome.retryAfterMs / 1000))));
          return reply(res, 429, "too_many_requests", "too many failed authentications; retry later");
        }
        res.setHeader("WWW-Authenticate", 'Bearer realm="pinflow"');
        reply(res, 401, "unauthenticated", "a valid API key is required (Authorization: Bearer <key>)");
      },
      (error: unknown) => {
        deps.logger.error({ err: error }, "could not read the API keys");
        reply(res, 503, "unavailable", "cannot check API keys right now");
      },
    );
  };
}

/** The roles that may call a controller or a handler (checked by RolesGuard; nothing listed: nobody). */
export const Roles = (...roles: Role[]) => SetMetadata(ROLES, roles);

/**
 * Controls that act on every tenant at once (providers, dead letters): only keys of every tenant
 * (`tenantId` null) may call them; an operator of one tenant gets 403.
 */
export const AllTenants = () => SetMetadata(ALL_TENANTS, true);

/** The roles and tenant scope a handler declares (its own @Roles/@AllTenants, else its controller's): for the route-table check. */
export function declaredAccess(controller: object, handler: object): { roles: Role[]; allTenants: boolean } {
  const read = <T>(key: string): T | undefined => (Reflect.getMetadata(key, handler) as T | undefined) ?? (Reflect.getMetadata(key, controller) as T | undefined);
  return { roles: read<Role[]>(ROLES) ?? [], allTenants: read<boolean>(ALL_TENANTS) ?? false };
}

export function principalOf(req: Request): Principal | undefined {
  return (req as unknown as Record<symbol, Principal | undefined>)[PRINCIPAL];
}

/** The authenticated caller of a handler. */
export const Caller = createParamDecorator((_: unknown, ctx: ExecutionContext): Principal => {
  const principal = principalOf(ctx.switchToHttp().getRequest<Request>());
  if (!principal) throw new Error("no principal: the authenticate middleware did not run");
  return principal;
});

function forbidden(message: string): ForbiddenException {
  const body: ErrorBody = { error: { code: "forbidden", message } };
  return new ForbiddenException(body);
}

/** Global guard: a handler answers only callers whose role its (or its controller's) @Roles lists. */
@Injectable()
export class RolesGuard implements CanActivate {
  constructor(private readonly reflector: Reflector) {}

  canActivate(ctx: ExecutionContext): boolean {
    const req = ctx.switchToHttp().getRequest<Request>();
    if (PUBLIC_PATHS.has(req.path)) return true;
    const principal = principalOf(req);
    if (!principal) throw forbidden("no authenticated caller");
    const roles = this.reflector.getAllAndOverride<Role[] | undefined>(ROLES, [ctx.getHandler(), ctx.getClass()]) ?? [];
    if (!roles.includes(principal.role)) throw forbidden(`a ${principal.role} key may not call this endpoint`);
    const allTenants = this.reflector.getAllAndOverride<boolean | undefined>(ALL_TENANTS, [ctx.getHandler(), ctx.getClass()]) ?? false;
    if (allTenants && principal.tenantId !== null) throw forbidden("this control acts on every tenant: it needs a key of all tenants");
    return true;
  }
}
