-- One row per order the poller follows after OrderSent (DESIGN.md §5).
CREATE TABLE watch (
  order_id       text PRIMARY KEY,
  provider       text NOT NULL,
  reference      text NOT NULL,
  package_id     text NOT NULL,
  correlation_id text NOT NULL,
  sent_event_id  text NOT NULL,
  state          text NOT NULL CHECK (state IN ('watching', 'completed', 'failed', 'review')),
  attempt        integer NOT NULL DEFAULT 0 CHECK (attempt >= 0),
  next_check_at  timestamptz NOT NULL,
  deadline_at    timestamptz NOT NULL,
  lease_owner    text,
  lease_until    timestamptz,
  unclear_in_row integer NOT NULL DEFAULT 0,
  sent_at        timestamptz NOT NULL,
  last_outcome   text,
  created_at     timestamptz NOT NULL,
  updated_at     timestamptz NOT NULL
);

-- The scheduler's due query: only rows still being watched, by due time.
CREATE INDEX watch_due ON watch (next_check_at) WHERE state = 'watching';
