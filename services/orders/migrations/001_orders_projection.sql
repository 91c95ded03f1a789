-- The customer-facing projection of the order stream. Rebuildable: drop the
-- rows and the checkpoint, replay the stream, get the same rows.
CREATE TABLE order_view (
  order_id      text PRIMARY KEY,
  package_id    text NOT NULL,
  player_id     text NOT NULL,
  extra         text,
  status        text NOT NULL,
  provider      text,
  reference     text,
  provider_note text,
  reason_code   text,
  review_reason text,
  pin_sealed    jsonb,
  checks        integer NOT NULL DEFAULT 0,
  created_at    timestamptz NOT NULL,
  updated_at    timestamptz NOT NULL,
  last_seq      bigint NOT NULL
);
CREATE INDEX order_view_status_created ON order_view (status, created_at DESC, order_id);
CREATE INDEX order_view_created ON order_view (created_at DESC, order_id);

-- Every event of an order, for its timeline (PIN ciphertexts are not copied here).
CREATE TABLE order_timeline (
  seq         bigint PRIMARY KEY,
  order_id    text NOT NULL,
  event_id    uuid NOT NULL,
  type        text NOT NULL,
  occurred_at timestamptz NOT NULL,
  summary     jsonb NOT NULL
);
CREATE INDEX order_timeline_order ON order_timeline (order_id, seq);

CREATE TABLE projection_checkpoint (
  name     text PRIMARY KEY,
  last_seq bigint NOT NULL
);

-- Idempotency keys of POST /v1/orders: same key and body give the same order.
-- Not part of the projection: it records a request, not an event.
CREATE TABLE idempotency_key (
  key          text PRIMARY KEY,
  request_hash text NOT NULL,
  order_id     text NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now()
);
