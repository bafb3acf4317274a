-- Source health and polling hints (issue 3). Times are Unix milliseconds.

-- SHA-256 of the last body read: a 200 with the same bytes costs no parsing
-- and no matching.
ALTER TABLE sources ADD COLUMN body_hash TEXT;
-- The feed's own polling hint in seconds (RSS <ttl>, Cache-Control max-age),
-- kept for the polls that skip parsing.
ALTER TABLE sources ADD COLUMN hint_secs INTEGER;
ALTER TABLE sources ADD COLUMN last_poll_at INTEGER;
-- When the scheduler means to poll it next (for `vigie status`, and so a
-- restarted daemon keeps a failing source's backoff).
ALTER TABLE sources ADD COLUMN next_poll_at INTEGER;
ALTER TABLE sources ADD COLUMN first_success_at INTEGER;
-- The last poll that found a new article: `stale_after` counts from it.
ALTER TABLE sources ADD COLUMN last_new_at INTEGER;
-- What the operator was last told about the source, so each change is
-- signalled once, across polls, restarts and processes.
ALTER TABLE sources ADD COLUMN health TEXT NOT NULL DEFAULT 'ok'
    CHECK (health IN ('ok', 'failing', 'stale'));
ALTER TABLE sources ADD COLUMN health_since INTEGER;
