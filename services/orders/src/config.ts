import { z } from "zod";
import { BaseConfig, msSetting } from "@pinflow/service-kit";

export const OrdersConfig = BaseConfig.extend({
  CATALOG_FILE: z.string().min(1),
  PIN_KEYS: z.string().min(1),
  /** How long POST waits for its own order to reach the read side, so a GET right after finds it. */
  PROJECTION_WAIT_MS: msSetting(2000),
  /** Failed applies of one event (not counting database outages) before it is dead-lettered. */
  PROJECTION_MAX_TRIES: z.coerce.number().int().min(1).max(100).default(5),
});
export type OrdersConfig = z.infer<typeof OrdersConfig>;
