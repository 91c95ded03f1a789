-- Past-deadline watches of providers this replica cannot check right now (none configured,
-- paused, circuit open) go to review without a check: found by deadline, not by due time.
CREATE INDEX watch_deadline ON watch (deadline_at) WHERE state = 'watching';
