//! The outbox dispatcher: takes each notifier's pending deliveries from the
//! store, claims one, sends it, and records the outcome — sent, tried again
//! later with backoff, or dead. Every notifier is served on its own, so one
//! that is slow or down never delays another; within a notifier deliveries go
//! in order (an email batch reuses one connection), and the first temporary
//! failure ends the pass instead of waiting out one timeout per delivery.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::StreamExt as _;
use futures_util::stream::FuturesUnordered;
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{Channel, Channels};
use crate::model::{Alert, Article};
use crate::schedule;
use crate::service::telemetry;
use crate::store::{NewAlert, NewDelivery, PendingDelivery, Store, StoreError};

/// The most deliveries of one notifier taken in one pass.
const BATCH: u32 = 1_000;
/// Deliveries claimed in one write.
const CLAIM_CHUNK: usize = 16;
/// The longest a server's `Retry-After` is honoured: beyond it, a typo or a
/// hostile receiver would park an alert for years.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);
/// A notifier loop looks at the outbox at least this often.
const IDLE: Duration = Duration::from_secs(30);
/// ... and at most this often, whatever the store says.
const MIN_WAIT: Duration = Duration::from_millis(200);

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct DispatchReport {
    pub sent: usize,
    /// Still pending: failed temporarily, or not tried after a temporary
    /// failure of the same notifier, or held by another process.
    pub retrying: usize,
    pub dead: usize,
    /// Pending deliveries for a notifier the config no longer has.
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
    /// How long a claim holds: long enough for one send to time out.
    lease: chrono::Duration,
    /// Cancelled at shutdown: a pass stops between two deliveries.
    shutdown: CancellationToken,
    /// When each rate-limited notifier sent its last messages.
    windows: HashMap<String, Mutex<VecDeque<Instant>>>,
    /// Notifiers without a digest whose held alerts (from an earlier
    /// config) have not been released yet.
    unreleased: Mutex<HashSet<String>>,
    /// Notifiers whose last pass ended on a temporary failure.
    stalled: Mutex<HashSet<String>>,
    /// Notifiers this dispatcher leaves alone.
    skip: HashSet<String>,
}

impl Dispatcher {
    pub fn new(
        store: Arc<dyn Store>,
        channels: Channels,
        send_timeout: Duration,
        shutdown: CancellationToken,
    ) -> Dispatcher {
        // Every send is bounded (SMTP by twice the timeout, HTTP by the
        // timeout): a claim outlives its send, and a crashed sender's claim
        // delays its deliveries by this much at most.
        let lease = send_timeout.saturating_mul(3) + Duration::from_secs(10);
        let windows = channels
            .iter()
            .filter(|(name, _)| channels.notifier(name).is_some_and(|n| n.rate.is_some()))
            .map(|(name, _)| (name.to_string(), Mutex::new(VecDeque::new())))
            .collect();
        let unreleased = channels
            .iter()
            .filter(|(name, _)| channels.notifier(name).is_some_and(|n| n.digest.is_none()))
            .map(|(name, _)| name.to_string())
            .collect();
        Dispatcher {
            store,
            channels,
            lease: chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::hours(1)),
            shutdown,
            unreleased: Mutex::new(unreleased),
            windows,
            stalled: Mutex::new(HashSet::new()),
            skip: HashSet::new(),
        }
    }

    /// Leaves these notifiers alone (their deliveries count as retrying).
    pub fn skipping(mut self, notifiers: HashSet<String>) -> Dispatcher {
        self.skip = notifiers;
        self
    }

    /// The notifiers whose last pass ended on a temporary failure.
    pub fn stalled(&self) -> HashSet<String> {
        self.stalled
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// One pass over every notifier, in parallel: the deliveries due at
    /// `due`, or every pending one when `None` (as `vigie once` wants).
    pub async fn dispatch(
        self: &Arc<Self>,
        due: Option<DateTime<Utc>>,
    ) -> Result<DispatchReport, StoreError> {
        let mut report = DispatchReport {
            orphaned: self.orphans().await?,
            ..DispatchReport::default()
        };
        let mut tasks = JoinSet::new();
        for (name, channel) in self.channels.iter() {
            if self.skip.contains(name) {
                continue;
            }
            let (this, name, channel) = (self.clone(), name.to_string(), channel.clone());
            tasks.spawn(async move {
                // Batch after batch until nothing more goes out: `once`
                // must deliver more than one batch of alerts.
                let mut total = DispatchReport::default();
                loop {
                    let (pass, wait) = this.dispatch_notifier(&name, &channel, due).await?;
                    let progressed = pass.sent + pass.dead > 0;
                    total.add(pass);
                    if wait.is_some() || !progressed || this.shutdown.is_cancelled() {
                        return Ok::<_, StoreError>((total, wait));
                    }
                }
            });
        }
        // Every notifier's pass runs to its end, even when another fails:
        // dropping the set would abort a send halfway.
        let mut first_error = None;
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok(Ok((pass, _))) => report.add(pass),
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "an outbox pass failed");
                    first_error.get_or_insert(e);
                }
                Err(e) => tracing::error!(error = %e, "a delivery task failed"),
            }
        }
        if let Some(e) = first_error {
            return Err(e);
        }
        // Whatever is still pending for a configured notifier is to retry,
        // including deliveries another process holds or a failed task left.
        report.retrying = self
            .store
            .pending_by_notifier()
            .await?
            .into_iter()
            .filter(|(name, _)| self.channels.get(name).is_some())
            .map(|(_, count)| count as usize)
            .sum();
        Ok(report)
    }

    /// Pending deliveries no configured notifier will send; logged, and left
    /// in place in case the notifier comes back.
    async fn orphans(&self) -> Result<usize, StoreError> {
        let mut orphaned = 0;
        for (name, count) in self.store.pending_by_notifier().await? {
            if self.channels.get(&name).is_none() {
                tracing::warn!(notifier = %name, count, "deliveries wait for a notifier that is no longer configured");
                orphaned += count as usize;
            }
        }
        Ok(orphaned)
    }

    /// One pass over one notifier's due deliveries. Also returns how long
    /// to wait before the next attempt when the pass ended on a temporary
    /// failure.
    async fn dispatch_notifier(
        &self,
        name: &str,
        channel: &Channel,
        due: Option<DateTime<Utc>>,
    ) -> Result<(DispatchReport, Option<Duration>), StoreError> {
        let now = Utc::now();
        if self
            .channels
            .notifier(name)
            .is_some_and(|n| n.digest.is_some())
        {
            if let Some(digest) = self.store.close_digest(name, due.unwrap_or(now)).await? {
                tracing::info!(notifier = %name, delivery = %digest, "digest period ended");
            }
        } else if self
            .unreleased
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(name)
        {
            // Alerts held for a digest the config no longer asks for go
            // out one by one.
            let released = self.store.release_held(name).await?;
            if released > 0 {
                tracing::info!(notifier = %name, count = released, "the notifier no longer sends digests: held alerts go out one by one");
            }
        }
        let pending = self.store.due_deliveries(name, due, BATCH).await?;
        let mut report = DispatchReport::default();
        let total = pending.len();
        // Claimed a few at a time, in one write each: a burst of alerts costs
        // one claim per chunk, not per delivery. A rate-limited notifier
        // claims one at a time, since it may wait long between sends.
        let chunk = if self.windows.contains_key(name) {
            1
        } else {
            CLAIM_CHUNK
        };
        // A webhook takes several requests at once; a chat service or an
        // SMTP session one at a time, in order.
        let parallel = if chunk == 1 { 1 } else { channel.parallel() };
        let lease = self.lease.to_std().unwrap_or_default();
        let mut stalled: Option<Duration> = None;
        for (c, deliveries) in pending.chunks(chunk).enumerate() {
            let ids: Vec<String> = deliveries.iter().map(|d| d.id.clone()).collect();
            let now = Utc::now();
            let mut held = now + self.lease;
            let mut claimed_at = Instant::now();
            // Another process may have sent, or be sending, some meanwhile.
            let mut mine = self.store.claim_deliveries(&ids, now, held).await?;
            let mut in_flight = FuturesUnordered::new();
            // Sent deliveries being recorded: the next sends go on
            // meanwhile, and marks that queue up together are committed
            // together.
            let mut marking = FuturesUnordered::new();
            let mut next = 0;
            let mut stopping = false;
            loop {
                while !stopping
                    && stalled.is_none()
                    && in_flight.len() < parallel
                    && next < deliveries.len()
                {
                    if self.shutdown.is_cancelled() || !self.wait_turn(name).await {
                        stopping = true;
                        break;
                    }
                    let d = &deliveries[next];
                    next += 1;
                    if !mine.contains(&d.id) {
                        continue;
                    }
                    if claimed_at.elapsed() > lease / 2 {
                        let until = Utc::now() + self.lease;
                        mine = self
                            .store
                            .renew_claims(&ids[next - 1..], held, Some(until))
                            .await?;
                        (held, claimed_at) = (until, Instant::now());
                        if !mine.contains(&d.id) {
                            continue;
                        }
                    }
                    in_flight.push(async move {
                        let started = std::time::Instant::now();
                        let sent = channel.send(&d.id, &d.payload).await;
                        (d, sent, started.elapsed())
                    });
                }
                let (d, sent, took) = tokio::select! {
                    Some(marked) = marking.next(), if !marking.is_empty() => {
                        let () = marked?;
                        report.sent += 1;
                        continue;
                    }
                    Some(done) = in_flight.next(), if !in_flight.is_empty() => done,
                    else => break,
                };
                metrics::histogram!(telemetry::DELIVERY_DURATION, "notifier" => name.to_string())
                    .record(took.as_secs_f64());
                let state = match &sent {
                    Ok(_) => "sent",
                    Err(e) if e.permanent => "dead",
                    Err(_) => "retry",
                };
                metrics::counter!(telemetry::DELIVERIES, "notifier" => name.to_string(), "state" => state)
                    .increment(1);
                match sent {
                    Ok(answer) => {
                        let alerts = d.payload.alerts();
                        let rule = alerts.first().map_or("", |a| a.rule.as_str());
                        let source = alerts.first().map_or("", |a| a.source.as_str());
                        tracing::info!(notifier = %name, delivery = %d.id, rule, source, alerts = alerts.len(), %answer, "delivered");
                        marking.push(self.store.delivery_sent(&d.id, Utc::now()));
                    }
                    Err(e) if e.permanent => {
                        tracing::error!(notifier = %name, delivery = %d.id, error = %e, "delivery failed permanently; marked dead");
                        self.store.delivery_dead(&d.id, &e.message).await?;
                        report.dead += 1;
                        self.signal_dead(name, d, &e.message).await?;
                    }
                    Err(e) => {
                        let wait = e
                            .retry_after
                            .unwrap_or_else(|| schedule::delivery_retry(d.attempts + 1, &d.id))
                            .min(MAX_RETRY_AFTER);
                        let next_attempt = Utc::now()
                            + chrono::Duration::from_std(wait)
                                .unwrap_or(chrono::Duration::hours(1));
                        tracing::warn!(notifier = %name, delivery = %d.id, error = %e, retry_in = ?wait, "delivery failed; will retry");
                        self.store
                            .delivery_failed(&d.id, &e.message, next_attempt)
                            .await?;
                        report.retrying += 1;
                        // The rest would most likely fail the same way: they
                        // wait for the next pass rather than each for its
                        // own timeout (those already on their way finish).
                        stalled = Some(stalled.map_or(wait, |w| w.max(wait)));
                    }
                }
            }
            if stopping || stalled.is_some() {
                // What was not started is released for the next pass.
                self.store.renew_claims(&ids[next..], held, None).await?;
                report.retrying += deliveries.len() - next + total.saturating_sub((c + 1) * chunk);
                if stalled.is_some() {
                    self.stalled
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(name.to_string());
                }
                return Ok((report, stalled));
            }
        }
        self.stalled
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(name);
        Ok((report, None))
    }

    /// Waits until `name`'s rate allows one more message, and counts it.
    /// False when shutdown came first.
    async fn wait_turn(&self, name: &str) -> bool {
        let (Some(window), Some(rate)) = (
            self.windows.get(name),
            self.channels.notifier(name).and_then(|n| n.rate),
        ) else {
            return true;
        };
        loop {
            let wait = {
                let mut sent = window.lock().unwrap_or_else(|e| e.into_inner());
                let now = Instant::now();
                while sent
                    .front()
                    .is_some_and(|t| now.duration_since(*t) >= rate.per)
                {
                    sent.pop_front();
                }
                if sent.len() < rate.count as usize {
                    sent.push_back(now);
                    return true;
                }
                sent.front()
                    .map_or(Duration::ZERO, |t| rate.per - now.duration_since(*t))
            };
            tokio::select! {
                _ = self.shutdown.cancelled() => return false,
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Tells `[daemon] errors_to` that deliveries of `notifier` die: at most
    /// once an hour per notifier, and never about the errors_to notifier
    /// itself (its own failures would loop).
    async fn signal_dead(
        &self,
        notifier: &str,
        delivery: &PendingDelivery,
        reason: &str,
    ) -> Result<(), StoreError> {
        let Some(to) = self.channels.errors_to() else {
            return Ok(());
        };
        if to.name == notifier {
            return Ok(());
        }
        let now = Utc::now();
        let hour = now.timestamp() / 3600;
        let alerts = delivery.payload.alerts();
        let about = alerts.first().map_or(String::new(), |a| {
            format!(
                " It carried \"{}\" (rule {}, source {}).",
                a.article.title, a.rule, a.source
            )
        });
        let alert = Alert {
            rule: "vigie:delivery_dead".into(),
            source: "vigie".into(),
            article: Article {
                key: format!("dead:{notifier}:{hour}"),
                aliases: Vec::new(),
                url: None,
                title: format!("Deliveries through {notifier} are failing"),
                summary: format!(
                    "Delivery {} through {notifier} failed permanently: {reason}.{about} \
                     Further failures of {notifier} in this hour are not signalled again; \
                     `vigie alerts` lists them and `vigie retry --dead` sends them again once fixed.",
                    delivery.id
                ),
                body: None,
                published: Some(now),
                updated: None,
                authors: Vec::new(),
                language: Some("en".into()),
                tags: Vec::new(),
                source: "vigie".into(),
            },
            matches: Vec::new(),
            detected_at: now,
        };
        let signal = NewAlert {
            deliveries: vec![NewDelivery::of(&alert, to)],
            alert,
        };
        if self.store.record_alert(&signal, now).await? {
            tracing::warn!(notifier = %notifier, errors_to = %to.name, "dead delivery signalled");
        }
        Ok(())
    }

    /// `vigie run`'s delivery side: one loop per notifier, each sending what
    /// is due, then sleeping until the next delivery is due, `wake` is
    /// notified (new alerts recorded), or `shutdown`.
    pub fn spawn_loops(self: &Arc<Self>, wake: Arc<Notify>) -> JoinSet<()> {
        let mut loops = JoinSet::new();
        for (name, channel) in self.channels.iter() {
            let (this, name, channel, wake) = (
                self.clone(),
                name.to_string(),
                channel.clone(),
                wake.clone(),
            );
            loops.spawn(this.notifier_loop(name, channel, wake));
        }
        loops
    }

    async fn notifier_loop(
        self: Arc<Self>,
        name: String,
        channel: Arc<Channel>,
        wake: Arc<Notify>,
    ) {
        if let Err(e) = self.orphans().await {
            tracing::error!(error = %e, "cannot read the outbox");
        }
        loop {
            // Registered before looking at the store, so an alert recorded
            // meanwhile still wakes this loop.
            let notified = wake.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            // Each pass in a task of its own: a panic while sending ends
            // the pass, not this notifier's deliveries until a restart.
            let pass = tokio::spawn({
                let (this, name, channel) = (self.clone(), name.clone(), channel.clone());
                async move {
                    this.dispatch_notifier(&name, &channel, Some(Utc::now()))
                        .await
                }
            });
            let stalled = match pass.await {
                Ok(Ok((_, stalled))) => stalled,
                // A locked or briefly unreachable state file must not end
                // delivery: the next pass tries again.
                Ok(Err(e)) => {
                    tracing::error!(notifier = %name, error = %e, "outbox pass failed");
                    Some(IDLE)
                }
                Err(e) => {
                    tracing::error!(notifier = %name, error = %e, "a delivery pass failed");
                    Some(IDLE)
                }
            };
            let wait = match stalled {
                Some(wait) => wait,
                None => match self.store.next_delivery_due(&name).await {
                    Ok(Some(at)) => (at - Utc::now()).to_std().unwrap_or(Duration::ZERO),
                    _ => IDLE,
                },
            };
            tokio::select! {
                _ = self.shutdown.cancelled() => return,
                _ = &mut notified => {}
                _ = tokio::time::sleep(wait.clamp(MIN_WAIT, IDLE)) => {}
            }
        }
    }
}
