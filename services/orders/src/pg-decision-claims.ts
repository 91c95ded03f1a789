import type { Pool } from "@pinflow/pg";
import type { DecisionClaims, OperatorAction } from "./operator-actions.js";

/** One operator decision per order (table operator_decision): the first claim wins. */
export class PgDecisionClaims implements DecisionClaims {
  constructor(private readonly pool: Pool) {}

  async claimDecision(orderId: string, action: OperatorAction, keyId: string): Promise<OperatorAction> {
    await this.pool.query("INSERT INTO operator_decision (order_id, action, key_id) VALUES ($1, $2, $3) ON CONFLICT (order_id) DO NOTHING", [orderId, action, keyId]);
    return (await this.decisionOf(orderId))!;
  }

  async decisionOf(orderId: string): Promise<OperatorAction | null> {
    const r = await this.pool.query<{ action: OperatorAction }>("SELECT action FROM operator_decision WHERE order_id = $1", [orderId]);
    return r.rows[0]?.action ?? null;
  }
}
