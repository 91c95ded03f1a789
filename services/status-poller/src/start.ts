/**
 * The status-poller process's entry: `node services/status-poller/dist/start.js`. Starts OpenTelemetry first, so the
 * modules the service loads next (HTTP, Express, pg) are instrumented, then runs main.js.
 */
import { startTelemetry } from "@pinflow/telemetry";

startTelemetry("status-poller");
await import("./main.js");
