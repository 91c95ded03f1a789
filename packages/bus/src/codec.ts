import { OrderEvent, parseOrderSubject } from "@pinflow/contracts";

export type DecodeResult = { ok: true; event: OrderEvent } | { ok: false; reason: string };

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

export function encodeEvent(event: OrderEvent): Uint8Array {
  return encoder.encode(JSON.stringify(event));
}

/** Never throws: a malformed message is a value the caller logs, counts and rejects. */
export function decodeEvent(data: Uint8Array, subject: string): DecodeResult {
  let json: unknown;
  try {
    json = JSON.parse(decoder.decode(data));
  } catch (error) {
    return { ok: false, reason: `not UTF-8 JSON (${(error as Error).message.slice(0, 80)})` };
  }
  const parsed = OrderEvent.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return { ok: false, reason: `schema: ${issue ? `${issue.path.join(".")}: ${issue.message}` : "invalid"}` };
  }
  const event = parsed.data;
  const parts = parseOrderSubject(subject);
  if (parts?.orderId !== event.orderId || parts.type !== event.type) {
    return { ok: false, reason: `subject ${subject} does not match event ${event.type} of ${event.orderId}` };
  }
  return { ok: true, event };
}
