import type { Context } from "@opentelemetry/api";
import type { ReadableSpan, Span, SpanProcessor } from "@opentelemetry/sdk-trace";
import { redactSpanUrls } from "./redact-urls.js";

/**
 * Runs before the exporting processor: redacts URL attributes when a span starts (what the
 * instrumentation sets up front) and again just before it ends (what it added later), so no
 * exporter ever sees a query-string value.
 */
export class UrlRedactionProcessor implements SpanProcessor {
  onStart(span: Span, _parent: Context): void {
    redactSpanUrls(span);
  }

  onEnding(span: Span): void {
    redactSpanUrls(span);
  }

  onEnd(_span: ReadableSpan): void {}

  async forceFlush(): Promise<void> {}

  async shutdown(): Promise<void> {}
}
