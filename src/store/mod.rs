//! Durable state behind one [`Store`] trait: per-source state, the article
//! keys seen per source, alerts, and the outbox of deliveries. SQLite
//! ([`sqlite`]) is the embedded default; the trait speaks only plain types so
//! a PostgreSQL backend can follow.

pub mod sqlite;

use std::collections::HashSet;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::fetch::Validators;
use crate::model::{Alert, Payload};

pub use sqlite::SqliteStore;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the state database {path}: {source}")]
    Open { path: String, source: sqlx::Error },
    #[error("cannot migrate the state database: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("state database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("corrupt alert payload in the state database: {0}")]
    Payload(#[from] serde_json::Error),
    /// A write committed with others (see `sqlite::writer`) whose
    /// transaction could not start: the first error's message.
    #[error("state database error: {0}")]
    Group(String),
}

/// What is remembered of one source between polls.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SourceState {
    pub validators: Validators,
    pub last_success: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub last_error_kind: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
    /// Consecutive failed polls (0 after a success).
    pub failures: u32,
    /// New articles recorded since the source was first polled.
    pub items_seen: u64,
    /// SHA-256 (hex) of the last body read.
    pub body_hash: Option<String>,
    /// The feed's own polling hint (`<ttl>`, `Cache-Control: max-age`).
    pub hint: Option<Duration>,
    pub last_poll: Option<DateTime<Utc>>,
    pub next_poll: Option<DateTime<Utc>>,
    pub first_success: Option<DateTime<Utc>>,
    /// The last poll that found a new article.
    pub last_new: Option<DateTime<Utc>>,
    /// What the operator was last told.
    pub health: Health,
    pub health_since: Option<DateTime<Utc>>,
    /// The feed an HTML page of a `kind = "auto"` source announces, polled
    /// in its place; `None`: the source's own URL.
    pub via_feed: Option<String>,
}

/// A source's health as signalled to the operator (see [`crate::health`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    #[default]
    Ok,
    /// `FAILING_AFTER` consecutive failures or more.
    Failing,
    /// No new article for `stale_after`.
    Stale,
}

impl Health {
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Ok => "ok",
            Health::Failing => "failing",
            Health::Stale => "stale",
        }
    }

    /// The stored name; anything unknown reads as `Ok`.
    pub fn from_name(name: &str) -> Health {
        match name {
            "failing" => Health::Failing,
            "stale" => Health::Stale,
            _ => Health::Ok,
        }
    }
}

/// Everything one successful poll writes, in one transaction.
#[derive(Debug, Clone)]
pub struct PollRecord {
    pub source: String,
    pub at: DateTime<Utc>,
    pub validators: Validators,
    pub articles: Vec<NewArticle>,
    /// SHA-256 (hex) of the body, so the next identical one is skipped.
    pub body_hash: Option<String>,
    /// The feed's polling hint, if it gave one.
    pub hint: Option<Duration>,
    /// When the scheduler means to poll the source next, if known.
    pub next_poll: Option<DateTime<Utc>>,
    /// The feed polled in place of the source's page (see
    /// [`SourceState::via_feed`]); replaces the stored one.
    pub via_feed: Option<String>,
}

#[derive(Debug, Clone)]
pub struct NewArticle {
    /// The main key first, then its aliases.
    pub keys: Vec<String>,
    /// An article already known under another of its keys: its new keys
    /// are recorded (so that the next change of GUID or URL is recognised
    /// too), and it is neither counted nor alerted on.
    pub known: bool,
    pub alerts: Vec<NewAlert>,
}

#[derive(Debug, Clone)]
pub struct NewAlert {
    pub alert: Alert,
    pub deliveries: Vec<NewDelivery>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewDelivery {
    pub id: String,
    pub notifier: String,
    /// For a digest notifier: the end of the digest period the alert waits
    /// for. `None` sends it at once.
    pub hold_until: Option<DateTime<Utc>>,
}

impl NewDelivery {
    /// The delivery of `alert` through `notifier`, held for its digest
    /// when the notifier sends digests.
    pub fn of(alert: &Alert, notifier: &crate::config::Notifier) -> NewDelivery {
        NewDelivery {
            id: crate::model::delivery_id(
                &alert.rule,
                &alert.source,
                &alert.article.key,
                &notifier.name,
            ),
            notifier: notifier.name.clone(),
            hold_until: notifier.hold_until(alert.detected_at),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PollOutcome {
    pub articles: usize,
    pub alerts: usize,
    pub deliveries: usize,
}

/// One delivery waiting in the outbox, with what it sends.
#[derive(Debug, Clone)]
pub struct PendingDelivery {
    pub id: String,
    pub notifier: String,
    pub attempts: u32,
    pub payload: Payload,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct OutboxCounts {
    pub pending: u64,
    pub sent: u64,
    pub dead: u64,
    /// Alerts waiting for their notifier's digest.
    pub held: u64,
}

/// One alert and where it went, for `vigie alerts`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AlertRecord {
    pub rule: String,
    pub source: String,
    pub title: String,
    pub url: Option<String>,
    pub detected_at: DateTime<Utc>,
    pub deliveries: Vec<DeliveryRecord>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct DeliveryRecord {
    pub id: String,
    pub notifier: String,
    /// pending, sent, dead, held (waiting for a digest) or digested.
    pub state: String,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub next_attempt: Option<DateTime<Utc>>,
    pub sent_at: Option<DateTime<Utc>>,
    /// The digest delivery that carries it, for a digested alert; its
    /// state is the one that counts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<Box<DeliveryRecord>>,
}

#[async_trait]
pub trait Store: Send + Sync {
    async fn source_state(&self, source: &str) -> Result<Option<SourceState>, StoreError>;
    /// Which of `keys` were already recorded for `source`.
    async fn known_keys(
        &self,
        source: &str,
        keys: &[String],
    ) -> Result<HashSet<String>, StoreError>;
    /// Records a successful poll: new keys, alerts, their deliveries and the
    /// new validators, all or nothing. An article whose main key another
    /// writer recorded meanwhile is skipped with its alerts.
    async fn record_poll(&self, poll: PollRecord) -> Result<PollOutcome, StoreError>;
    /// A `304`, or a `200` byte-identical to the last one: the source is
    /// healthy and its articles are unchanged. New `validators` (a `200`
    /// may bring a new `ETag`) and a new `hint` replace the stored ones
    /// when given; `next_poll` is when the scheduler means to poll again.
    async fn record_not_modified(
        &self,
        source: &str,
        at: DateTime<Utc>,
        validators: Option<&Validators>,
        hint: Option<Duration>,
        next_poll: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// When the scheduler means to poll `source` next.
    async fn set_next_poll(&self, source: &str, at: DateTime<Utc>) -> Result<(), StoreError>;
    /// Moves `source` from health `from` to `to` and records `signal` (an
    /// alert for the operator, with its deliveries), all or nothing. False,
    /// and nothing written, when the stored health is no longer `from`
    /// (another process signalled it first).
    async fn set_health(
        &self,
        source: &str,
        from: Health,
        to: Health,
        at: DateTime<Utc>,
        signal: Option<&NewAlert>,
    ) -> Result<bool, StoreError>;
    /// Every source ever polled, by name.
    async fn sources(&self) -> Result<Vec<(String, SourceState)>, StoreError>;
    /// Returns the number of consecutive failures, this one included.
    async fn record_failure(
        &self,
        source: &str,
        kind: &str,
        message: &str,
        at: DateTime<Utc>,
    ) -> Result<u32, StoreError>;
    /// Pending, unclaimed deliveries of `notifier` due at `due` (every
    /// pending one when `due` is `None`), oldest first.
    async fn due_deliveries(
        &self,
        notifier: &str,
        due: Option<DateTime<Utc>>,
        limit: u32,
    ) -> Result<Vec<PendingDelivery>, StoreError>;
    /// Takes a pending delivery for sending until `until`; false when it is
    /// no longer pending or another sender holds it.
    async fn claim_delivery(
        &self,
        id: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// Claims, in one write, those of `ids` that are pending and free,
    /// until `until`; returns the ones claimed.
    async fn claim_deliveries(
        &self,
        ids: &[String],
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<HashSet<String>, StoreError>;
    /// Moves claims this sender holds (`held`, the `until` it claimed them
    /// with) to `until`, or releases them with `None`; returns the ids it
    /// still held.
    async fn renew_claims(
        &self,
        ids: &[String],
        held: DateTime<Utc>,
        until: Option<DateTime<Utc>>,
    ) -> Result<HashSet<String>, StoreError>;
    async fn delivery_sent(&self, id: &str, at: DateTime<Utc>) -> Result<(), StoreError>;
    /// A temporary failure: tried again at `next_attempt`.
    async fn delivery_failed(
        &self,
        id: &str,
        error: &str,
        next_attempt: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// A permanent failure: never tried again unless requeued.
    async fn delivery_dead(&self, id: &str, error: &str) -> Result<(), StoreError>;
    async fn outbox_counts(&self) -> Result<OutboxCounts, StoreError>;
    /// When the next pending delivery of `notifier` is due (or its claim
    /// expires), if any.
    async fn next_delivery_due(&self, notifier: &str) -> Result<Option<DateTime<Utc>>, StoreError>;
    /// Pending deliveries per notifier name.
    async fn pending_by_notifier(&self) -> Result<Vec<(String, u64)>, StoreError>;
    /// Gathers `notifier`'s held alerts whose period ended by `now` into one
    /// new digest delivery, pending; returns its id, or `None` when nothing
    /// was due.
    async fn close_digest(
        &self,
        notifier: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, StoreError>;
    /// Makes `notifier`'s held alerts pending one by one (the notifier no
    /// longer sends digests); returns how many.
    async fn release_held(&self, notifier: &str) -> Result<u64, StoreError>;
    /// Puts a dead delivery back in the outbox, due now; false when there is
    /// no dead delivery with that id.
    async fn requeue(&self, id: &str, now: DateTime<Utc>) -> Result<bool, StoreError>;
    /// Requeues every dead delivery; returns how many.
    async fn requeue_dead(&self, now: DateTime<Utc>) -> Result<u64, StoreError>;
    /// Alerts detected at or after `since`, newest first, with their
    /// deliveries.
    async fn alerts_since(
        &self,
        since: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<AlertRecord>, StoreError>;
    /// Records an alert that no poll produced (an operator signal); false
    /// when an alert with its rule, source and key exists already.
    async fn record_alert(&self, alert: &NewAlert, at: DateTime<Utc>) -> Result<bool, StoreError>;
}
