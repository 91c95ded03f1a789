/**
 * Drop the orders projection so it is rebuilt from the event stream (DESIGN.md I5):
 *   DATABASE_URL=… node services/orders/dist/rebuild-projection.js
 * Stop the orders service first; on its next start it replays ORDER_EVENTS from the beginning.
 * Idempotency keys are kept: they record requests, not events.
 */
import { createPool } from "@pinflow/pg";
import { resetOrderProjection } from "./pg-order-store.js";

const url = process.env.DATABASE_URL;
if (!url) {
  console.error("DATABASE_URL is required");
  process.exit(2);
}
const pool = createPool(url, 2);
try {
  await resetOrderProjection(pool);
  console.log("orders projection cleared; it is rebuilt from the stream when the service starts");
} finally {
  await pool.end();
}
