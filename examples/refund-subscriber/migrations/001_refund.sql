-- One refund per failed order: the primary key is what makes a redelivered (or re-published)
-- failure a no-op. `event_id` is the terminal event that caused it.
CREATE TABLE refund (
  order_id     text        PRIMARY KEY,
  tenant_id    text        NOT NULL,
  cause        text        NOT NULL,
  reason_code  text        NOT NULL,
  event_id     text        NOT NULL,
  stream_seq   bigint      NOT NULL,
  failed_at    timestamptz NOT NULL,
  recorded_at  timestamptz NOT NULL DEFAULT now()
);

-- Messages the subscriber gave up on (the bus's dead-letter record, same shape as the services').
CREATE TABLE dead_letter (
  id          bigserial   PRIMARY KEY,
  consumer    text        NOT NULL,
  kind        text        NOT NULL,
  stream_seq  bigint      NOT NULL,
  subject     text        NOT NULL,
  event_id    text,
  event_type  text,
  order_id    text,
  raw         bytea       NOT NULL,
  raw_bytes   integer     NOT NULL,
  error       text        NOT NULL,
  attempts    integer     NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  UNIQUE (consumer, stream_seq)
);
