import { z } from "zod";
import { Money, OrderId, PackageId, ProviderName } from "./ids.js";
import { EncryptedPin } from "./pin.js";
import { HoldReason, ReasonCode, ReviewReason } from "./reasons.js";

/**
 * The public event contract (schema version 1). Other services subscribe to
 * these events: add optional fields freely, but a breaking change needs a new
 * schema version and a new schema here, side by side with the old one.
 */
export const SCHEMA_VERSION = 1 as const;

const text = (max: number) => z.string().max(max);

export const OrderCreatedData = z.object({
  packageId: PackageId,
  playerId: text(128).min(1),
  extra: text(128).nullable(),
});

export const OrderSentData = z.object({
  packageId: PackageId,
  provider: ProviderName,
  reference: z.string().min(1).max(64),
  /** What the provider charged; null when the acceptance was learnt by reconciling an ambiguous call. */
  cost: Money.nullable(),
  balance: Money.nullable(),
  providerOrderId: z.string().max(128).nullable(),
  /**
   * True when the provider finished the order in its place reply (x-stor `data.status` success with a
   * PIN): the dispatcher appends `PinReceived` (checks 0) right after this event and the status-poller
   * does not watch the order. Absent (older events) or false: the PIN comes through status checks.
   */
  pinInPlaceReply: z.boolean().optional(),
  /** The most the route allowed for this offer (TRY); absent in events written before it was recorded. */
  maxCost: Money.optional(),
  /** The provider charged more than `maxCost` (a visible, counted fact); absent when the cost is not known. */
  costAboveMaximum: z.boolean().optional(),
});

export const CheckOutcome = z.enum(["pending", "done", "cancelled", "unknown"]);
export type CheckOutcome = z.infer<typeof CheckOutcome>;

export const StatusCheckedData = z.object({
  provider: ProviderName,
  reference: z.string().min(1).max(64),
  attempt: z.number().int().min(1),
  outcome: CheckOutcome,
  note: text(500).nullable(),
});

export const PinReceivedData = z.object({
  provider: ProviderName,
  reference: z.string().min(1).max(64),
  pin: EncryptedPin,
  note: text(500).nullable(),
  checks: z.number().int().min(0),
});

export const DispatchFailedData = z.object({
  reasonCode: ReasonCode,
  provider: ProviderName.nullable(),
  providerCode: z.string().max(32).nullable(),
  message: text(500),
});

/**
 * The order waits before dispatch (not a failure): the provider's calls are held back, or it shut us
 * out. Appended when the reason appears or changes, not on every retry; at `deadline` a still-held
 * order goes to review.
 */
export const DispatchHeldData = z.object({
  provider: ProviderName,
  reasonCode: HoldReason,
  message: text(500),
  deadline: z.iso.datetime(),
});

export const OrderFailedData = z.object({
  provider: ProviderName,
  reference: z.string().min(1).max(64),
  reasonCode: ReasonCode,
  message: text(500),
});

export const ReviewRequiredData = z.object({
  stage: z.enum(["dispatch", "monitoring"]),
  reason: ReviewReason,
  provider: ProviderName.nullable(),
  reference: z.string().max(64).nullable(),
  message: text(500),
});

/** One offer of the route as the dispatcher snapshotted it when it first handled the order. */
export const RouteOfferData = z.object({
  provider: ProviderName,
  productCode: z.record(z.string().max(64), z.string().max(128)),
  maxCost: Money,
  price: Money.nullable(),
  priceImportedAt: z.string().max(40).nullable(),
});

/**
 * A place request is about to go out (dispatcher): acknowledged by the stream BEFORE the request, so
 * a dispatcher that lost its database still sees that this reference was (maybe) placed and
 * reconciles it instead of drawing a new one. `placeCall` counts the requests with this reference.
 * `route` and `openedAt` are the order's route snapshot and when it was first handled (the dispatch
 * deadline runs from there), so a replay rebuilds the same row. No PIN, no secret.
 */
export const PlacementStartedData = z.object({
  provider: ProviderName,
  offerIndex: z.number().int().min(0),
  reference: z.string().min(1).max(64),
  placeCall: z.number().int().min(1),
  route: z.array(RouteOfferData).min(1).max(16),
  openedAt: z.iso.datetime(),
});

export const PlaceOutcome = z.enum(["accepted", "refused", "ambiguous"]);
export type PlaceOutcome = z.infer<typeof PlaceOutcome>;

/**
 * What the provider answered to one place request (dispatcher), provider texts masked. Never the PIN:
 * when the reply carried one, `pinInReply` says so and the sealed PIN is only in PinReceived.
 * `nextReference`: when a definite refusal moves the order to its next offer, the reference stored
 * for that offer (chosen before its first request).
 */
export const PlacementAnsweredData = z.object({
  provider: ProviderName,
  reference: z.string().min(1).max(64),
  placeCall: z.number().int().min(1),
  outcome: PlaceOutcome,
  cost: Money.nullable().optional(),
  balance: Money.nullable().optional(),
  providerOrderId: z.string().max(128).nullable().optional(),
  pinInReply: z.boolean().optional(),
  reasonCode: ReasonCode.optional(),
  providerCode: z.string().max(32).optional(),
  message: text(500).optional(),
  cause: text(500).optional(),
  retryAfterMs: z.number().int().min(0).optional(),
  accessDenied: z.boolean().optional(),
  nextReference: z.string().min(1).max(64).optional(),
});

export const ReconcileOutcome = z.enum(["pending", "done", "cancelled", "not_found", "unknown"]);
export type ReconcileOutcome = z.infer<typeof ReconcileOutcome>;

/**
 * What the provider answered when the dispatcher asked about a reference whose placement was
 * unclear (dispatcher), provider texts masked, never a PIN. `step` numbers the dispatcher's handling
 * steps of the order (unique per order: the fact's msgID discriminator).
 */
export const ReconcileAnsweredData = z.object({
  provider: ProviderName,
  reference: z.string().min(1).max(64),
  step: z.number().int().min(1),
  outcome: ReconcileOutcome,
  note: text(500).nullable().optional(),
  message: text(500).optional(),
  cause: text(500).optional(),
  retryAfterMs: z.number().int().min(0).optional(),
  accessDenied: z.boolean().optional(),
});

/** Who acted, and why: the operator's API key id (never the key) and the reason they gave. */
const operatorAct = {
  operator: z.string().min(1).max(64),
  reason: text(500).min(1),
};

/**
 * An operator completed an order in review by hand with a PIN they got from the provider (orders
 * service). The PIN is sealed like any PIN, bound to the order id and the order's reference (""
 * when it never had one). Terminal, once per order.
 */
export const CompletedByOperatorData = z.object({
  ...operatorAct,
  reference: z.string().max(64).nullable(),
  pin: EncryptedPin,
});

/** An operator failed an order in review (orders service). Terminal, once per order: billing refunds on it. */
export const FailedByOperatorData = z.object({
  ...operatorAct,
  reasonCode: ReasonCode,
});

/**
 * An operator asked for the provider to be checked again now (status-poller; a watch in review is
 * re-opened for one more check). `attempt`: the check it asked for (the fact's msgID discriminator).
 */
export const RecheckRequestedData = z.object({
  ...operatorAct,
  attempt: z.number().int().min(1),
});

/**
 * An operator dispatched an order in review again (dispatcher): allowed only when the order's record
 * proves that no placement can exist at any provider (every reference refused, or the provider said
 * it does not know it). Starts dispatch generation `generation` (the first dispatch is 1) with a new
 * reference on the route as it is now; `offerIndex` and `reference` are null when no offer can be
 * placed (a DispatchFailed follows). Once per generation; msgID `RedispatchRequested:<orderId>:<generation>`.
 */
export const RedispatchRequestedData = z.object({
  ...operatorAct,
  generation: z.number().int().min(2),
  offerIndex: z.number().int().min(0).nullable(),
  reference: z.string().min(1).max(64).nullable(),
  route: z.array(RouteOfferData).max(16),
  /** When the generation was opened (its dispatch deadline runs from here). */
  openedAt: z.iso.datetime(),
});

export const EVENT_DATA = {
  OrderCreated: OrderCreatedData,
  OrderSent: OrderSentData,
  StatusChecked: StatusCheckedData,
  PinReceived: PinReceivedData,
  DispatchFailed: DispatchFailedData,
  DispatchHeld: DispatchHeldData,
  OrderFailed: OrderFailedData,
  ReviewRequired: ReviewRequiredData,
  PlacementStarted: PlacementStartedData,
  PlacementAnswered: PlacementAnsweredData,
  ReconcileAnswered: ReconcileAnsweredData,
  CompletedByOperator: CompletedByOperatorData,
  FailedByOperator: FailedByOperatorData,
  RecheckRequested: RecheckRequestedData,
  RedispatchRequested: RedispatchRequestedData,
} as const;

export type EventType = keyof typeof EVENT_DATA;
export const EVENT_TYPES = Object.keys(EVENT_DATA) as EventType[];
export const EventTypeSchema = z.enum(EVENT_TYPES as [EventType, ...EventType[]]);

/** Events that settle an order: each is appended at most once per order. */
export const TERMINAL_EVENT_TYPES = ["PinReceived", "DispatchFailed", "OrderFailed", "CompletedByOperator", "FailedByOperator"] as const satisfies readonly EventType[];

/**
 * The tenant that owns the order (an API key's tenant: lowercase letters, digits, `-`). Set on
 * `OrderCreated` by the orders service and kept on every later event of the order by whoever
 * appends it. Optional (added to schema version 1): an event without it — written before tenants
 * existed — belongs to the tenant `legacy`.
 */
export const TenantId = z.string().regex(/^[a-z][a-z0-9-]{0,39}$/);
/** The tenant of events written before tenants existed. */
export const LEGACY_TENANT_ID = "legacy";

const envelopeFields = {
  id: z.uuid(),
  schemaVersion: z.literal(SCHEMA_VERSION),
  orderId: OrderId,
  tenantId: TenantId.optional(),
  occurredAt: z.iso.datetime(),
  correlationId: z.string().min(1).max(128),
  causationId: z.string().max(128).nullable(),
};

function envelopeOf<T extends EventType>(type: T) {
  return z.object({ ...envelopeFields, type: z.literal(type), data: EVENT_DATA[type] });
}

export const OrderCreated = envelopeOf("OrderCreated");
export const OrderSent = envelopeOf("OrderSent");
export const StatusChecked = envelopeOf("StatusChecked");
export const PinReceived = envelopeOf("PinReceived");
export const DispatchFailed = envelopeOf("DispatchFailed");
export const DispatchHeld = envelopeOf("DispatchHeld");
export const OrderFailed = envelopeOf("OrderFailed");
export const ReviewRequired = envelopeOf("ReviewRequired");
export const PlacementStarted = envelopeOf("PlacementStarted");
export const PlacementAnswered = envelopeOf("PlacementAnswered");
export const ReconcileAnswered = envelopeOf("ReconcileAnswered");
export const CompletedByOperator = envelopeOf("CompletedByOperator");
export const FailedByOperator = envelopeOf("FailedByOperator");
export const RecheckRequested = envelopeOf("RecheckRequested");
export const RedispatchRequested = envelopeOf("RedispatchRequested");

export const OrderEvent = z.discriminatedUnion("type", [
  OrderCreated,
  OrderSent,
  StatusChecked,
  PinReceived,
  DispatchFailed,
  DispatchHeld,
  OrderFailed,
  ReviewRequired,
  PlacementStarted,
  PlacementAnswered,
  ReconcileAnswered,
  CompletedByOperator,
  FailedByOperator,
  RecheckRequested,
  RedispatchRequested,
]);
export type OrderEvent = z.infer<typeof OrderEvent>;
export type EventOf<T extends EventType> = Extract<OrderEvent, { type: T }>;
export type EventData<T extends EventType> = EventOf<T>["data"];
