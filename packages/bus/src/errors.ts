export class BusError extends Error {
  override name = "BusError";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

export class EventRejected extends Error {
  override name = "EventRejected";
}

/** The stream the environment's name points at belongs to another environment, or its subjects differ: do not start. */
export class ForeignStreamError extends BusError {
  override name = "ForeignStreamError";
}
