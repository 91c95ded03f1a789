-- Webhooks of resellers' systems (README "Webhooks"). Not part of the projection: the endpoints are
-- registrations and the deliveries an outbox, queued in the projection's transaction as it folds a
-- status change, so none is lost and a replay (same event ids) queues nothing twice.
CREATE TABLE webhook_endpoint (
  webhook_id    text PRIMARY KEY,
  tenant_id     text NOT NULL REFERENCES tenant,
  url           text NOT NULL,
  description   text NOT NULL DEFAULT '',
  -- the signing secret, AES-256-GCM sealed with the PIN keyring and bound to the webhook id (signing needs
  -- the secret itself, so a hash would not do); shown once at registration
  secret_sealed jsonb NOT NULL,
  -- deliveries are for events after this stream sequence (the projection's checkpoint when registered),
  -- so a replay from the beginning never sends an endpoint what happened before it existed
  from_seq      bigint NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  deleted_at    timestamptz
);
CREATE INDEX webhook_endpoint_tenant ON webhook_endpoint (tenant_id) WHERE deleted_at IS NULL;

CREATE TABLE webhook_delivery (
  delivery_id     bigserial PRIMARY KEY,
  webhook_id      text NOT NULL REFERENCES webhook_endpoint,
  event_id        uuid NOT NULL,
  order_id        text NOT NULL,
  seq             bigint NOT NULL,
  payload         jsonb NOT NULL,
  state           text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'failed', 'cancelled')),
  attempts        integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  delivered_at    timestamptz,
  created_at      timestamptz NOT NULL DEFAULT now(),
  UNIQUE (webhook_id, event_id)
);
CREATE INDEX webhook_delivery_due ON webhook_delivery (next_attempt_at) WHERE state = 'pending';
CREATE INDEX webhook_delivery_endpoint ON webhook_delivery (webhook_id, delivery_id DESC);
CREATE INDEX webhook_delivery_failed ON webhook_delivery (delivery_id) WHERE state = 'failed';

-- Every try of a delivery: what the receiver answered (status) or why no answer came.
CREATE TABLE webhook_attempt (
  delivery_id bigint NOT NULL REFERENCES webhook_delivery,
  attempt     integer NOT NULL,
  at          timestamptz NOT NULL DEFAULT now(),
  status_code integer,
  error       text,
  duration_ms integer NOT NULL,
  PRIMARY KEY (delivery_id, attempt)
);
