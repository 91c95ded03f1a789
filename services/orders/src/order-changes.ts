/**
 * This replica's news of changed orders, in process: the projection consumer announces the orders of
 * every commit (its own replica's consumer, so a change made through another replica arrives here
 * from the stream as well); live streams of those orders listen. Nothing is kept for orders nobody
 * watches.
 */
export class OrderChanges {
  private readonly listeners = new Map<string, Set<() => void>>();

  /** Call `listener` after each commit touching `orderId`; returns the unsubscribe. */
  subscribe(orderId: string, listener: () => void): () => void {
    let set = this.listeners.get(orderId);
    if (!set) this.listeners.set(orderId, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0 && this.listeners.get(orderId) === set) this.listeners.delete(orderId);
    };
  }

  announce(orderIds: Iterable<string>): void {
    for (const id of orderIds) {
      const set = this.listeners.get(id);
      if (set) for (const listener of [...set]) listener();
    }
  }

  /** Orders with at least one listener. */
  get watched(): number {
    return this.listeners.size;
  }
}
