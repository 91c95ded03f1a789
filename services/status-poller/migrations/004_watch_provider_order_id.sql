-- The provider's own order id from OrderSent (x-stor `order_id` of the acceptance): the id x-stor's
-- documented check asks by. NULL when the acceptance was learnt by reconciling an ambiguous placement
-- (then the watch is asked about by our reference, x-stor `order_uuid`), and for znet.
ALTER TABLE watch ADD COLUMN provider_order_id text;
