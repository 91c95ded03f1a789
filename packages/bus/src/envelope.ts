import { randomUUID } from "node:crypto";
import { SCHEMA_VERSION, type EventData, type EventOf, type EventType } from "@pinflow/contracts";

export interface EventOrigin {
  orderId: string;
  correlationId: string;
  causationId: string | null;
  /** The order's tenant, kept on every event of the order (absent: an order from before tenants). */
  tenantId?: string | undefined;
}

/** Build a complete envelope; id and time can be passed in so pure code stays pure. */
export function makeEvent<T extends EventType>(
  type: T,
  origin: EventOrigin,
  data: EventData<T>,
  at: Date = new Date(),
  id: string = randomUUID(),
): EventOf<T> {
  return {
    id,
    type,
    schemaVersion: SCHEMA_VERSION,
    orderId: origin.orderId,
    ...(origin.tenantId !== undefined ? { tenantId: origin.tenantId } : {}),
    occurredAt: at.toISOString(),
    correlationId: origin.correlationId,
    causationId: origin.causationId,
    data,
  } as EventOf<T>;
}

/** The origin of an event caused by `cause`. */
export function causedBy(cause: { id: string; orderId: string; correlationId: string; tenantId?: string | undefined }): EventOrigin {
  return { orderId: cause.orderId, correlationId: cause.correlationId, causationId: cause.id, ...(cause.tenantId !== undefined ? { tenantId: cause.tenantId } : {}) };
}
