export { startTelemetry, stopTelemetry, exportConfigured } from "./telemetry.js";
export { UrlRedactionProcessor } from "./url-redaction-processor.js";
export { redactUrlText, redactSpanUrls, REDACTED } from "./redact-urls.js";
