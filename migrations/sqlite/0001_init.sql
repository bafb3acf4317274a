-- vigie state, SQLite backend. Times are Unix milliseconds (UTC).

-- One row per source ever polled, kept across config changes so a source
-- removed and added back does not alert on its back catalogue.
CREATE TABLE sources (
    name            TEXT PRIMARY KEY NOT NULL,
    etag            TEXT,
    last_modified   TEXT,
    last_success    INTEGER,
    last_error      TEXT,
    last_error_kind TEXT,
    last_error_at   INTEGER,
    failures        INTEGER NOT NULL DEFAULT 0,
    items_seen      INTEGER NOT NULL DEFAULT 0
);

-- Set membership, never a watermark: an article is new when none of its
-- keys is here.
CREATE TABLE article_keys (
    source     TEXT NOT NULL,
    key        TEXT NOT NULL,
    first_seen INTEGER NOT NULL,
    PRIMARY KEY (source, key)
) WITHOUT ROWID;

-- At most one alert per (rule, source, article), enforced by the database
-- so that racing writers cannot duplicate one.
CREATE TABLE alerts (
    id          INTEGER PRIMARY KEY,
    rule        TEXT NOT NULL,
    source      TEXT NOT NULL,
    article_key TEXT NOT NULL,
    payload     TEXT NOT NULL,
    detected_at INTEGER NOT NULL,
    UNIQUE (rule, source, article_key)
);

-- The outbox: one row per (alert, notifier).
CREATE TABLE deliveries (
    id              TEXT PRIMARY KEY NOT NULL,
    alert_id        INTEGER NOT NULL REFERENCES alerts (id),
    notifier        TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'dead')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error      TEXT,
    -- Set while one process sends the delivery, so that another process on
    -- the same state (a `vigie once` beside `vigie run`) does not send it
    -- too; a crashed sender's claim simply expires.
    claimed_until   INTEGER,
    created_at      INTEGER NOT NULL,
    sent_at         INTEGER
);

CREATE INDEX deliveries_due ON deliveries (notifier, state, next_attempt_at);
