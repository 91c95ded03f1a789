import { ORDER_ID_PATTERN } from "@pinflow/contracts";
import { z } from "zod";

/** Where a page of the newest-first order list ends: the last row's creation time and id. */
export interface OrderCursor {
  createdAt: string;
  orderId: string;
}

const CursorJson = z.tuple([z.iso.datetime(), z.string().regex(ORDER_ID_PATTERN)]);

export function encodeCursor(cursor: OrderCursor): string {
  return Buffer.from(JSON.stringify([cursor.createdAt, cursor.orderId])).toString("base64url");
}

/** The cursor a previous page handed out, or null for anything else (the API answers 400). */
export function decodeCursor(text: string): OrderCursor | null {
  if (!/^[A-Za-z0-9_-]{1,200}$/.test(text)) return null;
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(text, "base64url").toString("utf8"));
  } catch {
    return null;
  }
  const parsed = CursorJson.safeParse(json);
  return parsed.success ? { createdAt: parsed.data[0], orderId: parsed.data[1] } : null;
}
