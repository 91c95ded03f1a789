-- When a check last said "pending": the lower bound of an order's time to done.
ALTER TABLE watch ADD COLUMN last_pending_at timestamptz;

-- Time to done of completed orders, for the adaptive schedule (adaptive.ts):
-- still pending lower_ms after OrderSent, done at upper_ms. One row per order,
-- written in the transaction that completes the watch. Only the most recent
-- rows per (provider, package) are kept (the scheduler trims the rest).
CREATE TABLE completion_sample (
  id          bigserial PRIMARY KEY,
  order_id    text NOT NULL UNIQUE,
  provider    text NOT NULL,
  package_id  text NOT NULL,
  lower_ms    bigint NOT NULL CHECK (lower_ms >= 0),
  upper_ms    bigint NOT NULL CHECK (upper_ms >= lower_ms),
  recorded_at timestamptz NOT NULL
);

-- The newest rows per (provider, package) first: the window the scheduler loads and trims to.
CREATE INDEX completion_sample_recent ON completion_sample (provider, package_id, id DESC);
