import { z } from "zod";
import { EVENT_TYPES, OrderEvent, SCHEMA_VERSION, TERMINAL_EVENT_TYPES, type EventType } from "./events.js";
import { eventNames, HEADERS, ORDER_STREAM_PREFIX, ORDER_SUBJECT_TOKEN } from "./subjects.js";

/** How the public contract spells the environment's names (eventNames() makes them). */
const STREAM = `${ORDER_STREAM_PREFIX}<ENV>`;
const PRODUCTION = eventNames("production");
const ENV_DESCRIPTION =
  "The environment (PINFLOW_ENV, e.g. `staging`, `production`: a-z 0-9 -, starting with a letter, at most 32). Every subject, the stream name and every durable consumer name derive from it, so two environments on one NATS server never see each other's events.";

const DESCRIPTIONS: Record<EventType, string> = {
  OrderCreated: "A customer created an order (orders service). Once per order.",
  OrderSent: "A provider accepted the order (dispatcher); cost is null when the acceptance was learnt by reconciling an ambiguous call. Once per order.",
  StatusChecked: "One status check of an accepted order (status-poller); no PIN in it. Many per order; msgID `StatusChecked:<orderId>:<attempt>`.",
  PinReceived: "The provider finished the order; the PIN is AES-256-GCM encrypted (status-poller; or dispatcher with checks 0, right after an OrderSent with pinInPlaceReply, when the provider finished the order in its place reply). Terminal, once per order.",
  DispatchFailed: "Every provider offer definitely refused the order; nothing was charged (dispatcher). Terminal, once per order: billing refunds on it.",
  DispatchHeld:
    "The order waits before dispatch, not failed: the provider's calls are paused or failing, the provider shut us out (empty body: wrong password or IP), or it is not configured (dispatcher). Appended when the reason appears or changes; msgID `DispatchHeld:<orderId>:<n>`. At `deadline` a still-held order goes to review.",
  OrderFailed: "The provider cancelled an accepted order (status-poller). Terminal, once per order: billing refunds on it.",
  ReviewRequired: "A person must decide: placement outcome unknown, deadline passed, or unreadable status (dispatcher or status-poller).",
  PlacementStarted:
    "A place request with this provider and reference is about to go out (dispatcher); acknowledged by the stream before the request is sent, so a dispatcher that lost its database reconciles the reference instead of placing again. Carries the route snapshot. msgID `PlacementStarted:<orderId>:<reference>:<placeCall>`.",
  PlacementAnswered:
    "What the provider answered to one place request: accepted, refused (reason code) or ambiguous (cause), texts masked, never a PIN (dispatcher). msgID `PlacementAnswered:<orderId>:<reference>:<placeCall>`.",
  ReconcileAnswered:
    "What the provider answered when asked about an unclear reference: pending, done, cancelled, not_found or unknown, texts masked, never a PIN (dispatcher). msgID `ReconcileAnswered:<orderId>:<reference>:<step>`.",
  CompletedByOperator:
    "An operator completed an order in review by hand, with the PIN sealed like any PIN; names the operator (API key id) and the reason (orders service). Terminal, once per order.",
  FailedByOperator:
    "An operator failed an order in review with a reason code; names the operator (API key id) and the reason (orders service). Terminal, once per order: billing refunds on it.",
  RecheckRequested:
    "An operator asked for the order's provider to be checked again now; names the operator (API key id) and the reason (status-poller). msgID `RecheckRequested:<orderId>:<attempt>`.",
  RedispatchRequested:
    "An operator dispatched an order in review again, allowed only when its record proves that no placement can exist at any provider; names the operator (API key id) and the reason, and starts dispatch generation `generation` with a new reference (dispatcher). A ReviewRequired of a later generation has msgID `ReviewRequired:<orderId>:g<generation>`. msgID `RedispatchRequested:<orderId>:<generation>`.",
};

/**
 * The AsyncAPI 3.0 description of the public event contract, generated from
 * the zod schemas (so it cannot drift from what the services validate).
 */
export function buildAsyncApi(): Record<string, unknown> {
  const channels: Record<string, unknown> = {};
  const operations: Record<string, unknown> = {};
  const messages: Record<string, unknown> = {};
  for (const type of EVENT_TYPES) {
    const envelope = OrderEvent.options.find((o) => o.shape.type.value === type)!;
    messages[type] = {
      name: type,
      title: type,
      summary: DESCRIPTIONS[type],
      contentType: "application/json",
      correlationId: { location: `$message.header#/${HEADERS.correlationId}` },
      headers: {
        type: "object",
        properties: {
          "Nats-Msg-Id": { type: "string", description: "Deduplication id of the fact, e.g. `<type>:<orderId>`" },
          [HEADERS.type]: { type: "string", const: type },
          [HEADERS.schemaVersion]: { type: "string", const: String(SCHEMA_VERSION) },
          [HEADERS.correlationId]: { type: "string" },
          [HEADERS.traceparent]: { type: "string", description: "W3C trace context" },
        },
      },
      payload: z.toJSONSchema(envelope, { target: "draft-2020-12", unrepresentable: "any" }),
    };
    channels[type] = {
      address: `{env}.${ORDER_SUBJECT_TOKEN}.{orderId}.${type}`,
      title: type,
      description: `${DESCRIPTIONS[type]} Stream ${STREAM}.`,
      parameters: { env: { description: ENV_DESCRIPTION }, orderId: { description: "The order id (subject-safe: A-Z a-z 0-9 _ -)" } },
      messages: { [type]: { $ref: `#/components/messages/${type}` } },
    };
    operations[`publish${type}`] = {
      action: "send",
      channel: { $ref: `#/channels/${type}` },
      summary: `pinflow publishes ${type}`,
      messages: [{ $ref: `#/channels/${type}/messages/${type}` }],
    };
  }
  return {
    asyncapi: "3.0.0",
    info: {
      title: "pinflow order events",
      version: `${SCHEMA_VERSION}.0.0`,
      description: [
        `Every event of an order is published on its environment's JetStream stream ${STREAM} (subjects \`<env>.${ORDER_SUBJECT_TOKEN}.>\`, e.g. stream ${PRODUCTION.stream} with subjects \`${PRODUCTION.allEvents}\`; file storage, no age limit, delete and purge denied; the stream's description records its environment).`,
        `Durable consumers are named \`<env>-<consumer>\` (e.g. \`${PRODUCTION.durable("dispatcher")}\`).`,
        "Subscribe with a durable or ordered consumer; delivery is at-least-once, so deduplicate by the event `id` or the stream sequence.",
        "Every event of an order carries `tenantId`, the tenant that owns the order (set on OrderCreated from the caller's API key, kept on every later event); events written before tenants existed have none and belong to the tenant `legacy`.",
        `Terminal events (${TERMINAL_EVENT_TYPES.join(", ")}) appear at most once per order. Schema version ${SCHEMA_VERSION}: new optional fields may be added; a breaking change gets a new schema version.`,
      ].join(" "),
    },
    defaultContentType: "application/json",
    servers: { nats: { host: "127.0.0.1:4222", protocol: "nats", description: "NATS with JetStream" } },
    channels,
    operations,
    components: { messages },
  };
}
