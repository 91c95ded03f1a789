import { admitAs } from "@pinflow/auth";
import type { ErrorBody } from "@pinflow/contracts";
import type { NextFunction, Request, RequestHandler, Response } from "express";
import type { Logger } from "pino";
import type { TokenCheck } from "./stream-token.js";

/** The HTML pages and their files: no data in them, so no key (their scripts fetch data with a key or a stream token). */
const PAGE_PATH = /^\/(?:orders\/[^/]+|console|assets\/[A-Za-z0-9._-]+)\/?$/;
const STREAM_PATH = /^\/v1\/orders\/([^/]+)\/stream$/;

/**
 * The orders service's door, in front of the API-key check: GET of a page passes without a key; GET of
 * an order's stream with `?token=` and no Authorization header passes as the token's customer when the
 * token is valid and names this order (401 otherwise, like a bad key); everything else goes to `keyCheck`.
 * Tokens are never logged.
 */
export function ordersDoor(keyCheck: RequestHandler, verify: (token: string) => TokenCheck, logger: Logger): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    if ((req.method === "GET" || req.method === "HEAD") && PAGE_PATH.test(req.path)) return next();
    const stream = req.method === "GET" ? STREAM_PATH.exec(req.path) : null;
    const token = stream && req.headers.authorization === undefined ? new URL(req.originalUrl, "http://door").searchParams.get("token") : null;
    if (!stream || token === null) return keyCheck(req, res, next);
    const check = verify(token);
    const orderId = safeDecode(stream[1]!);
    if (!check.ok || check.grant.orderId !== orderId) {
      const reason = check.ok ? "other_order" : check.reason;
      logger.warn({ reason, client: req.socket.remoteAddress, path: req.path }, "stream token refused");
      const body: ErrorBody = { error: { code: "unauthenticated", message: "the stream token is not valid for this order, or has expired" } };
      res.status(401).json(body);
      return;
    }
    admitAs(req, { keyId: check.grant.keyId, role: "customer", tenantId: check.grant.tenantId });
    next();
  };
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
