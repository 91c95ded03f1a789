import express, { type ErrorRequestHandler, type RequestHandler } from "express";
import type { ErrorBody } from "@pinflow/contracts";

/** JSON bodies up to `limit`; a body that is not JSON or too large gets the API's error shape, not Nest's. */
export function jsonBody(limit: string): [RequestHandler, ErrorRequestHandler] {
  const onError: ErrorRequestHandler = (err: { type?: string }, _req, res, next) => {
    const reply = (status: number, body: ErrorBody) => res.status(status).json(body);
    if (err?.type === "entity.parse.failed") return reply(400, { error: { code: "invalid_json", message: "the request body is not valid JSON" } });
    if (err?.type === "entity.too.large") return reply(413, { error: { code: "payload_too_large", message: `the request body is larger than ${limit}` } });
    if (err?.type?.startsWith("encoding.") || err?.type === "charset.unsupported") {
      return reply(415, { error: { code: "validation_failed", message: "unsupported body encoding" } });
    }
    next(err);
  };
  return [express.json({ limit }), onError];
}
