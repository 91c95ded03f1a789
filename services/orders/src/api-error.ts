import { ArgumentsHost, Catch, type ExceptionFilter } from "@nestjs/common";
import type { ErrorBody, ErrorCode } from "@pinflow/contracts";
import { errorReply } from "@pinflow/service-kit";
import type { Response } from "express";
import type { Logger } from "pino";
import type { ZodError } from "zod";

/** An expected API failure: answered as `{ error: { code, message } }` with its HTTP status. */
export class ApiError extends Error {
  override name = "ApiError";
  constructor(
    readonly status: number,
    readonly code: ErrorCode,
    message: string,
    readonly issues?: { path: string; message: string }[],
  ) {
    super(message);
  }

  /** A 400 listing what is wrong with the request `part` (its body, or its query string). */
  static fromZod(error: ZodError, part: "body" | "query" = "body"): ApiError {
    const issues = error.issues.map((i) => ({ path: i.path.join(".") || `(${part})`, message: i.message }));
    return new ApiError(400, "validation_failed", part === "body" ? "the request body is not valid" : "the query string is not valid", issues);
  }
}

/** Every error leaves the API in the same machine-readable shape; internals are logged, never returned. */
@Catch()
export class ApiErrorFilter implements ExceptionFilter {
  constructor(private readonly logger: Logger) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const res = host.switchToHttp().getResponse<Response>();
    const { status, body } = this.toBody(exception);
    if (status >= 500) this.logger.error({ err: exception }, "request failed");
    res.status(status).json(body);
  }

  private toBody(exception: unknown): { status: number; body: unknown } {
    if (exception instanceof ApiError) {
      return {
        status: exception.status,
        body: { error: { code: exception.code, message: exception.message, ...(exception.issues ? { issues: exception.issues } : {}) } } satisfies ErrorBody,
      };
    }
    return errorReply(exception);
  }
}
