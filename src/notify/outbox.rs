//! The outbox dispatcher: takes pending deliveries from the store, sends
//! each through its notifier, and records the outcome — sent, tried again
//! later with backoff, or dead. Notifiers are served in parallel, each one's
//! deliveries in order (so an email batch reuses one connection).

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::task::JoinSet;

use super::Channels;
use crate::schedule;
use crate::store::{PendingDelivery, Store, StoreError};

/// The most deliveries taken in one pass.
const BATCH: u32 = 10_000;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct DispatchReport {
    pub sent: usize,
    /// Temporary failures: still pending, tried again later.
    pub retrying: usize,
    pub dead: usize,
    /// Deliveries for a notifier the config no longer has: left pending.
    pub orphaned: usize,
}

impl DispatchReport {
    fn add(&mut self, other: DispatchReport) {
        self.sent += other.sent;
        self.retrying += other.retrying;
        self.dead += other.dead;
        self.orphaned += other.orphaned;
    }
}

pub struct Dispatcher {
    store: Arc<dyn Store>,
    channels: Channels,
}

impl Dispatcher {
    pub fn new(store: Arc<dyn Store>, channels: Channels) -> Dispatcher {
        Dispatcher { store, channels }
    }

    /// One pass over the deliveries due at `now` (every pending one when
    /// `None`, as `vigie once` wants).
    pub async fn dispatch(&self, now: Option<DateTime<Utc>>) -> Result<DispatchReport, StoreError> {
        let due = self.store.due_deliveries(now, BATCH).await?;
        let mut report = DispatchReport::default();
        let mut by_notifier: BTreeMap<String, Vec<PendingDelivery>> = BTreeMap::new();
        for d in due {
            by_notifier.entry(d.notifier.clone()).or_default().push(d);
        }
        let mut tasks = JoinSet::new();
        for (name, deliveries) in by_notifier {
            let Some(channel) = self.channels.get(&name) else {
                tracing::warn!(notifier = %name, count = deliveries.len(), "deliveries wait for a notifier that is no longer configured");
                report.orphaned += deliveries.len();
                continue;
            };
            let store = self.store.clone();
            tasks.spawn(async move {
                let mut report = DispatchReport::default();
                for d in deliveries {
                    let result = channel.send(&d.id, &d.alert).await;
                    let now = Utc::now();
                    match result {
                        Ok(()) => {
                            tracing::info!(notifier = %name, delivery = %d.id, rule = %d.alert.rule, source = %d.alert.source, "alert delivered");
                            store.delivery_sent(&d.id, now).await?;
                            report.sent += 1;
                        }
                        Err(e) if e.permanent => {
                            tracing::error!(notifier = %name, delivery = %d.id, error = %e, "delivery failed permanently; marked dead");
                            store.delivery_dead(&d.id, &e.message).await?;
                            report.dead += 1;
                        }
                        Err(e) => {
                            let wait = e.retry_after.unwrap_or_else(|| schedule::delivery_retry(d.attempts + 1));
                            let next = now + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::hours(1));
                            tracing::warn!(notifier = %name, delivery = %d.id, error = %e, retry_in = ?wait, "delivery failed; will retry");
                            store.delivery_failed(&d.id, &e.message, next).await?;
                            report.retrying += 1;
                        }
                    }
                }
                Ok::<_, StoreError>(report)
            });
        }
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok(result) => report.add(result?),
                Err(e) => tracing::error!(error = %e, "a delivery task failed"),
            }
        }
        Ok(report)
    }
}
