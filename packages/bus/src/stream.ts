import { jetstreamManager, RetentionPolicy, StorageType, DiscardPolicy } from "@nats-io/jetstream";
import { nanos, type NatsConnection } from "@nats-io/transport-node";
import { ALL_ORDER_EVENTS, ORDER_EVENTS_STREAM } from "@pinflow/contracts";

export const DUPLICATE_WINDOW_MS = 15 * 60 * 1000;

/** Create the order event stream if it does not exist (DESIGN.md §3). Safe to call from every service at start. */
export async function ensureOrderStream(nc: NatsConnection): Promise<void> {
  const jsm = await jetstreamManager(nc);
  try {
    await jsm.streams.info(ORDER_EVENTS_STREAM);
    return;
  } catch (error) {
    if (!isNotFound(error)) throw error;
  }
  try {
    await jsm.streams.add({
      name: ORDER_EVENTS_STREAM,
      subjects: [ALL_ORDER_EVENTS],
      storage: StorageType.File,
      retention: RetentionPolicy.Limits,
      discard: DiscardPolicy.Old,
      max_age: 0,
      max_msgs: -1,
      max_bytes: -1,
      deny_delete: true,
      deny_purge: true,
      duplicate_window: nanos(DUPLICATE_WINDOW_MS),
    });
  } catch (error) {
    // Another service may have created it at the same moment.
    if (!/already in use|already exists/i.test(String((error as Error).message))) throw error;
  }
}

export function isNotFound(error: unknown): boolean {
  return /not found/i.test(String((error as Error)?.message ?? error));
}
