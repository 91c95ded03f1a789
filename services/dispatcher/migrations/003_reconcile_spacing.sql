-- Money safety (hardening): the earliest time of the next reconcile is stored on the row, so a
-- duplicate or early redelivery of OrderCreated waits for it instead of asking the provider again.
ALTER TABLE dispatch ADD COLUMN next_try_at timestamptz;
