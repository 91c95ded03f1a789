-- Holds before dispatch (hardening): why an order waits (provider paused, circuit open, shut out,
-- not configured), since when, and how many DispatchHeld events the order has (their msgID numbers).
ALTER TABLE dispatch ADD COLUMN hold_reason  text;
ALTER TABLE dispatch ADD COLUMN hold_message text;
ALTER TABLE dispatch ADD COLUMN held_since   timestamptz;
ALTER TABLE dispatch ADD COLUMN holds        integer NOT NULL DEFAULT 0;
ALTER TABLE dispatch ADD CONSTRAINT dispatch_hold_check
  CHECK ((hold_reason IS NULL) = (held_since IS NULL) AND (hold_reason IS NULL) = (hold_message IS NULL));

-- Whether a provider shuts us out (znet's empty body: wrong password, API access off, IP not allowed),
-- as the dispatcher's calls last saw it; shared by every replica and shown on the provider's status.
CREATE TABLE provider_access (
  provider        text        PRIMARY KEY,
  -- Set by the first reply that shut us out, cleared by the next readable reply.
  shut_out_since  timestamptz,
  last_denied_at  timestamptz NOT NULL,
  last_cause      text        NOT NULL,
  denied_replies  bigint      NOT NULL DEFAULT 0
);
