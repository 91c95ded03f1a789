import { RequestMethod } from "@nestjs/common";
import { METHOD_METADATA, PATH_METADATA } from "@nestjs/common/constants.js";
import { declaredAccess, PUBLIC_PATHS } from "@pinflow/auth";
import { API_ROUTES, type ApiService } from "@pinflow/contracts";

/** A route as a Nest controller declares it. */
export interface ControllerRoute {
  method: string;
  path: string;
  roles: string[];
  allTenants: boolean;
}

const METHODS: Partial<Record<RequestMethod, string>> = { [RequestMethod.GET]: "get", [RequestMethod.POST]: "post", [RequestMethod.DELETE]: "delete", [RequestMethod.PUT]: "put", [RequestMethod.PATCH]: "patch" };

const join = (...parts: string[]) => `/${parts.flatMap((p) => p.split("/")).filter(Boolean).join("/")}`;

/** Every route of the controllers, read from Nest's own decorator metadata. */
export function controllerRoutes(controllers: readonly (new (...args: never[]) => unknown)[]): ControllerRoute[] {
  const out: ControllerRoute[] = [];
  for (const controller of controllers) {
    const base = (Reflect.getMetadata(PATH_METADATA, controller) as string | undefined) ?? "";
    const proto = controller.prototype as Record<string, unknown>;
    for (const name of Object.getOwnPropertyNames(proto)) {
      const handler = proto[name];
      if (name === "constructor" || typeof handler !== "function") continue;
      const path = Reflect.getMetadata(PATH_METADATA, handler) as string | undefined;
      const method = Reflect.getMetadata(METHOD_METADATA, handler) as RequestMethod | undefined;
      if (path === undefined || method === undefined) continue;
      const access = declaredAccess(controller, handler);
      out.push({ method: METHODS[method] ?? String(method), path: join(base, path), roles: [...access.roles].sort(), allTenants: access.allTenants });
    }
  }
  return out;
}

/**
 * Where a service's controllers and the route table (packages/contracts api-routes.ts) disagree: a
 * route missing from either, different roles or tenant scope, or a public route not in PUBLIC_PATHS.
 * Empty when they agree.
 */
export function routeTableProblems(service: ApiService, controllers: readonly (new (...args: never[]) => unknown)[]): string[] {
  const problems: string[] = [];
  const key = (r: { method: string; path: string }) => `${r.method.toUpperCase()} ${r.path}`;
  const table = new Map(API_ROUTES.filter((r) => r.service === service).map((r) => [key(r), r]));
  const served = new Map(controllerRoutes(controllers).map((r) => [key(r), r]));
  for (const [k, route] of served) {
    const entry = table.get(k);
    if (!entry) {
      problems.push(`${service}: ${k} is served but not in the route table`);
      continue;
    }
    const roles = entry.access === "public" ? [] : [...entry.access].sort();
    if (roles.join(",") !== route.roles.join(",")) problems.push(`${service}: ${k} allows [${route.roles.join(", ")}], the table says [${roles.join(", ")}]`);
    if ((entry.allTenants ?? false) !== route.allTenants) problems.push(`${service}: ${k} all-tenants ${route.allTenants}, the table says ${entry.allTenants ?? false}`);
    if (entry.access === "public" && !PUBLIC_PATHS.has(entry.path)) problems.push(`${service}: ${k} is public in the table but needs a key (PUBLIC_PATHS)`);
    if (entry.access !== "public" && PUBLIC_PATHS.has(entry.path)) problems.push(`${service}: ${k} needs a key in the table but is in PUBLIC_PATHS`);
  }
  for (const k of table.keys()) if (!served.has(k)) problems.push(`${service}: ${k} is in the route table but no controller serves it`);
  return problems;
}
