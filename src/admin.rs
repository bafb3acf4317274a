//! The outbox for people: `vigie alerts` (what was detected and where it
//! went), `vigie retry` (dead deliveries back in the outbox) and
//! `vigie notify-test` (one sample alert through one notifier, with the
//! server's answer).

use chrono::{DateTime, Utc};

use crate::app::AppError;
use crate::config::Config;
use crate::model::Payload;
use crate::notify::template::{sample_alert, sample_digest};
use crate::notify::{Channel, SendError};
use crate::store::{AlertRecord, SqliteStore, Store};

/// The most alerts `vigie alerts` lists.
pub const ALERTS_LIMIT: u32 = 1_000;

/// Alerts detected since `since`, newest first.
pub async fn alerts(config: &Config, since: DateTime<Utc>) -> Result<Vec<AlertRecord>, AppError> {
    if !config.daemon.state.exists() {
        return Ok(Vec::new());
    }
    let store = SqliteStore::open(&config.daemon.state).await?;
    Ok(store.alerts_since(since, ALERTS_LIMIT).await?)
}

/// What to put back in the outbox.
#[derive(Debug, Clone)]
pub enum Requeue {
    One(String),
    AllDead,
}

/// Requeues dead deliveries; a running daemon sends them within its next
/// outbox pass (at most 30 s). Returns how many were requeued.
pub async fn retry(config: &Config, what: Requeue) -> Result<u64, AppError> {
    if !config.daemon.state.exists() {
        return Ok(0);
    }
    let store = SqliteStore::open(&config.daemon.state).await?;
    let now = Utc::now();
    Ok(match what {
        Requeue::One(id) => u64::from(store.requeue(&id, now).await?),
        Requeue::AllDead => store.requeue_dead(now).await?,
    })
}

/// What `notify-test` did.
#[derive(Debug)]
pub struct NotifyTest {
    pub notifier: String,
    pub id: String,
    pub digest: bool,
    pub result: Result<String, SendError>,
}

/// Sends a sample alert (a sample digest for a digest notifier) through
/// `name` now, bypassing the outbox, digests and rate limits.
pub async fn notify_test(config: &Config, name: &str) -> Result<NotifyTest, AppError> {
    let Some(notifier) = config.notifier(name) else {
        let hint =
            crate::config::diag::nearest(name, config.notifiers.iter().map(|n| n.name.as_str()))
                .map(str::to_string);
        return Err(AppError::UnknownNotifier {
            name: name.to_string(),
            hint,
        });
    };
    let channel = Channel::new(notifier, &config.daemon).map_err(|message| {
        crate::notify::SetupError::Notifier {
            name: name.to_string(),
            message,
        }
    })?;
    let digest = notifier.digest.is_some();
    let payload = if digest {
        sample_digest()
    } else {
        Payload::Alert(Box::new(sample_alert()))
    };
    let id = format!("test-{}", Utc::now().timestamp_millis());
    let result = channel.send(&id, &payload).await;
    Ok(NotifyTest {
        notifier: name.to_string(),
        id,
        digest,
        result,
    })
}
