-- The adaptive learner reads the pending watches of each (provider, package), newest sent first,
-- as orders not done yet (issue 13: learning from completions alone is biased early in a regime).
CREATE INDEX watch_pending ON watch (provider, package_id, sent_at DESC) WHERE state = 'watching';
