/**
 * The dispatcher process's entry: `node services/dispatcher/dist/start.js`. Starts OpenTelemetry first, so the
 * modules the service loads next (HTTP, Express, pg) are instrumented, then runs main.js.
 */
import { startTelemetry } from "@pinflow/telemetry";

startTelemetry("dispatcher");
await import("./main.js");
