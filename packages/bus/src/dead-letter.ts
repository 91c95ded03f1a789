import { EVENT_TYPES, ORDER_ID_PATTERN, parseOrderSubject, type OrderEvent } from "@pinflow/contracts";

/**
 * Why a consumer gave up on a message:
 * - `malformed`: not UTF-8 JSON, not our schema, or not matching its subject (never retried);
 * - `rejected`: the handler refused the event (e.g. a type it does not handle);
 * - `failed`: handling or applying it failed again and again (not a transient outage);
 * - `delivery_limit`: the message reached the consumer's `max_deliver` while still waiting;
 * - `unapplicable`: a projection's rules refuse the event (e.g. a PIN for another reference).
 */
export type DeadLetterKind = "malformed" | "rejected" | "failed" | "delivery_limit" | "unapplicable";

/** A message a consumer gave up on, as its service's dead-letter record stores it. */
export interface DeadLetter {
  /** The durable consumer or projection that gave up (e.g. `dispatcher`, `order_view`). */
  consumer: string;
  kind: DeadLetterKind;
  /** Stream sequence of the message. */
  seq: number;
  subject: string;
  /** The message as it was on the stream (capped when stored). */
  data: Uint8Array;
  /** Readable parts: from the decoded event, else from the subject or a best-effort look at the JSON. */
  eventId: string | null;
  eventType: string | null;
  orderId: string | null;
  /** The decoded event's correlation id (null for a malformed message). */
  correlationId: string | null;
  /** The decoded event's tenant (null for a malformed message, or an event from before tenants). */
  tenantId?: string | null;
  /** What went wrong: no NUL, at most ERROR_TEXT_MAX characters, never a secret (events carry sealed PINs only). */
  error: string;
  /** Deliveries (work consumers) or tries (projections) before giving up. */
  attempts: number;
}

/** Where a consumer puts what it gave up on: throws when it could not store it (then the message is retried). */
export interface DeadLetterSink {
  record(letter: DeadLetter): Promise<void>;
}

/** One dead letter as an operator endpoint lists it. */
export interface DeadLetterView {
  id: string;
  consumer: string;
  kind: string;
  seq: number;
  subject: string;
  eventId: string | null;
  eventType: string | null;
  orderId: string | null;
  error: string;
  attempts: number;
  /** The stored bytes as UTF-8 (invalid bytes replaced); `rawBytes` is the original size. */
  raw: string;
  rawBytes: number;
  rawTruncated: boolean;
  createdAt: string;
}

export interface DeadLetterPage {
  deadLetters: DeadLetterView[];
  /** Pass as `before` for the next (older) page; null at the end. */
  nextCursor: string | null;
}

export const ERROR_TEXT_MAX = 500;

/** Text safe for a PostgreSQL text column and a log line: no NUL, at most `max` characters. */
export function cleanText(text: string, max: number): string {
  const clean = text.replaceAll("\u0000", "\uFFFD");
  return clean.length > max ? `${clean.slice(0, max - 1)}…` : clean;
}

/** What went wrong, in one short line: the error's name, message and SQLSTATE/errno code if any. */
export function describeError(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return cleanText(`${error.name}: ${error.message}${typeof code === "string" ? ` (${code})` : ""}`, ERROR_TEXT_MAX);
  }
  return cleanText(String(error), ERROR_TEXT_MAX);
}

/** The order id of a well-formed order subject (`<env>.orders.<orderId>.<type>`), else null. */
export function orderIdOfSubject(subject: string): string | null {
  const orderId = parseOrderSubject(subject)?.orderId;
  return orderId !== undefined && ORDER_ID_PATTERN.test(orderId) ? orderId : null;
}

/**
 * A dead letter for a message: the event's own id, type and order when it decoded; otherwise the
 * order id of its subject and, when the bytes are JSON after all, a short `id`/`type` found there.
 */
export function deadLetterOf(input: {
  consumer: string;
  kind: DeadLetterKind;
  seq: number;
  subject: string;
  data: Uint8Array;
  event: OrderEvent | null;
  error: string;
  attempts: number;
}): DeadLetter {
  const readable = input.event ? { eventId: input.event.id, eventType: input.event.type, orderId: input.event.orderId } : peek(input.data, input.subject);
  return {
    consumer: input.consumer,
    kind: input.kind,
    seq: input.seq,
    subject: cleanText(input.subject, 300),
    data: input.data,
    eventId: readable.eventId === null ? null : cleanText(readable.eventId, 64),
    eventType: readable.eventType === null ? null : cleanText(readable.eventType, 64),
    orderId: readable.orderId,
    correlationId: input.event?.correlationId ?? null,
    tenantId: input.event?.tenantId ?? null,
    error: cleanText(input.error, ERROR_TEXT_MAX),
    attempts: input.attempts,
  };
}

const KNOWN_TYPES: ReadonlySet<string> = new Set(EVENT_TYPES);

function peek(data: Uint8Array, subject: string): { eventId: string | null; eventType: string | null; orderId: string | null } {
  const orderId = orderIdOfSubject(subject);
  const subjectType = parseOrderSubject(subject)?.type;
  let json: unknown = null;
  try {
    json = JSON.parse(new TextDecoder("utf-8").decode(data));
  } catch {
    // not JSON: only the subject tells
  }
  const record = typeof json === "object" && json !== null ? (json as Record<string, unknown>) : {};
  const short = (v: unknown): string | null => (typeof v === "string" && v.length > 0 && v.length <= 64 ? v : null);
  const type = short(record.type) ?? (subjectType !== undefined && KNOWN_TYPES.has(subjectType) ? subjectType : null);
  return { eventId: short(record.id), eventType: type, orderId };
}
