import { Controller, Get, HttpException, HttpStatus, Inject, Query } from "@nestjs/common";
import { AllTenants, Roles } from "@pinflow/auth";
import type { DeadLetter, DeadLetterPage } from "@pinflow/bus";
import type { ErrorBody } from "@pinflow/contracts";
import { Counter, type Registry } from "prom-client";
import { z } from "zod";

export const DEAD_LETTERS = Symbol("DEAD_LETTERS");

/** A service's dead-letter record, newest first (`before`: the previous page's `nextCursor`). */
export interface DeadLetterList {
  list(query: { limit: number; before?: number }): Promise<DeadLetterPage>;
}

const DeadLetterQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  before: z
    .string()
    .regex(/^\d{1,18}$/, "must be a cursor from nextCursor")
    .transform(Number)
    .optional(),
});

/** 400 with the API's error body (the orders service's filter keeps code and message). */
class InvalidDeadLetterQuery extends HttpException {
  constructor(message: string) {
    const body: ErrorBody = { error: { code: "validation_failed", message } };
    super(body, HttpStatus.BAD_REQUEST);
    this.message = message;
  }
}

/** Operator endpoint: what this service's consumers gave up on (operators of every tenant: it spans tenants). */
@Controller("v1/dead-letters")
@Roles("operator")
@AllTenants()
export class DeadLettersController {
  constructor(@Inject(DEAD_LETTERS) private readonly letters: DeadLetterList) {}

  @Get()
  async list(@Query() query: Record<string, unknown>): Promise<DeadLetterPage> {
    const parsed = DeadLetterQuery.safeParse(query);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new InvalidDeadLetterQuery(`invalid query: ${issue ? `${issue.path.join(".") || "(query)"}: ${issue.message}` : "invalid"}`);
    }
    return this.letters.list({ limit: parsed.data.limit, ...(parsed.data.before !== undefined ? { before: parsed.data.before } : {}) });
  }
}

/** Messages a service's consumers dead-lettered, by consumer and kind (the alarm: it should stay 0). */
export function deadLettersCounter(registry: Registry): Counter<"consumer" | "kind"> {
  return new Counter({
    name: "pinflow_dead_letters_total",
    help: "Messages a consumer gave up on and recorded in the dead-letter table, by consumer and kind",
    labelNames: ["consumer", "kind"],
    registers: [registry],
  });
}

/** Count a dead letter (hook for consumers). */
export function countDeadLetter(counter: Counter<"consumer" | "kind">): (letter: DeadLetter) => void {
  return (letter) => counter.inc({ consumer: letter.consumer, kind: letter.kind });
}
