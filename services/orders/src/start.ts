/**
 * The orders process's entry: `node services/orders/dist/start.js`. Starts OpenTelemetry first, so the
 * modules the service loads next (HTTP, Express, pg) are instrumented, then runs main.js.
 */
import { startTelemetry } from "@pinflow/telemetry";

startTelemetry("orders");
await import("./main.js");
