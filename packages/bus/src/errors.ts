export class BusError extends Error {
  override name = "BusError";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

export class EventRejected extends Error {
  override name = "EventRejected";
}
