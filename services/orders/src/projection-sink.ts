import type { DeadLetter, ProjectionEntry, ProjectionMessage, ProjectionSink } from "@pinflow/bus";
import type { Counter } from "prom-client";
import type { Logger } from "pino";
import type { OrderChange } from "./order-change.js";
import type { ApplyResult, OrderStore } from "./order-store.js";

/**
 * Where the orders projection's transport (JetStreamProjectionServer) commits the changes its
 * handlers return: the store, one transaction per batch with the checkpoint. Projections never stop
 * on one message: a malformed one, an event the rules refuse (a PIN that is not the order's) and one
 * that fails again and again (the transport's bound) are recorded as dead letters, logged without
 * payload and counted; the order goes to review.
 */
export class OrderProjectionSink implements ProjectionSink<OrderChange> {
  constructor(
    private readonly store: OrderStore,
    private readonly logger: Logger,
    private readonly rejected: Counter<"reason">,
    private readonly deadLettered: (letter: DeadLetter) => void = () => undefined,
  ) {}

  checkpoint(): Promise<number> {
    return this.store.checkpoint();
  }

  async commit(entries: readonly ProjectionEntry<OrderChange>[]): Promise<void> {
    const results = await this.store.commit(entries);
    entries.forEach((entry, i) => this.reportApplied(entry.message, results[i]!));
  }

  private reportApplied(message: ProjectionMessage, result: ApplyResult): void {
    if (!message.ok) {
      this.logger.error({ seq: message.seq, subject: message.subject, reason: message.reason }, "skipped malformed event");
      this.rejected.inc({ reason: "malformed" });
    }
    this.report(result);
  }

  async deadLetter(message: ProjectionMessage, error: string, tries: number): Promise<void> {
    this.report(await this.store.deadLetter(message, error, tries));
  }

  private report(result: ApplyResult): void {
    if (result.kind === "applied") return;
    const { letter, fresh, review } = result;
    this.logger.error(
      {
        consumer: letter.consumer,
        seq: letter.seq,
        subject: letter.subject,
        orderId: letter.orderId,
        eventId: letter.eventId,
        type: letter.eventType,
        kind: letter.kind,
        attempts: letter.attempts,
        error: letter.error,
        review,
        alreadyRecorded: !fresh,
      },
      "event dead-lettered; the projection goes on",
    );
    if (fresh) this.deadLettered(letter);
  }
}
