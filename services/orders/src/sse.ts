/** Server-Sent Events framing (https://html.spec.whatwg.org/multipage/server-sent-events.html). Pure. */

/** One event: `id`, `event` and a `data` line per line of the JSON (JSON.stringify has none). */
export function sseEvent(e: { id: number; event: string; data: unknown }): string {
  const json = JSON.stringify(e.data);
  return `id: ${e.id}\nevent: ${e.event}\n${json.split("\n").map((line) => `data: ${line}`).join("\n")}\n\n`;
}

/** A comment line: ignored by clients, keeps proxies and the connection from timing out. */
export const SSE_HEARTBEAT = ": keep-alive\n\n";

/** How long the browser waits before it reconnects (it sends Last-Event-ID then). */
export function sseRetry(ms: number): string {
  return `retry: ${ms}\n\n`;
}

/**
 * The version a reconnecting client already has: its `Last-Event-ID` (a non-negative integer we sent),
 * else 0 (send the current state). Anything else is treated as 0: the client gets the current state.
 */
export function lastEventId(header: string | string[] | undefined): number {
  const text = Array.isArray(header) ? header[0] : header;
  if (text === undefined || !/^\d{1,15}$/.test(text.trim())) return 0;
  return Number(text.trim());
}
