-- Routing across providers (issue 3): imported provider catalogs, routes that point at them,
-- per-attempt references, and the `ready` state (an attempt chosen and stored, not requested yet).

-- A provider's product list as last imported (import-catalog): never fetched per order.
-- product_code holds what a place call needs (znet: oyun = oyun_bilgi_id, kupur; x-stor: productId, params).
CREATE TABLE provider_product (
  provider     text        NOT NULL,
  product_id   text        NOT NULL,
  name         text        NOT NULL,
  price        text        NOT NULL,
  product_code jsonb       NOT NULL,
  available    boolean     NOT NULL DEFAULT true,
  details      jsonb       NOT NULL,
  imported_at  timestamptz NOT NULL,
  PRIMARY KEY (provider, product_id)
);

-- A route offer may name the provider's product id; product code and price then come from provider_product.
ALTER TABLE route ADD COLUMN provider_product_id text;
ALTER TABLE route ALTER COLUMN product_code SET DEFAULT '{}'::jsonb;

-- The dispatch row now carries its route (a snapshot taken when the order was first handled), the
-- index of the offer being tried, and the definite refusals of earlier offers.
ALTER TABLE dispatch ADD COLUMN route jsonb NOT NULL DEFAULT '[]'::jsonb;
ALTER TABLE dispatch ADD COLUMN offer_index integer NOT NULL DEFAULT 0;
ALTER TABLE dispatch ADD COLUMN history jsonb NOT NULL DEFAULT '[]'::jsonb;
ALTER TABLE dispatch DROP CONSTRAINT dispatch_state_check;
ALTER TABLE dispatch ADD CONSTRAINT dispatch_state_check
  CHECK (state IN ('ready', 'placing', 'sent', 'refused', 'unknown', 'review', 'unrouted'));

-- Every reference ever used (one per attempt), so none is reused by another order or attempt.
CREATE TABLE dispatch_reference (
  reference   text        PRIMARY KEY,
  order_id    text        NOT NULL,
  provider    text        NOT NULL,
  offer_index integer     NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO dispatch_reference (reference, order_id, provider, offer_index, created_at)
  SELECT reference, order_id, provider, 0, created_at FROM dispatch WHERE reference IS NOT NULL;

CREATE INDEX dispatch_open_ready ON dispatch (updated_at) WHERE state = 'ready';
