//! The embedded SQLite backend: one file, WAL mode so readers never block
//! the writer, a busy timeout so two processes on one file wait rather than
//! fail, and write transactions taken with `BEGIN IMMEDIATE` so they never
//! fail halfway on a lock upgrade. The frequent writes of a process go
//! through one group commit (`writer.rs`): what is queued shares one
//! transaction, and each caller hears back once it is on disk.

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use super::{
    AlertRecord, DeliveryRecord, Health, NewAlert, OutboxCounts, PendingDelivery, PollOutcome,
    PollRecord, SourceState, Store, StoreError,
};
use crate::fetch::Validators;
use crate::model::{DigestItem, Payload};
use writer::{Op, Unchanged, Writer};

mod writer;

pub struct SqliteStore {
    pool: SqlitePool,
    /// The frequent small writes, committed together (see [`writer`]).
    writer: Writer,
}

fn ms(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

fn from_ms(ms: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_millis(ms)
}

impl SqliteStore {
    fn with_pool(pool: SqlitePool) -> SqliteStore {
        SqliteStore {
            writer: Writer::spawn(pool.clone()),
            pool,
        }
    }

    /// Opens (creating it if needed) and migrates the database at `path`.
    pub async fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::Open {
                path: path.display().to_string(),
                source: sqlx::Error::Io(e),
            })?;
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // NORMAL is durable across process crashes in WAL mode; only a
            // power loss can drop the last commits.
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(30))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            // A SQLite connection is a file handle, not a socket that can
            // go stale: testing it on every acquire would only add a round
            // trip to its thread.
            .test_before_acquire(false)
            .connect_with(options)
            .await
            .map_err(|source| StoreError::Open {
                path: path.display().to_string(),
                source,
            })?;
        sqlx::migrate!("migrations/sqlite").run(&pool).await?;
        Ok(SqliteStore::with_pool(pool))
    }

    /// A throwaway database, for dry runs on a machine with no state yet.
    pub async fn open_memory() -> Result<SqliteStore, StoreError> {
        let options = SqliteConnectOptions::new()
            .in_memory(true)
            .foreign_keys(true);
        // Every connection to ":memory:" is a database of its own: one only.
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .map_err(|source| StoreError::Open {
                path: ":memory:".into(),
                source,
            })?;
        sqlx::migrate!("migrations/sqlite").run(&pool).await?;
        Ok(SqliteStore::with_pool(pool))
    }
}

/// The columns [`source_state`] reads, in its order (a macro, so queries
/// stay static strings).
macro_rules! source_columns {
    () => {
        "etag, last_modified, last_success, last_error, last_error_kind, last_error_at,
         failures, items_seen, body_hash, hint_secs, last_poll_at, next_poll_at, first_success_at,
         last_new_at, health, health_since, via_feed"
    };
}
const SOURCE_COLUMN_COUNT: usize = 17;

fn source_state(r: &sqlx::sqlite::SqliteRow) -> SourceState {
    let time = |i: usize| r.get::<Option<i64>, _>(i).and_then(from_ms);
    SourceState {
        validators: Validators {
            etag: r.get(0),
            last_modified: r.get(1),
        },
        last_success: time(2),
        last_error: r.get(3),
        last_error_kind: r.get(4),
        last_error_at: time(5),
        failures: r.get::<i64, _>(6).try_into().unwrap_or(u32::MAX),
        items_seen: r.get::<i64, _>(7).try_into().unwrap_or(0),
        body_hash: r.get(8),
        hint: r
            .get::<Option<i64>, _>(9)
            .and_then(|s| u64::try_from(s).ok())
            .map(Duration::from_secs),
        last_poll: time(10),
        next_poll: time(11),
        first_success: time(12),
        last_new: time(13),
        health: Health::from_name(r.get::<&str, _>(14)),
        health_since: time(15),
        via_feed: r.get(16),
    }
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

/// One alert and its deliveries, inside a recording transaction: returns
/// how many alerts (0 or 1) were new.
async fn insert_alert(
    tx: &mut sqlx::SqliteConnection,
    source: &str,
    new: &NewAlert,
    at: i64,
) -> Result<usize, StoreError> {
    Ok(insert_alerts(tx, &[(source, new, at)]).await?.len())
}

/// An alert by what makes it unique: (source, rule, article key).
type AlertKey<'a> = (&'a str, &'a str, &'a str);

/// Alerts and their deliveries, each with its source and the time it is
/// recorded, inside a recording transaction, in two statements whatever
/// their number. Returns the alerts that were new; one that exists
/// already (same rule, source and article key) is skipped with its
/// deliveries.
async fn insert_alerts<'a>(
    tx: &mut sqlx::SqliteConnection,
    alerts: &[(&'a str, &'a NewAlert, i64)],
) -> Result<HashSet<AlertKey<'a>>, StoreError> {
    if alerts.is_empty() {
        return Ok(HashSet::new());
    }
    let rows = alerts
        .iter()
        .map(|(source, new, _)| {
            Ok(serde_json::json!([
                new.alert.rule,
                source,
                new.alert.article.key,
                serde_json::to_string(&new.alert)?,
                ms(new.alert.detected_at),
            ]))
        })
        .collect::<Result<Vec<_>, serde_json::Error>>()?;
    let inserted: Vec<(i64, String, String, String)> = sqlx::query_as(
        "INSERT INTO alerts (rule, source, article_key, payload, detected_at)
         SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4
         FROM json_each(?) WHERE true
         ON CONFLICT DO NOTHING RETURNING id, source, rule, article_key",
    )
    .bind(serde_json::to_string(&rows)?)
    .fetch_all(&mut *tx)
    .await?;
    let ids: std::collections::HashMap<(&str, &str, &str), i64> = inserted
        .iter()
        .map(|(id, source, rule, key)| ((source.as_str(), rule.as_str(), key.as_str()), *id))
        .collect();
    let mut new_alerts = HashSet::new();
    let mut deliveries = Vec::new();
    for &(source, new, at) in alerts {
        let key = (
            source,
            new.alert.rule.as_str(),
            new.alert.article.key.as_str(),
        );
        let Some(&alert_id) = ids.get(&key) else {
            continue;
        };
        new_alerts.insert(key);
        for d in &new.deliveries {
            let (state, due) = match d.hold_until {
                Some(until) => ("held", ms(until)),
                None => ("pending", at),
            };
            deliveries.push(serde_json::json!([
                d.id, alert_id, d.notifier, state, due, at
            ]));
        }
    }
    sqlx::query(
        "INSERT INTO deliveries (id, alert_id, notifier, state, next_attempt_at, created_at)
         SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5
         FROM json_each(?) WHERE true ON CONFLICT DO NOTHING",
    )
    .bind(serde_json::to_string(&deliveries)?)
    .execute(&mut *tx)
    .await?;
    Ok(new_alerts)
}

/// Records successful polls, each of a different source, inside a write
/// transaction, in five statements at most whatever their number (see
/// [`Store::record_poll`]).
async fn record_polls_in(
    tx: &mut sqlx::SqliteConnection,
    polls: &[&PollRecord],
) -> Result<Vec<PollOutcome>, StoreError> {
    // Every key in one statement. When every key was new, as on a first
    // poll, that is the whole answer; otherwise one query names the keys
    // this transaction added (rows stream back one message each, so asking
    // only when needed keeps a busy cycle cheap).
    let keys: Vec<(&str, &str, i64)> = polls
        .iter()
        .flat_map(|poll| {
            let at = ms(poll.at);
            poll.articles
                .iter()
                .flat_map(|a| a.keys.iter())
                .map(move |key| (poll.source.as_str(), key.as_str(), at))
        })
        .collect();
    let keys_json = serde_json::to_string(&keys)?;
    let added = sqlx::query(
        "INSERT INTO article_keys (source, key, first_seen)
         SELECT value ->> 0, value ->> 1, value ->> 2 FROM json_each(?) WHERE true
         ON CONFLICT DO NOTHING",
    )
    .bind(&keys_json)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let distinct: HashSet<(&str, &str)> = keys.iter().map(|&(s, k, _)| (s, k)).collect();
    let mut inserted: HashSet<(&str, &str)> = if added as usize == distinct.len() {
        distinct
    } else if added == 0 {
        HashSet::new()
    } else {
        // This transaction holds the write lock, and each source is in it
        // once: a key first seen at its poll's very millisecond is one it
        // added.
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT k.source, k.key FROM json_each(?) AS j
             JOIN article_keys AS k ON k.source = j.value ->> 0 AND k.key = j.value ->> 1
                 AND k.first_seen = j.value ->> 2",
        )
        .bind(&keys_json)
        .fetch_all(&mut *tx)
        .await?;
        let rows: HashSet<(String, String)> = rows.into_iter().collect();
        distinct
            .into_iter()
            .filter(|&(s, k)| rows.contains(&(s.to_string(), k.to_string())))
            .collect()
    };
    let mut outcomes = vec![PollOutcome::default(); polls.len()];
    // (poll index, source, alert, time)
    let mut alerts = Vec::new();
    for (p, (poll, outcome)) in polls.iter().zip(&mut outcomes).enumerate() {
        let at = ms(poll.at);
        for article in &poll.articles {
            // In document order, a key counts as new for the first article
            // that has it, as if each were inserted in turn.
            let mut main_is_new = false;
            for (i, key) in article.keys.iter().enumerate() {
                let new = inserted.remove(&(poll.source.as_str(), key.as_str()));
                if i == 0 {
                    main_is_new = new;
                }
            }
            if article.known || !main_is_new {
                continue;
            }
            outcome.articles += 1;
            alerts.extend(
                article
                    .alerts
                    .iter()
                    .map(|a| (p, (poll.source.as_str(), a, at))),
            );
        }
    }
    let rows: Vec<(&str, &NewAlert, i64)> = alerts.iter().map(|(_, row)| *row).collect();
    let new_alerts = insert_alerts(tx, &rows).await?;
    for (p, (source, alert, _)) in &alerts {
        let key = (
            *source,
            alert.alert.rule.as_str(),
            alert.alert.article.key.as_str(),
        );
        if new_alerts.contains(&key) {
            outcomes[*p].alerts += 1;
            outcomes[*p].deliveries += alert.deliveries.len();
        }
    }
    let sources = polls
        .iter()
        .zip(&outcomes)
        .map(|(poll, outcome)| {
            serde_json::json!([
                poll.source,
                poll.validators.etag,
                poll.validators.last_modified,
                ms(poll.at),
                outcome.articles,
                poll.body_hash,
                poll.hint.map(secs),
                poll.next_poll.map(ms),
                poll.via_feed,
            ])
        })
        .collect::<Vec<_>>();
    sqlx::query(
        "INSERT INTO sources (name, etag, last_modified, last_success, failures, items_seen,
             body_hash, hint_secs, last_poll_at, first_success_at, last_new_at, next_poll_at,
             via_feed)
         SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, 0, value ->> 4, value ->> 5,
             value ->> 6, value ->> 3, value ->> 3,
             CASE WHEN value ->> 4 > 0 THEN value ->> 3 END, value ->> 7, value ->> 8
         FROM json_each(?) WHERE true
         ON CONFLICT (name) DO UPDATE SET etag = excluded.etag, last_modified = excluded.last_modified,
             last_success = excluded.last_success, failures = 0,
             items_seen = sources.items_seen + excluded.items_seen,
             body_hash = excluded.body_hash, hint_secs = excluded.hint_secs,
             last_poll_at = excluded.last_poll_at,
             first_success_at = COALESCE(sources.first_success_at, excluded.first_success_at),
             last_new_at = COALESCE(excluded.last_new_at, sources.last_new_at),
             next_poll_at = COALESCE(excluded.next_poll_at, sources.next_poll_at),
             via_feed = excluded.via_feed",
    )
    .bind(serde_json::to_string(&sources)?)
    .execute(&mut *tx)
    .await?;
    Ok(outcomes)
}

/// `304`s and unchanged bodies, inside a write transaction, in one
/// statement whatever their number (see [`Store::record_not_modified`]).
async fn not_modified_in(
    tx: &mut sqlx::SqliteConnection,
    polls: &[&Unchanged],
) -> Result<(), StoreError> {
    let rows: Vec<serde_json::Value> = polls
        .iter()
        .map(|u| {
            serde_json::json!([
                u.source,
                u.at,
                u.validators.is_some(),
                u.validators.as_ref().and_then(|v| v.etag.as_deref()),
                u.validators
                    .as_ref()
                    .and_then(|v| v.last_modified.as_deref()),
                u.hint_secs,
                u.next_poll,
            ])
        })
        .collect();
    sqlx::query(
        "UPDATE sources SET last_success = u.at, last_poll_at = u.at, failures = 0,
             first_success_at = COALESCE(first_success_at, u.at),
             etag = CASE WHEN u.given THEN u.new_etag ELSE etag END,
             last_modified = CASE WHEN u.given THEN u.new_last_modified ELSE last_modified END,
             hint_secs = COALESCE(u.hint, hint_secs), next_poll_at = u.next
         FROM (SELECT value ->> 0 AS source, value ->> 1 AS at, value ->> 2 AS given,
                      value ->> 3 AS new_etag, value ->> 4 AS new_last_modified,
                      value ->> 5 AS hint, value ->> 6 AS next
               FROM json_each(?)) AS u
         WHERE sources.name = u.source",
    )
    .bind(serde_json::to_string(&rows)?)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Deliveries the servers accepted, `(id, at)`, inside a write
/// transaction, in one statement whatever their number.
async fn sent_in(tx: &mut sqlx::SqliteConnection, sent: &[(&str, i64)]) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE deliveries SET state = 'sent', sent_at = s.at, attempts = attempts + 1,
             last_error = NULL, claimed_until = NULL
         FROM (SELECT value ->> 0 AS id, value ->> 1 AS at FROM json_each(?)) AS s
         WHERE deliveries.id = s.id AND deliveries.state = 'pending'",
    )
    .bind(serde_json::to_string(sent)?)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// When the scheduler means to poll `source` next.
async fn next_poll_in(
    tx: &mut sqlx::SqliteConnection,
    source: &str,
    at: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO sources (name, next_poll_at) VALUES (?, ?)
         ON CONFLICT (name) DO UPDATE SET next_poll_at = excluded.next_poll_at",
    )
    .bind(source)
    .bind(at)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// A failed poll; returns the consecutive failures, this one included.
async fn failure_in(
    tx: &mut sqlx::SqliteConnection,
    source: &str,
    kind: &str,
    message: &str,
    at: i64,
) -> Result<u32, StoreError> {
    let failures: i64 = sqlx::query_scalar(
        "INSERT INTO sources (name, last_error, last_error_kind, last_error_at, last_poll_at, failures)
         VALUES (?1, ?2, ?3, ?4, ?4, 1)
         ON CONFLICT (name) DO UPDATE SET last_error = excluded.last_error,
             last_error_kind = excluded.last_error_kind, last_error_at = excluded.last_error_at,
             last_poll_at = excluded.last_poll_at, failures = sources.failures + 1
         RETURNING failures",
    )
    .bind(source)
    .bind(message)
    .bind(kind)
    .bind(at)
    .fetch_one(&mut *tx)
    .await?;
    Ok(failures.try_into().unwrap_or(u32::MAX))
}

/// Claims those of `ids` that are pending and free until `until`.
async fn claim_in(
    tx: &mut sqlx::SqliteConnection,
    ids: &[String],
    now: i64,
    until: i64,
) -> Result<HashSet<String>, StoreError> {
    let ids_json = serde_json::to_string(ids)?;
    let claimed = sqlx::query(
        "UPDATE deliveries SET claimed_until = ?
         WHERE id IN (SELECT value FROM json_each(?)) AND state = 'pending'
           AND (claimed_until IS NULL OR claimed_until < ?)",
    )
    .bind(until)
    .bind(&ids_json)
    .bind(now)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let distinct: HashSet<&String> = ids.iter().collect();
    if claimed as usize == distinct.len() {
        return Ok(ids.iter().cloned().collect());
    }
    if claimed == 0 {
        return Ok(HashSet::new());
    }
    // Some were taken meanwhile: ask which are ours (rows stream back one
    // message each, so only when needed).
    let mine = sqlx::query_scalar(
        "SELECT id FROM deliveries
         WHERE id IN (SELECT value FROM json_each(?)) AND state = 'pending' AND claimed_until = ?",
    )
    .bind(&ids_json)
    .bind(until)
    .fetch_all(&mut *tx)
    .await?;
    Ok(mine.into_iter().collect())
}

/// Moves the claims held until `held` to `until` (`None` releases them);
/// returns the ids still held.
async fn renew_in(
    tx: &mut sqlx::SqliteConnection,
    ids: &[String],
    held: i64,
    until: Option<i64>,
) -> Result<HashSet<String>, StoreError> {
    let renewed = sqlx::query_scalar(
        "UPDATE deliveries SET claimed_until = ?
         WHERE id IN (SELECT value FROM json_each(?)) AND state = 'pending'
           AND claimed_until = ?
         RETURNING id",
    )
    .bind(until)
    .bind(serde_json::to_string(ids)?)
    .bind(held)
    .fetch_all(&mut *tx)
    .await?;
    Ok(renewed.into_iter().collect())
}

/// A failed delivery: tried again at `next_attempt`, or dead without one.
async fn failed_in(
    tx: &mut sqlx::SqliteConnection,
    id: &str,
    error: &str,
    next_attempt: Option<i64>,
) -> Result<(), StoreError> {
    match next_attempt {
        Some(next) => sqlx::query(
            "UPDATE deliveries SET attempts = attempts + 1, last_error = ?, next_attempt_at = ?, claimed_until = NULL
             WHERE id = ? AND state = 'pending'",
        )
        .bind(error)
        .bind(next)
        .bind(id),
        None => sqlx::query(
            "UPDATE deliveries SET state = 'dead', attempts = attempts + 1, last_error = ?, claimed_until = NULL
             WHERE id = ? AND state = 'pending'",
        )
        .bind(error)
        .bind(id),
    }
    .execute(&mut *tx)
    .await?;
    Ok(())
}

#[async_trait]
impl Store for SqliteStore {
    async fn source_state(&self, source: &str) -> Result<Option<SourceState>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            source_columns!(),
            " FROM sources WHERE name = ?"
        ))
        .bind(source)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| source_state(&r)))
    }

    async fn sources(&self) -> Result<Vec<(String, SourceState)>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            source_columns!(),
            ", name FROM sources ORDER BY name"
        ))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| (r.get::<String, _>(SOURCE_COLUMN_COUNT), source_state(r)))
            .collect())
    }

    async fn known_keys(
        &self,
        source: &str,
        keys: &[String],
    ) -> Result<HashSet<String>, StoreError> {
        let mut known = HashSet::new();
        // Batched to stay far below SQLite's bound-parameter limit.
        for chunk in keys.chunks(500) {
            let json = serde_json::to_string(chunk)?;
            let rows = sqlx::query(
                "SELECT key FROM article_keys WHERE source = ? AND key IN (SELECT value FROM json_each(?))",
            )
            .bind(source)
            .bind(json)
            .fetch_all(&self.pool)
            .await?;
            known.extend(rows.into_iter().map(|r| r.get::<String, _>(0)));
        }
        Ok(known)
    }

    async fn record_poll(&self, poll: PollRecord) -> Result<PollOutcome, StoreError> {
        self.writer.write(Op::Poll(poll)).await?.poll()
    }

    async fn record_not_modified(
        &self,
        source: &str,
        at: DateTime<Utc>,
        validators: Option<&Validators>,
        hint: Option<Duration>,
        next_poll: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.writer
            .write(Op::NotModified(Unchanged {
                source: source.to_string(),
                at: ms(at),
                validators: validators.cloned(),
                hint_secs: hint.map(secs),
                next_poll: ms(next_poll),
            }))
            .await?;
        Ok(())
    }

    async fn set_next_poll(&self, source: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.writer
            .write(Op::NextPoll {
                source: source.to_string(),
                at: ms(at),
            })
            .await?;
        Ok(())
    }

    async fn set_health(
        &self,
        source: &str,
        from: Health,
        to: Health,
        at: DateTime<Utc>,
        signal: Option<&NewAlert>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let changed = sqlx::query(
            "UPDATE sources SET health = ?, health_since = ? WHERE name = ? AND health = ?",
        )
        .bind(to.as_str())
        .bind(ms(at))
        .bind(source)
        .bind(from.as_str())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if changed == 0 {
            return Ok(false);
        }
        if let Some(signal) = signal {
            insert_alert(&mut tx, source, signal, ms(at)).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn record_failure(
        &self,
        source: &str,
        kind: &str,
        message: &str,
        at: DateTime<Utc>,
    ) -> Result<u32, StoreError> {
        self.writer
            .write(Op::Failure {
                source: source.to_string(),
                kind: kind.to_string(),
                message: message.to_string(),
                at: ms(at),
            })
            .await?
            .count()
    }

    async fn due_deliveries(
        &self,
        notifier: &str,
        due: Option<DateTime<Utc>>,
        limit: u32,
    ) -> Result<Vec<PendingDelivery>, StoreError> {
        let rows = sqlx::query(
            "SELECT d.id, d.notifier, d.attempts, a.payload FROM deliveries d LEFT JOIN alerts a ON a.id = d.alert_id
             WHERE d.notifier = ? AND d.state = 'pending' AND d.next_attempt_at <= ?
               AND (d.claimed_until IS NULL OR d.claimed_until < ?)
             ORDER BY d.next_attempt_at, d.created_at, d.id LIMIT ?",
        )
        .bind(notifier)
        .bind(due.map_or(i64::MAX, ms))
        .bind(ms(Utc::now()))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        let mut pending = Vec::with_capacity(rows.len());
        for r in rows {
            let id: String = r.get(0);
            let payload = match r.get::<Option<&str>, _>(3) {
                Some(json) => serde_json::from_str(json).map(|a| Payload::Alert(Box::new(a))),
                None => self.digest_items(&id).await?.map(Payload::Digest),
            };
            match payload {
                Ok(payload) => pending.push(PendingDelivery {
                    id,
                    notifier: r.get(1),
                    attempts: r.get::<i64, _>(2).try_into().unwrap_or(u32::MAX),
                    payload,
                }),
                // One unreadable row must not block its notifier forever:
                // it ends dead, with the reason, for an admin to look at.
                Err(e) => {
                    tracing::error!(delivery = %id, error = %e, "undecodable alert in the outbox; marked dead");
                    self.delivery_dead(&id, &format!("undecodable alert payload: {e}"))
                        .await?;
                }
            }
        }
        Ok(pending)
    }

    async fn claim_delivery(
        &self,
        id: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let claimed = sqlx::query(
            "UPDATE deliveries SET claimed_until = ?
             WHERE id = ? AND state = 'pending' AND (claimed_until IS NULL OR claimed_until < ?)",
        )
        .bind(ms(until))
        .bind(id)
        .bind(ms(now))
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(claimed == 1)
    }

    async fn claim_deliveries(
        &self,
        ids: &[String],
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<HashSet<String>, StoreError> {
        self.writer
            .write(Op::Claim {
                ids: ids.to_vec(),
                now: ms(now),
                until: ms(until),
            })
            .await?
            .ids()
    }

    async fn renew_claims(
        &self,
        ids: &[String],
        held: DateTime<Utc>,
        until: Option<DateTime<Utc>>,
    ) -> Result<HashSet<String>, StoreError> {
        self.writer
            .write(Op::Renew {
                ids: ids.to_vec(),
                held: ms(held),
                until: until.map(ms),
            })
            .await?
            .ids()
    }

    async fn delivery_sent(&self, id: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.writer
            .write(Op::Sent {
                id: id.to_string(),
                at: ms(at),
            })
            .await?;
        Ok(())
    }

    async fn delivery_failed(
        &self,
        id: &str,
        error: &str,
        next_attempt: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.writer
            .write(Op::Failed {
                id: id.to_string(),
                error: error.to_string(),
                next_attempt: Some(ms(next_attempt)),
            })
            .await?;
        Ok(())
    }

    async fn delivery_dead(&self, id: &str, error: &str) -> Result<(), StoreError> {
        self.writer
            .write(Op::Failed {
                id: id.to_string(),
                error: error.to_string(),
                next_attempt: None,
            })
            .await?;
        Ok(())
    }

    async fn outbox_counts(&self) -> Result<OutboxCounts, StoreError> {
        let rows = sqlx::query("SELECT state, COUNT(*) FROM deliveries GROUP BY state")
            .fetch_all(&self.pool)
            .await?;
        let mut counts = OutboxCounts::default();
        for r in rows {
            let n = r.get::<i64, _>(1).try_into().unwrap_or(0);
            match r.get::<&str, _>(0) {
                "pending" => counts.pending = n,
                "sent" => counts.sent = n,
                "dead" => counts.dead = n,
                "held" => counts.held = n,
                // Digested alerts are counted by their digest's row.
                _ => {}
            }
        }
        Ok(counts)
    }

    async fn next_delivery_due(&self, notifier: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        let next: Option<i64> = sqlx::query_scalar(
            "SELECT MIN(MAX(next_attempt_at, COALESCE(claimed_until, 0))) FROM deliveries
             WHERE notifier = ? AND state IN ('pending', 'held')",
        )
        .bind(notifier)
        .fetch_one(&self.pool)
        .await?;
        Ok(next.and_then(from_ms))
    }

    async fn pending_by_notifier(&self) -> Result<Vec<(String, u64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT notifier, COUNT(*) FROM deliveries WHERE state = 'pending' GROUP BY notifier",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| (r.get(0), r.get::<i64, _>(1).try_into().unwrap_or(0)))
            .collect())
    }

    async fn close_digest(
        &self,
        notifier: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let first: Option<String> = sqlx::query_scalar(
            "SELECT id FROM deliveries WHERE notifier = ? AND state = 'held' AND next_attempt_at <= ?
             ORDER BY created_at, id LIMIT 1",
        )
        .bind(notifier)
        .bind(ms(now))
        .fetch_optional(&mut *tx)
        .await?;
        let Some(first) = first else {
            return Ok(None);
        };
        let id = crate::normalize::short_hash(&["digest", notifier, &first, &ms(now).to_string()]);
        sqlx::query(
            "INSERT INTO deliveries (id, alert_id, notifier, state, next_attempt_at, created_at)
             VALUES (?, NULL, ?, 'pending', ?, ?)",
        )
        .bind(&id)
        .bind(notifier)
        .bind(ms(now))
        .bind(ms(now))
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE deliveries SET state = 'digested', digest_id = ?
             WHERE notifier = ? AND state = 'held' AND next_attempt_at <= ?",
        )
        .bind(&id)
        .bind(notifier)
        .bind(ms(now))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(id))
    }

    async fn release_held(&self, notifier: &str) -> Result<u64, StoreError> {
        Ok(sqlx::query(
            "UPDATE deliveries SET state = 'pending', next_attempt_at = created_at
             WHERE notifier = ? AND state = 'held'",
        )
        .bind(notifier)
        .execute(&self.pool)
        .await?
        .rows_affected())
    }

    async fn requeue(&self, id: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let changed = sqlx::query(
            "UPDATE deliveries SET state = 'pending', attempts = 0, next_attempt_at = ?, claimed_until = NULL
             WHERE id = ? AND state = 'dead'",
        )
        .bind(ms(now))
        .bind(id)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(changed == 1)
    }

    async fn requeue_dead(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        Ok(sqlx::query(
            "UPDATE deliveries SET state = 'pending', attempts = 0, next_attempt_at = ?, claimed_until = NULL
             WHERE state = 'dead'",
        )
        .bind(ms(now))
        .execute(&self.pool)
        .await?
        .rows_affected())
    }

    async fn alerts_since(
        &self,
        since: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<AlertRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, rule, source, json_extract(payload, '$.article.title'),
                    json_extract(payload, '$.article.url'), detected_at
             FROM alerts WHERE detected_at >= ? ORDER BY detected_at DESC, id DESC LIMIT ?",
        )
        .bind(ms(since))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        let mut records = Vec::with_capacity(rows.len());
        let mut index = std::collections::HashMap::new();
        for r in rows {
            index.insert(r.get::<i64, _>(0), records.len());
            records.push(AlertRecord {
                rule: r.get(1),
                source: r.get(2),
                title: r.get::<Option<String>, _>(3).unwrap_or_default(),
                url: r.get(4),
                detected_at: from_ms(r.get(5)).unwrap_or_default(),
                deliveries: Vec::new(),
            });
        }
        let ids: Vec<i64> = index.keys().copied().collect();
        let rows = sqlx::query(
            "SELECT d.alert_id, d.notifier, d.id, d.state, d.attempts, d.last_error, d.next_attempt_at, d.sent_at,
                    g.id, g.state, g.attempts, g.last_error, g.next_attempt_at, g.sent_at
             FROM deliveries d LEFT JOIN deliveries g ON g.id = d.digest_id
             WHERE d.alert_id IN (SELECT value FROM json_each(?))
             ORDER BY d.notifier",
        )
        .bind(serde_json::to_string(&ids)?)
        .fetch_all(&self.pool)
        .await?;
        let record = |r: &sqlx::sqlite::SqliteRow, at: usize, notifier: String| DeliveryRecord {
            id: r.get(at),
            notifier,
            state: r.get(at + 1),
            attempts: r.get::<i64, _>(at + 2).try_into().unwrap_or(u32::MAX),
            last_error: r.get(at + 3),
            next_attempt: from_ms(r.get(at + 4)),
            sent_at: r.get::<Option<i64>, _>(at + 5).and_then(from_ms),
            digest: None,
        };
        for r in rows {
            let Some(&i) = index.get(&r.get::<i64, _>(0)) else {
                continue;
            };
            let notifier: String = r.get(1);
            let mut d = record(&r, 2, notifier.clone());
            if r.get::<Option<String>, _>(8).is_some() {
                d.digest = Some(Box::new(record(&r, 8, notifier)));
            }
            records[i].deliveries.push(d);
        }
        Ok(records)
    }

    async fn record_alert(&self, alert: &NewAlert, at: DateTime<Utc>) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let alerts = insert_alert(&mut tx, &alert.alert.source, alert, ms(at)).await?;
        tx.commit().await?;
        Ok(alerts == 1)
    }
}

impl SqliteStore {
    /// The alerts a digest delivery carries, oldest first.
    async fn digest_items(
        &self,
        digest: &str,
    ) -> Result<Result<Vec<DigestItem>, serde_json::Error>, StoreError> {
        let rows = sqlx::query(
            "SELECT d.id, a.payload FROM deliveries d JOIN alerts a ON a.id = d.alert_id
             WHERE d.digest_id = ? ORDER BY a.detected_at, d.id",
        )
        .bind(digest)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| {
                serde_json::from_str(r.get::<&str, _>(1)).map(|alert| DigestItem {
                    id: r.get(0),
                    alert,
                })
            })
            .collect())
    }
}
