import type { RequestHandler } from "express";
import type { ErrorBody } from "@pinflow/contracts";

/** The part of Express's router a route lookup needs (router 2.x layers). */
export interface RouteLayer {
  route?: { methods: Record<string, boolean> };
  match(path: string): boolean;
}

/** The methods the app's routes serve at `path` (HEAD wherever GET is); empty when no route has that path. */
export function allowedMethods(layers: readonly RouteLayer[], path: string): Set<string> {
  const allowed = new Set<string>();
  for (const layer of layers) {
    if (!layer.route) continue;
    let matches = false;
    try {
      matches = layer.match(path);
    } catch {
      // An undecodable path: the router itself answers it (400).
    }
    if (!matches) continue;
    for (const method of Object.keys(layer.route.methods)) {
      if (method === "_all") continue;
      allowed.add(method.toUpperCase());
      if (method === "get") allowed.add("HEAD");
    }
  }
  return allowed;
}

/**
 * A request for a path the app serves, with a method it does not serve there, answers
 * `405 method_not_allowed` with an `Allow` header (instead of Express's 404). Install it before
 * the routes; `layers` is read per request, so routes registered later count.
 */
export function rejectWrongMethod(layers: () => readonly RouteLayer[]): RequestHandler {
  return (req, res, next) => {
    if (req.method === "OPTIONS") return next(); // the router answers OPTIONS with Allow itself
    const allowed = allowedMethods(layers(), req.path);
    if (allowed.size === 0 || allowed.has(req.method)) return next();
    const allow = [...allowed].sort().join(", ");
    const body: ErrorBody = { error: { code: "method_not_allowed", message: `${req.method.slice(0, 20)} is not allowed here; allowed: ${allow}` } };
    res.status(405).setHeader("Allow", allow).json(body);
  };
}
