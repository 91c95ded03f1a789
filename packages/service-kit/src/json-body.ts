import express, { type ErrorRequestHandler, type Request, type RequestHandler } from "express";
import type { ErrorBody, ErrorCode } from "@pinflow/contracts";

const BODY_METHODS = new Set(["POST", "PUT", "PATCH", "DELETE"]);

/** A request that carries body bytes (an empty body with any content type is no body). */
function carriesBody(req: Request): boolean {
  return req.headers["transfer-encoding"] !== undefined || Number(req.headers["content-length"] ?? 0) > 0;
}

/**
 * JSON bodies up to `limit`. A body that is not declared JSON, not JSON, too large, or in an
 * encoding or charset we do not read gets the API's error shape with a code, not Nest's 500 or
 * a silent empty body.
 */
export function jsonBody(limit: string): [RequestHandler, RequestHandler, ErrorRequestHandler] {
  const requireJson: RequestHandler = (req, res, next) => {
    if (!BODY_METHODS.has(req.method) || !carriesBody(req) || req.is("application/json")) return next();
    const type = req.headers["content-type"];
    const message = type
      ? `the request body must be JSON (Content-Type: application/json), not ${JSON.stringify(type.slice(0, 100))}`
      : "the request body must be JSON: send Content-Type: application/json";
    const body: ErrorBody = { error: { code: "unsupported_media_type", message } };
    res.status(415).json(body);
  };
  const onError: ErrorRequestHandler = (err: { type?: string; status?: number; charset?: string }, _req, res, next) => {
    const reply = (status: number, code: ErrorCode, message: string) => res.status(status).json({ error: { code, message } } satisfies ErrorBody);
    switch (err?.type) {
      case "entity.parse.failed":
        return reply(400, "invalid_json", "the request body is not valid JSON");
      case "entity.too.large":
        return reply(413, "payload_too_large", `the request body is larger than ${limit}`);
      case "charset.unsupported":
        return reply(415, "unsupported_media_type", `the charset ${JSON.stringify(String(err.charset ?? "").slice(0, 40))} is not supported: send application/json in UTF-8`);
      case "encoding.unsupported":
        return reply(415, "unsupported_media_type", "the Content-Encoding is not supported: send the body uncompressed");
      default:
        // Any other error body-parser raises is the client's (aborted, wrong length, …): never a 500.
        if (err?.type && typeof err.status === "number" && err.status >= 400 && err.status < 500) {
          return reply(400, "validation_failed", "the request body could not be read");
        }
        return next(err);
    }
  };
  return [requireJson, express.json({ limit }), onError];
}
