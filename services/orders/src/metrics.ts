import type { Pool } from "@pinflow/pg";
import { Gauge, type Registry } from "prom-client";

/** Orders by state, read from the projection when Prometheus scrapes. */
export function registerOrderMetrics(registry: Registry, pool: Pool): void {
  new Gauge({
    name: "pinflow_orders",
    help: "Orders by status in the customer projection",
    labelNames: ["status"],
    registers: [registry],
    async collect() {
      const r = await pool.query<{ status: string; n: string }>("SELECT status, count(*) AS n FROM order_view GROUP BY status");
      this.reset();
      for (const row of r.rows) this.set({ status: row.status }, Number(row.n));
    },
  });
}
