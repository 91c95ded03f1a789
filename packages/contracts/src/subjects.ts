import { z } from "zod";
import type { EventType } from "./events.js";
import { ORDER_ID_PATTERN } from "./ids.js";

/**
 * The environment (`PINFLOW_ENV`: staging, production, a developer's name …). The stream name, the
 * subject prefix and every durable consumer name derive from it (eventNames), so two environments on
 * one NATS server never see each other's events. Lower-case letters, digits and `-`, starting with
 * a letter, at most 32 characters: safe as a subject token, in a stream name and in a durable name.
 */
export const ENVIRONMENT_PATTERN = /^[a-z][a-z0-9-]{0,31}$/;
export const Environment = z.string().regex(ENVIRONMENT_PATTERN, "must be 1-32 characters of a-z 0-9 -, starting with a letter");

/** Every environment's stream is this prefix plus the environment in upper case. */
export const ORDER_STREAM_PREFIX = "ORDER_EVENTS_";

/** The subject token after the environment: `<env>.orders.<orderId>.<type>`. */
export const ORDER_SUBJECT_TOKEN = "orders";

/** Every JetStream name of one environment. Nothing else spells a stream, subject or durable name. */
export interface EventNames {
  readonly environment: string;
  /** The stream of the environment's order events, e.g. `ORDER_EVENTS_STAGING`. */
  readonly stream: string;
  /** The stream's description: records the environment it belongs to (2.9 has no stream metadata). */
  readonly streamDescription: string;
  /** `<env>.orders`: the prefix of every subject of the environment. */
  readonly subjectPrefix: string;
  /** Every order event of the environment: `<env>.orders.>`. */
  readonly allEvents: string;
  /** One event of one order: `<env>.orders.<orderId>.<type>`. */
  orderEvent(orderId: string, type: EventType): string;
  /** Every event of one order: `<env>.orders.<orderId>.>`. */
  orderEvents(orderId: string): string;
  /** One event type across all orders, for a consumer filter: `<env>.orders.*.<type>`. */
  eventType(type: EventType): string;
  /** A durable consumer's name for a service's consumer (`dispatcher`, `status-poller`): `<env>-<consumer>`. */
  durable(consumer: string): string;
}

/** The names of one environment; throws on a name that is not a valid environment (a configuration error). */
export function eventNames(environment: string): EventNames {
  if (!ENVIRONMENT_PATTERN.test(environment)) throw new Error(`environment is not valid: ${JSON.stringify(environment)} (a-z 0-9 -, starting with a letter, at most 32)`);
  const subjectPrefix = `${environment}.${ORDER_SUBJECT_TOKEN}`;
  const safeOrderId = (orderId: string): string => {
    if (!ORDER_ID_PATTERN.test(orderId)) throw new Error(`order id is not subject-safe: ${JSON.stringify(orderId)}`);
    return orderId;
  };
  return {
    environment,
    stream: `${ORDER_STREAM_PREFIX}${environment.toUpperCase()}`,
    streamDescription: streamDescription(environment),
    subjectPrefix,
    allEvents: `${subjectPrefix}.>`,
    orderEvent: (orderId, type) => `${subjectPrefix}.${safeOrderId(orderId)}.${type}`,
    orderEvents: (orderId) => `${subjectPrefix}.${safeOrderId(orderId)}.>`,
    eventType: (type) => `${subjectPrefix}.*.${type}`,
    durable: (consumer) => {
      if (!/^[a-z][a-z0-9-]{0,63}$/.test(consumer)) throw new Error(`consumer name is not valid: ${JSON.stringify(consumer)}`);
      return `${environment}-${consumer}`;
    },
  };
}

const DESCRIPTION_PREFIX = "pinflow order events; environment=";

function streamDescription(environment: string): string {
  return `${DESCRIPTION_PREFIX}${environment}`;
}

/** The environment a stream's description records, or undefined when it records none. */
export function environmentOfStream(description: string | undefined): string | undefined {
  if (description === undefined || !description.startsWith(DESCRIPTION_PREFIX)) return undefined;
  return description.slice(DESCRIPTION_PREFIX.length);
}

/** The parts of an order event subject (`<env>.orders.<orderId>.<type>`), or undefined when it is not one. */
export function parseOrderSubject(subject: string): { environment: string; orderId: string; type: string } | undefined {
  const parts = subject.split(".");
  if (parts.length !== 4 || parts[1] !== ORDER_SUBJECT_TOKEN) return undefined;
  const [environment, , orderId, type] = parts as [string, string, string, string];
  return { environment, orderId, type };
}

/** Header names every published event carries. */
export const HEADERS = {
  type: "Pf-Event-Type",
  schemaVersion: "Pf-Schema-Version",
  correlationId: "Pf-Correlation-Id",
  traceparent: "traceparent",
} as const;
