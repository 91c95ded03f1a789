/**
 * Drop the orders projection so it is rebuilt from the event stream (DESIGN.md I5):
 *   PINFLOW_ENV=… DATABASE_URL=… node services/orders/dist/rebuild-projection.js
 * Stop the orders service first; on its next start it replays its environment's stream
 * (`eventNames(PINFLOW_ENV).stream`) from the beginning. Idempotency keys are kept: they record requests, not events.
 */
import { Environment, eventNames } from "@pinflow/contracts";
import { createPool } from "@pinflow/pg";
import { resetOrderProjection } from "./pg-order-store.js";

const url = process.env.DATABASE_URL;
const environment = Environment.safeParse(process.env.PINFLOW_ENV);
if (!url || !environment.success) {
  console.error("DATABASE_URL and PINFLOW_ENV (the environment whose stream the projection replays) are required");
  process.exit(2);
}
const names = eventNames(environment.data);
const pool = createPool(url, 2);
try {
  await resetOrderProjection(pool);
  console.log(`orders projection cleared; it is rebuilt from stream ${names.stream} (environment ${names.environment}) when the service starts`);
} finally {
  await pool.end();
}
