-- Digests and requeueing (issue 6). Times are Unix milliseconds.
--
-- A delivery now carries either one alert or, for a notifier with a
-- `digest`, a digest of several: alerts wait for their digest as 'held'
-- rows (next_attempt_at = the end of their period); when the period ends,
-- one digest row is created (alert_id NULL) and the held rows become
-- 'digested', pointing at it through digest_id. The digest row then goes
-- through pending -> sent | dead like any delivery. SQLite cannot relax a
-- NOT NULL or a CHECK in place, so the table is rebuilt.

CREATE TABLE deliveries_new (
    id              TEXT PRIMARY KEY NOT NULL,
    alert_id        INTEGER REFERENCES alerts (id),
    notifier        TEXT NOT NULL,
    state           TEXT NOT NULL
        CHECK (state IN ('pending', 'sent', 'dead', 'held', 'digested')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error      TEXT,
    claimed_until   INTEGER,
    created_at      INTEGER NOT NULL,
    sent_at         INTEGER,
    -- For a 'digested' row: the digest delivery that carries it.
    digest_id       TEXT
);

INSERT INTO deliveries_new (id, alert_id, notifier, state, attempts, next_attempt_at,
        last_error, claimed_until, created_at, sent_at)
    SELECT id, alert_id, notifier, state, attempts, next_attempt_at,
        last_error, claimed_until, created_at, sent_at
    FROM deliveries;

DROP TABLE deliveries;
ALTER TABLE deliveries_new RENAME TO deliveries;

CREATE INDEX deliveries_due ON deliveries (notifier, state, next_attempt_at);
CREATE INDEX deliveries_alert ON deliveries (alert_id);
CREATE INDEX deliveries_digest ON deliveries (digest_id) WHERE digest_id IS NOT NULL;
