-- Route table: for each sellable package, the ordered provider offers (seeded from CATALOG_FILE at start).
CREATE TABLE route (
  package_id   text        NOT NULL,
  rank         integer     NOT NULL,
  provider     text        NOT NULL,
  product_code jsonb       NOT NULL,
  max_cost     numeric     NOT NULL,
  updated_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (package_id, rank)
);

-- The dispatch state machine (DESIGN.md §4), one row per order.
-- placing → sent | refused | unknown → (reconciled) sent | refused | review; unrouted = no configured offer.
CREATE TABLE dispatch (
  order_id          text        PRIMARY KEY,
  state             text        NOT NULL CHECK (state IN ('placing', 'sent', 'refused', 'unknown', 'review', 'unrouted')),
  package_id        text        NOT NULL,
  player_id         text        NOT NULL,
  extra             text,
  -- The provider leg: chosen once, committed before the first call, never changed.
  provider          text,
  reference         text        UNIQUE,
  product_code      jsonb,
  max_cost          numeric,
  -- Counters: handling steps, place requests started, unclear reconcile answers, consecutive not-found answers.
  attempt           integer     NOT NULL DEFAULT 0,
  place_calls       integer     NOT NULL DEFAULT 0,
  reconcile_tries   integer     NOT NULL DEFAULT 0,
  not_found_streak  integer     NOT NULL DEFAULT 0,
  -- Held while a provider call is in flight, so another replica does not act on the row meanwhile.
  lease_until       timestamptz,
  -- Outcome fields.
  cost              text,
  balance           text,
  provider_order_id text,
  reason_code       text,
  provider_code     text,
  message           text,
  -- Evidence (causes, never secrets).
  place_error       text,
  last_error        text,
  version           integer     NOT NULL,
  created_at        timestamptz NOT NULL,
  updated_at        timestamptz NOT NULL,
  CHECK (state = 'unrouted' OR (provider IS NOT NULL AND reference IS NOT NULL AND product_code IS NOT NULL))
);

CREATE INDEX dispatch_open ON dispatch (updated_at) WHERE state IN ('placing', 'unknown');
