import { context, ROOT_CONTEXT, type Context } from "@opentelemetry/api";

/**
 * Group commit: writes that arrive while one is being committed go together in the next
 * statement, one at a time in arrival order. A lone write goes out at once (no waiting for
 * company); under load each statement carries what queued up meanwhile, up to `maxBatch`.
 *
 * When a batch fails, its items are written again one by one, so one item that cannot be written
 * fails alone and the others are written (an outage fails each of them, as it would have).
 *
 * A write of one item runs in its caller's trace context (its statement joins that trace); a write
 * of several belongs to no single caller and runs outside any trace.
 */
export class GroupCommit<I, R> {
  private queue: Waiting<I, R>[] = [];
  private writing = false;

  constructor(
    /** Write the items in one statement; one result per item, in their order. */
    private readonly writeMany: (items: readonly I[]) => Promise<R[]>,
    private readonly maxBatch: number,
  ) {}

  submit(item: I): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ item, context: context.active(), resolve, reject });
      if (!this.writing) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.writing = true;
    try {
      while (this.queue.length > 0) await this.write(this.queue.splice(0, Math.max(1, this.maxBatch)));
    } finally {
      this.writing = false;
    }
  }

  private async write(batch: Waiting<I, R>[]): Promise<void> {
    if (batch.length > 1) {
      try {
        const results = await context.with(ROOT_CONTEXT, () => this.writeMany(batch.map((b) => b.item)));
        batch.forEach((b, i) => b.resolve(results[i]!));
        return;
      } catch {
        // Told apart below: each item alone.
      }
    }
    for (const b of batch) {
      try {
        b.resolve((await context.with(b.context, () => this.writeMany([b.item])))[0]!);
      } catch (error) {
        b.reject(error);
      }
    }
  }
}

interface Waiting<I, R> {
  item: I;
  /** The caller's trace context when it submitted. */
  context: Context;
  resolve: (result: R) => void;
  reject: (error: unknown) => void;
}
