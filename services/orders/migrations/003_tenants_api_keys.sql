-- Tenants and their API keys (DESIGN §6, I8). Keys are stored as the SHA-256 of the token (the token
-- is shown once when issued); key_id is the token's public part. The dispatcher and the
-- status-poller read api_key through AUTH_DATABASE_URL (a read-only role on this database).
CREATE TABLE tenant (
  tenant_id  text PRIMARY KEY,
  name       text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
-- Orders written before tenants existed (OrderCreated without a tenant) belong here.
INSERT INTO tenant (tenant_id, name) VALUES ('legacy', 'orders from before tenants existed');

CREATE TABLE api_key (
  key_id      text PRIMARY KEY,
  -- null: an operator or admin of every tenant
  tenant_id   text REFERENCES tenant,
  role        text NOT NULL CHECK (role IN ('customer', 'operator', 'admin')),
  label       text NOT NULL DEFAULT '',
  secret_hash text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  -- valid while revoked_at is null or in the future (a rotation's grace period)
  revoked_at  timestamptz,
  replaced_by text,
  CHECK (role <> 'customer' OR tenant_id IS NOT NULL)
);
CREATE INDEX api_key_tenant ON api_key (tenant_id);

-- The projection knows each order's tenant (from OrderCreated; 'legacy' for older events).
ALTER TABLE order_view ADD COLUMN tenant_id text NOT NULL DEFAULT 'legacy';
CREATE INDEX order_view_tenant_created ON order_view (tenant_id, created_at DESC, order_id);

-- An Idempotency-Key belongs to its tenant: two tenants may use the same key.
ALTER TABLE idempotency_key ADD COLUMN tenant_id text NOT NULL DEFAULT 'legacy';
ALTER TABLE idempotency_key DROP CONSTRAINT idempotency_key_pkey;
ALTER TABLE idempotency_key ADD PRIMARY KEY (tenant_id, key);

-- One operator decision (complete or fail) per order in review, claimed before its event is
-- published, so two operators acting at once cannot settle an order twice. A record of requests,
-- not part of the projection.
CREATE TABLE operator_decision (
  order_id   text PRIMARY KEY,
  action     text NOT NULL,
  key_id     text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
