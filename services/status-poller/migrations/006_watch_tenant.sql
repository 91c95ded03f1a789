-- The order's tenant (OrderSent's tenantId), kept on every event the watch produces. Null: an order
-- from before tenants (its events carry none, as its OrderSent did).
ALTER TABLE watch ADD COLUMN tenant_id text;
