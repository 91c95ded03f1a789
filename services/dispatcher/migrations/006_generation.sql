-- Dispatch generations: 1 for the first dispatch, one more for each operator's "dispatch again"
-- (RedispatchRequested). created_at is then when the current generation was opened.
ALTER TABLE dispatch ADD COLUMN generation integer NOT NULL DEFAULT 1 CHECK (generation >= 1);
