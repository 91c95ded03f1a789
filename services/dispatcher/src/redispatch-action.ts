/**
 * An operator's "dispatch again" of an order in review (DESIGN §6). Decided here, by the dispatcher,
 * because its record of the order's attempts is what proves that no placement can exist at any
 * provider (redispatch.ts, from the order's events on the stream). When allowed, the next dispatch
 * generation is committed with its RedispatchRequested (outbox) as a compare-and-set on the row in
 * review; the dispatcher's redispatch consumer then places it like a new order (redispatch-consumer.ts).
 */
import { randomUUID } from "node:crypto";
import { causedBy } from "@pinflow/bus";
import { LEGACY_TENANT_ID, type EventOf, type OrderEvent, type ProviderName, type RedispatchResponse } from "@pinflow/contracts";
import type { Logger } from "pino";
import { reopen, type DispatchPolicy, type RedispatchRequest } from "./dispatch.js";
import { outboxEntries } from "./dispatch-events.js";
import { ReferenceTaken, type DispatchStore } from "./dispatch-store.js";
import { newReference } from "./providers.js";
import { redispatchVerdict } from "./redispatch.js";

/** The order's events on the stream. */
export type OrderHistory = (orderId: string) => Promise<OrderEvent[]>;

export type RedispatchOutcome =
  | { kind: "not_found" }
  | { kind: "refused"; reason: string }
  | ({ kind: "dispatched" } & RedispatchResponse);

export interface RedispatcherDeps {
  store: DispatchStore;
  history: OrderHistory;
  /** The providers configured in this process (the route is cut to them, as for a new order). */
  configured: () => ReadonlySet<ProviderName>;
  policy: DispatchPolicy;
  /** Called after a commit that enqueued events (the relay's kick). */
  committed: () => void;
  logger: Logger;
  clock?: () => Date;
  newReference?: () => string;
}

const REFERENCE_DRAWS = 5;

export class Redispatcher {
  constructor(private readonly deps: RedispatcherDeps) {}

  /** Dispatch `orderId` again for `tenantId`'s operator (null: all tenants), if its record allows it. */
  async request(orderId: string, tenantId: string | null, request: RedispatchRequest): Promise<RedispatchOutcome> {
    const events = await this.deps.history(orderId);
    const created = events.find((e): e is EventOf<"OrderCreated"> => e.type === "OrderCreated");
    if (!created || (tenantId !== null && (created.tenantId ?? LEGACY_TENANT_ID) !== tenantId)) return { kind: "not_found" };
    const verdict = redispatchVerdict(events);
    if (verdict.kind === "refused") return verdict;
    const row = await this.deps.store.get(orderId);
    if (row === null || row.state !== "review") {
      // The stream says review, this database does not (yet): it is being restored, or behind.
      return { kind: "refused", reason: `the dispatcher's record of the order is ${row === null ? "missing" : `in state ${row.state}`}, not in review; try again shortly` };
    }
    const offers = await this.deps.store.offers(row.packageId);
    const clock = this.deps.clock ?? (() => new Date());
    for (let draw = 0; draw < REFERENCE_DRAWS; draw++) {
      const now = clock();
      const d = reopen(row, request, offers, this.deps.configured(), (this.deps.newReference ?? newReference)(), now, this.deps.policy);
      let written: boolean;
      try {
        written = await this.deps.store.update(d.row, outboxEntries(causedBy(created), d.events, d.row.generation, now, randomUUID));
      } catch (error) {
        if (error instanceof ReferenceTaken) continue;
        throw error;
      }
      if (!written) return { kind: "refused", reason: "the order's record changed meanwhile (another operator, or the dispatcher); look at it again" };
      this.deps.committed();
      const placed = d.row.state === "ready" ? { provider: d.row.provider, reference: d.row.reference } : { provider: null, reference: null };
      this.deps.logger.info({ orderId, generation: d.row.generation, state: d.row.state, ...placed, operator: request.operator }, "order dispatched again by an operator; RedispatchRequested");
      return { kind: "dispatched", orderId, generation: d.row.generation, state: d.row.state, ...placed };
    }
    throw new ReferenceTaken(`no free reference after ${REFERENCE_DRAWS} draws`);
  }
}
