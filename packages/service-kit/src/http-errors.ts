import { ArgumentsHost, Catch, HttpException, type ExceptionFilter } from "@nestjs/common";
import type { ErrorBody, ErrorCode } from "@pinflow/contracts";
import type { Response } from "express";
import type { Logger } from "pino";

export interface ErrorReply {
  status: number;
  body: unknown;
}

const MAX_MESSAGE = 200;

function codeForStatus(status: number): ErrorCode {
  switch (status) {
    case 404:
      return "not_found";
    case 405:
      return "method_not_allowed";
    case 413:
      return "payload_too_large";
    case 415:
      return "unsupported_media_type";
    case 502:
    case 503:
    case 504:
      return "unavailable";
    default:
      return status < 500 ? "validation_failed" : "internal";
  }
}

function messageOf(status: number, message: string): string {
  // Express's router refuses a path parameter with broken percent-encoding (e.g. `%FF`).
  if (status === 400 && message.startsWith("Failed to decode param")) return "the URL path is not valid (bad percent-encoding)";
  if (status >= 500) return "internal error";
  return message.length > MAX_MESSAGE ? `${message.slice(0, MAX_MESSAGE)}…` : message;
}

export function errorBody(code: ErrorCode, message: string): ErrorBody {
  return { error: { code, message } };
}

/**
 * The answer to an error that reached Nest: a body a controller already shaped (its own
 * `HttpException(body)`) passes through; Nest's own errors (unknown route, undecodable path, …)
 * get the API's `{ error: { code, message } }`; anything else is a 500 that tells nothing inside.
 */
export function errorReply(exception: unknown): ErrorReply {
  if (exception instanceof HttpException) {
    const status = exception.getStatus();
    const response = exception.getResponse();
    if (typeof response === "object" && response !== null && !("statusCode" in response)) return { status, body: response };
    return { status, body: errorBody(codeForStatus(status), messageOf(status, exception.message)) };
  }
  return { status: 500, body: errorBody("internal", "internal error") };
}

/** Every error in the API's shape; 5xx are logged with their cause (never returned). */
@Catch()
export class HttpErrorFilter implements ExceptionFilter {
  constructor(private readonly logger: Logger) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const res = host.switchToHttp().getResponse<Response>();
    const { status, body } = errorReply(exception);
    if (status >= 500) this.logger.error({ err: exception }, "request failed");
    if (res.headersSent) return;
    res.status(status).json(body);
  }
}
