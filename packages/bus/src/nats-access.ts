import { EVENT_TYPES, type EventNames, type EventType } from "@pinflow/contracts";

/**
 * Least privilege on NATS (DESIGN.md §3): every process that talks to NATS connects as its own user
 * of its environment, `<env>-<role>`, and may publish only the event types it produces and use only
 * the JetStream API it needs. This module is the single place that says who may do what; the server
 * configuration (scripts/nats-config.mjs, deploy/, the tests' private servers) is rendered from it,
 * so it cannot drift from the code.
 */
export const SERVICE_ROLES = ["orders", "dispatcher", "status-poller"] as const;
export type ServiceRole = (typeof SERVICE_ROLES)[number];
/**
 * Other teams' subscribers (examples/refund-subscriber): read-only. Each reads the stream through
 * its own durables (SUBSCRIBER_CONSUMERS) and publishes no event.
 */
export const SUBSCRIBER_ROLES = ["refunds"] as const;
export type SubscriberRole = (typeof SUBSCRIBER_ROLES)[number];
/** `admin`: the set-up step (creates the stream) and operators' tools; never a service. */
export type NatsRole = ServiceRole | SubscriberRole | "admin";
export const NATS_ROLES: readonly NatsRole[] = [...SERVICE_ROLES, ...SUBSCRIBER_ROLES, "admin"];

/**
 * Who publishes each event type. A new event type does not compile until it is listed here, and a
 * service that publishes a type not listed for it is refused by the server (its e2e tests fail).
 */
export const PUBLISHERS: Record<EventType, readonly ServiceRole[]> = {
  OrderCreated: ["orders"],
  PlacementStarted: ["dispatcher"],
  PlacementAnswered: ["dispatcher"],
  ReconcileAnswered: ["dispatcher"],
  OrderSent: ["dispatcher"],
  DispatchFailed: ["dispatcher"],
  DispatchHeld: ["dispatcher"],
  // A place reply that already carries the PIN (dispatcher), or a status check that finds it (poller).
  PinReceived: ["dispatcher", "status-poller"],
  StatusChecked: ["status-poller"],
  OrderFailed: ["status-poller"],
  ReviewRequired: ["dispatcher", "status-poller"],
  // Operator actions on review orders: decided through the orders API, or (check again now) the poller's.
  CompletedByOperator: ["orders"],
  FailedByOperator: ["orders"],
  RecheckRequested: ["status-poller"],
  // Dispatch again: decided by the dispatcher from its own record of the order's attempts.
  RedispatchRequested: ["dispatcher"],
};

/**
 * The durable work consumers each service owns (their `names.durable(...)` arguments: the services'
 * `CONSUMER` constants). A service that gets another durable (e.g. for operator actions) lists it here.
 */
export const WORK_CONSUMERS: Record<ServiceRole, readonly string[]> = {
  orders: [],
  dispatcher: ["dispatcher", "dispatcher-redispatch"],
  "status-poller": ["status-poller"],
};

/** The durables each subscriber owns (its `names.durable(...)` arguments). */
export const SUBSCRIBER_CONSUMERS: Record<SubscriberRole, readonly string[]> = {
  refunds: ["refunds"],
};

/** Every durable and who owns it: no one else may read, ack or change it. */
const OWNED_CONSUMERS: Record<ServiceRole | SubscriberRole, readonly string[]> = { ...WORK_CONSUMERS, ...SUBSCRIBER_CONSUMERS };

function isSubscriber(role: NatsRole): role is SubscriberRole {
  return (SUBSCRIBER_ROLES as readonly string[]).includes(role);
}

/** The event types a role may publish (admin: all; a subscriber: none). */
export function publishedTypes(role: NatsRole): EventType[] {
  if (role === "admin") return [...EVENT_TYPES];
  if (isSubscriber(role)) return [];
  return EVENT_TYPES.filter((type) => PUBLISHERS[type].includes(role));
}

/** The NATS user of a role in an environment. */
export function natsUser(environment: string, role: NatsRole): string {
  return `${environment}-${role}`;
}

/**
 * The inbox prefix of a user: request replies and pulled messages arrive below it, and a user may
 * subscribe to its own inboxes only (no one reads another service's deliveries). connectNats sets it.
 */
export function inboxPrefixOf(user: string): string {
  return `_INBOX.${user}`;
}

export interface SubjectPermissions {
  allow: string[];
  deny: string[];
}
export interface NatsPermissions {
  publish: SubjectPermissions;
  subscribe: SubjectPermissions;
}

const API = "$JS.API";

/**
 * The subjects one role of one environment may publish and subscribe to (nats-server 2.9: the
 * JetStream API is requests on `$JS.API.…`, acks are publishes on `$JS.ACK.<stream>.<consumer>.…`).
 *
 * Every service: account and stream info (`ensureOrderStream` checks the stream, it never creates
 * it: the admin's set-up step does), ordered consumers on the stream (projections, an order's
 * history, rebuilds: the client names them `oc_<nuid>_<n>`, so they are allowed by wildcard), its
 * own durable (create/update, info, pull, ack). Denied to every service, whatever the wildcards
 * allow: any API call on a durable of another service or on its own durable's deletion, acks on
 * another's durable, creating or changing the stream.
 */
export function permissionsFor(names: EventNames, role: NatsRole): NatsPermissions {
  const stream = names.stream;
  const user = natsUser(names.environment, role);
  const subscribe = { allow: [`${inboxPrefixOf(user)}.>`], deny: [] };
  if (role === "admin") {
    return {
      publish: {
        allow: [
          names.allEvents,
          `${API}.INFO`,
          `${API}.STREAM.*.${stream}`,
          `${API}.STREAM.MSG.*.${stream}`,
          `${API}.CONSUMER.*.${stream}`,
          `${API}.CONSUMER.*.${stream}.>`,
          `${API}.CONSUMER.*.*.${stream}.>`,
          `$JS.ACK.${stream}.>`,
        ],
        deny: [],
      },
      subscribe,
    };
  }
  if (isSubscriber(role)) return { publish: { allow: subscriberAllows(names, role), deny: othersDurables(names, role) }, subscribe };
  const allow = [
    ...publishedTypes(role).map((type) => names.eventType(type)),
    `${API}.INFO`,
    `${API}.STREAM.INFO.${stream}`,
    // Ordered consumers: created with a filter (`CONSUMER.CREATE.<stream>.<name>.<filter>`), pulled, deleted.
    `${API}.CONSUMER.CREATE.${stream}.*.>`,
    `${API}.CONSUMER.INFO.${stream}.*`,
    `${API}.CONSUMER.MSG.NEXT.${stream}.*`,
    `${API}.CONSUMER.DELETE.${stream}.*`,
  ];
  if (role === "dispatcher") allow.push(`${API}.STREAM.MSG.GET.${stream}`); // the last attempt facts of an order
  for (const own of WORK_CONSUMERS[role]) {
    const durable = names.durable(own);
    allow.push(`${API}.CONSUMER.CREATE.${stream}.${durable}`, `${API}.CONSUMER.DURABLE.CREATE.${stream}.${durable}`, `$JS.ACK.${stream}.${durable}.>`);
  }
  return { publish: { allow, deny: othersDurables(names, role) }, subscribe };
}

/**
 * A subscriber: account and stream info, and its own durables only (create/update, info, pull,
 * ack). No event subject, no ordered consumer, no message get: it reads what its durable delivers.
 */
function subscriberAllows(names: EventNames, role: SubscriberRole): string[] {
  const stream = names.stream;
  const allow = [`${API}.INFO`, `${API}.STREAM.INFO.${stream}`];
  for (const own of SUBSCRIBER_CONSUMERS[role]) {
    const durable = names.durable(own);
    allow.push(
      `${API}.CONSUMER.CREATE.${stream}.${durable}`,
      `${API}.CONSUMER.CREATE.${stream}.${durable}.>`,
      `${API}.CONSUMER.DURABLE.CREATE.${stream}.${durable}`,
      `${API}.CONSUMER.INFO.${stream}.${durable}`,
      `${API}.CONSUMER.MSG.NEXT.${stream}.${durable}`,
      `$JS.ACK.${stream}.${durable}.>`,
    );
  }
  return allow;
}

/** Denied whatever the wildcards allow: any API call on another's durable, acks on it, deleting one's own. */
function othersDurables(names: EventNames, role: NatsRole): string[] {
  const stream = names.stream;
  const deny: string[] = [];
  for (const [owner, consumer] of Object.entries(OWNED_CONSUMERS).flatMap(([owner, consumers]) => consumers.map((c) => [owner, c] as const))) {
    const durable = names.durable(consumer);
    if (owner === role) {
      deny.push(`${API}.CONSUMER.DELETE.${stream}.${durable}`);
      continue;
    }
    deny.push(`${API}.CONSUMER.*.${stream}.${durable}`, `${API}.CONSUMER.*.${stream}.${durable}.>`, `${API}.CONSUMER.*.*.${stream}.${durable}`, `$JS.ACK.${stream}.${durable}.>`);
  }
  return deny;
}

/** A user's password in the rendered configuration: a literal (tests), or a variable the server reads from its environment. */
export type PasswordSource = { literal: string } | { env: string };

/** The environment variable that carries a user's password for the server (`NATS_PASSWORD_STAGING_ORDERS`). */
export function passwordVariable(environment: string, role: NatsRole): string {
  return `NATS_PASSWORD_${environment}_${role}`.toUpperCase().replace(/-/g, "_");
}

export interface NatsServerTls {
  certFile: string;
  keyFile: string;
  /** Verify clients' certificates against this CA (mutual TLS) when `verify` is set. */
  caFile?: string;
  verify?: boolean;
}

export interface NatsConfigOptions {
  environments: readonly EventNames[];
  /** Default: `{ env: passwordVariable(env, role) }` (the server reads it from its environment). */
  password?: (environment: string, role: NatsRole) => PasswordSource;
  /** The account the users live in (JetStream enabled). */
  account?: string;
  tls?: NatsServerTls;
}

export const PINFLOW_ACCOUNT = "PINFLOW";

/**
 * A nats-server configuration (2.9 syntax) with one account holding every role's user of every
 * given environment and its permissions, and TLS when asked. Listen address and JetStream storage
 * are left to the command line or to a configuration that includes this one.
 */
export function renderNatsServerConfig(opts: NatsConfigOptions): string {
  const password = opts.password ?? ((environment, role) => ({ env: passwordVariable(environment, role) }));
  const lines: string[] = [
    "# Generated by scripts/nats-config.mjs from packages/bus/src/nats-access.ts: do not edit by hand.",
    `# Environments: ${opts.environments.map((n) => n.environment).join(", ")}.`,
    "",
  ];
  if (opts.tls) {
    lines.push("tls {", `  cert_file: ${quote(opts.tls.certFile)}`, `  key_file: ${quote(opts.tls.keyFile)}`);
    if (opts.tls.caFile) lines.push(`  ca_file: ${quote(opts.tls.caFile)}`);
    if (opts.tls.verify) lines.push("  verify: true");
    lines.push("}", "");
  }
  lines.push("accounts {", `  ${opts.account ?? PINFLOW_ACCOUNT} {`, "    jetstream: enabled", "    users: [");
  for (const names of opts.environments) {
    for (const role of NATS_ROLES) {
      const p = permissionsFor(names, role);
      const pw = password(names.environment, role);
      lines.push(
        "      {",
        `        user: ${quote(natsUser(names.environment, role))}`,
        `        password: ${"literal" in pw ? quote(pw.literal) : `$${pw.env}`}`,
        "        permissions: {",
        `          publish: { allow: ${list(p.publish.allow)}${p.publish.deny.length ? `, deny: ${list(p.publish.deny)}` : ""} }`,
        `          subscribe: { allow: ${list(p.subscribe.allow)} }`,
        "        }",
        "      }",
      );
    }
  }
  lines.push("    ]", "  }", "}", "");
  return lines.join("\n");
}

function quote(text: string): string {
  if (/["\\\n]/.test(text)) throw new Error(`not allowed in a nats-server configuration string: ${JSON.stringify(text)}`);
  return `"${text}"`;
}

function list(subjects: readonly string[]): string {
  return `[${subjects.map(quote).join(", ")}]`;
}
