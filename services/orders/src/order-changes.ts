import type { OrderRecord } from "./order.js";

/** An order as one commit left it, with its version (the stream sequence of its last change). */
export interface VersionedOrder {
  order: OrderRecord;
  version: number;
}

/**
 * This replica's news of changed orders, in process: the orders projection announces, after each
 * commit, the rows it changed (with their versions) and the orders whose events changed nothing here.
 * It is this replica's own projection consumer, so a change made through another replica (or by
 * another service) arrives from the stream as well. Live streams of those orders listen; nothing is
 * kept for orders nobody watches.
 */
export type OrderChangeListener = (changed: VersionedOrder | null) => void;

export class OrderChanges {
  private readonly listeners = new Map<string, Set<OrderChangeListener>>();

  /** Call `listener` after each commit touching `orderId`: with the row it wrote, or null (read it if you must). */
  subscribe(orderId: string, listener: OrderChangeListener): () => void {
    let set = this.listeners.get(orderId);
    if (!set) this.listeners.set(orderId, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0 && this.listeners.get(orderId) === set) this.listeners.delete(orderId);
    };
  }

  announce(commit: { changed: readonly VersionedOrder[]; touched: Iterable<string> }): void {
    if (this.listeners.size === 0) return;
    const told = new Set<string>();
    for (const c of commit.changed) {
      told.add(c.order.orderId);
      this.tell(c.order.orderId, c);
    }
    for (const id of commit.touched) if (!told.has(id)) this.tell(id, null);
  }

  private tell(orderId: string, changed: VersionedOrder | null): void {
    const set = this.listeners.get(orderId);
    if (set) for (const listener of [...set]) listener(changed);
  }

  /** Orders with at least one listener. */
  get watched(): number {
    return this.listeners.size;
  }
}
