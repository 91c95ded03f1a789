/** A small Server-Sent Events client over fetch, for tests and the benchmark (Node has no EventSource). */
export interface SseMessage {
  id: string | null;
  event: string;
  data: string;
  /** performance.now() when the message was complete. */
  at: number;
}

export class SseStream {
  private buffer = "";
  private readonly queue: (SseMessage | { comment: string })[] = [];
  private wake: (() => void) | undefined;
  private ended = false;

  private constructor(
    readonly status: number,
    private readonly controller: AbortController,
    body: ReadableStream<Uint8Array> | null,
  ) {
    if (body) void this.read(body);
    else this.ended = true;
  }

  /** Open `url`; a non-200 answer is returned as is (`status`, no messages). */
  static async open(url: string, headers: Record<string, string> = {}): Promise<SseStream> {
    const controller = new AbortController();
    const res = await fetch(url, { headers: { accept: "text/event-stream", ...headers }, signal: controller.signal });
    if (res.status !== 200) {
      const stream = new SseStream(res.status, controller, null);
      stream.errorBody = await res.text();
      return stream;
    }
    return new SseStream(res.status, controller, res.body);
  }

  errorBody = "";

  private async read(body: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    try {
      for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
        this.buffer += decoder.decode(chunk, { stream: true });
        let end: number;
        while ((end = this.buffer.indexOf("\n\n")) >= 0) {
          const block = this.buffer.slice(0, end);
          this.buffer = this.buffer.slice(end + 2);
          this.parse(block);
        }
        this.wake?.();
      }
    } catch {
      // aborted
    } finally {
      this.ended = true;
      this.wake?.();
    }
  }

  private parse(block: string): void {
    let id: string | null = null;
    let event = "message";
    const data: string[] = [];
    let comment: string | null = null;
    let fields = 0;
    for (const line of block.split("\n")) {
      if (line.startsWith(":")) comment = line.slice(1).trim();
      else if (line.startsWith("id: ")) {
        id = line.slice(4);
        fields++;
      } else if (line.startsWith("event: ")) {
        event = line.slice(7);
        fields++;
      } else if (line.startsWith("data: ")) {
        data.push(line.slice(6));
        fields++;
      }
    }
    if (data.length > 0) this.queue.push({ id, event, data: data.join("\n"), at: performance.now() });
    else if (comment !== null && fields === 0) this.queue.push({ comment });
  }

  /** The next event (comments skipped unless `withComments`); throws when the stream ends or after `timeoutMs`. */
  async next(timeoutMs = 15_000, withComments = false): Promise<SseMessage | { comment: string }> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      while (this.queue.length > 0) {
        const item = this.queue.shift()!;
        if (withComments || !("comment" in item)) return item;
      }
      if (this.ended) throw new Error("the stream ended");
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no event within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = undefined;
    }
  }

  /** The next `event` message. */
  async nextEvent(timeoutMs = 15_000): Promise<SseMessage> {
    return (await this.next(timeoutMs)) as SseMessage;
  }

  close(): void {
    this.controller.abort();
  }
}
