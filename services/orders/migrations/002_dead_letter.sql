-- The dead-letter record (DESIGN I7): messages a consumer gave up on — malformed, refused, or
-- failing again and again — so that one bad event never stops the consumer. One row per
-- (consumer, stream sequence); listed newest first by GET /v1/dead-letters.
CREATE TABLE dead_letter (
  id          bigserial   PRIMARY KEY,
  consumer    text        NOT NULL,
  -- malformed | rejected | failed | delivery_limit | unapplicable
  kind        text        NOT NULL,
  stream_seq  bigint      NOT NULL,
  subject     text        NOT NULL,
  -- What could be read of it (null for a message too broken to tell).
  event_id    text,
  event_type  text,
  order_id    text,
  -- The message bytes as they were on the stream (bytea: they may hold NUL or invalid UTF-8), cut
  -- at 16 KiB; raw_bytes is the original size. Events carry no plaintext secrets (PINs are sealed).
  raw         bytea       NOT NULL,
  raw_bytes   integer     NOT NULL,
  error       text        NOT NULL,
  attempts    integer     NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  UNIQUE (consumer, stream_seq)
);
CREATE INDEX dead_letter_order ON dead_letter (order_id) WHERE order_id IS NOT NULL;
