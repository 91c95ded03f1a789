import type { ProjectionMessage, ProjectionSource } from "@pinflow/bus";
import type { Counter } from "prom-client";
import type { Logger } from "pino";
import type { OrderStore } from "./order-store.js";

/** Feeds the store; a malformed message is logged and counted, then skipped (projections never stop on one). */
export class OrderProjectionSource implements ProjectionSource {
  constructor(
    private readonly store: OrderStore,
    private readonly logger: Logger,
    private readonly rejected: Counter<"reason">,
  ) {}

  checkpoint(): Promise<number> {
    return this.store.checkpoint();
  }

  async apply(message: ProjectionMessage): Promise<void> {
    if (!message.ok) {
      this.logger.error({ seq: message.seq, subject: message.subject, reason: message.reason }, "skipped malformed event");
      this.rejected.inc({ reason: "malformed" });
    }
    await this.store.apply(message);
  }
}
