//! The commands, built on the pipeline stages: `check`, `once` (poll every
//! source, deliver, report) and `run` (the daemon loop). `main.rs` only
//! parses arguments and prints what these return.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::config::{self, Config, defaults};
use crate::fetch::{FetchError, Fetcher};
use crate::health::Counters;
use crate::notify::outbox::{DispatchReport, Dispatcher};
use crate::notify::{Channels, SetupError};
use crate::poll::{PollError, PollReport, Polled, failed, poll_and_record};
use crate::schedule::{self, Limits, Timetable};
use crate::store::{OutboxCounts, SourceState, SqliteStore, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Config(#[from] config::LoadError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Setup(#[from] SetupError),
    #[error("cannot build the HTTP client: {0}")]
    Http(#[from] FetchError),
    #[error("unknown source \"{name}\"{}", hint.as_ref().map(|h| format!(" (did you mean \"{h}\"?)")).unwrap_or_default())]
    UnknownSource { name: String, hint: Option<String> },
    #[error("unknown notifier \"{name}\"{}", hint.as_ref().map(|h| format!(" (did you mean \"{h}\"?)")).unwrap_or_default())]
    UnknownNotifier { name: String, hint: Option<String> },
}

impl AppError {
    /// DESIGN.md §2: 1 for a user error, 2 for a runtime failure.
    pub fn exit_code(&self) -> u8 {
        match self {
            AppError::Config(_)
            | AppError::UnknownSource { .. }
            | AppError::UnknownNotifier { .. } => 1,
            _ => 2,
        }
    }
}

/// `vigie check`: the config loads, secrets resolve, templates compile.
pub fn check(path: &Path) -> Result<Config, AppError> {
    let config = config::load(path)?;
    Channels::new(&config)?;
    Ok(config)
}

/// What `once` did, per source and for delivery.
#[derive(Debug, Default)]
pub struct OnceReport {
    pub polls: Vec<(String, Result<PollReport, PollError>)>,
    pub deliveries: Option<DispatchReport>,
}

impl OnceReport {
    /// Every alert raised, in source order.
    pub fn alerts(&self) -> impl Iterator<Item = &crate::model::Alert> {
        self.polls
            .iter()
            .filter_map(|(_, r)| r.as_ref().ok())
            .flat_map(|r| &r.alerts)
    }

    /// Everything polled and nothing left undelivered.
    pub fn all_ok(&self) -> bool {
        self.polls.iter().all(|(_, r)| r.is_ok())
            && self
                .deliveries
                .is_none_or(|d| d.retrying == 0 && d.dead == 0 && d.orphaned == 0)
    }
}

/// Everything a running vigie shares between polls.
struct Pipeline {
    config: Arc<Config>,
    store: Arc<dyn Store>,
    fetcher: Fetcher,
    limits: Limits,
    counters: Arc<Counters>,
}

impl Pipeline {
    async fn open(config: Arc<Config>, dry_run: bool) -> Result<Pipeline, AppError> {
        let store: Arc<dyn Store> = if dry_run && !config.daemon.state.exists() {
            // A dry run on a fresh machine must not create the state file.
            Arc::new(SqliteStore::open_memory().await?)
        } else {
            Arc::new(SqliteStore::open(&config.daemon.state).await?)
        };
        Ok(Pipeline {
            fetcher: Fetcher::for_config(&config)?,
            limits: Limits::new(
                config.daemon.concurrency,
                config.daemon.per_host,
                defaults::HOST_SPACING,
            ),
            counters: Arc::default(),
            store,
            config,
        })
    }

    /// Spawns one poll, waiting first for a place under the limits.
    fn spawn_poll(&self, polls: &mut Polls, index: usize, dry_run: bool) {
        let source = self.config.sources[index].clone();
        let (config, store, fetcher, limits, counters) = (
            self.config.clone(),
            self.store.clone(),
            self.fetcher.clone(),
            self.limits.clone(),
            self.counters.clone(),
        );
        let handle = polls.set.spawn(async move {
            let _permit = limits.acquire(&source.url).await;
            // Its own task, so that a panic on some input is recorded
            // against the source like any other failure.
            let poll = tokio::spawn(poll_and_record(
                config.clone(),
                store.clone(),
                fetcher,
                counters.clone(),
                source.clone(),
                dry_run,
            ));
            match poll.await {
                Ok(polled) => polled,
                Err(e) => {
                    let error = PollError::Internal(format!("the poll failed: {e}"));
                    tracing::error!(source = %source.name, error = %error, "poll failed");
                    let wait =
                        failed(&config, store.as_ref(), &counters, &source, &error, dry_run).await;
                    Polled {
                        result: Err(error),
                        wait,
                    }
                }
            }
        });
        polls.sources.insert(handle.id(), index);
    }
}

/// Polls in flight, each known by its source's index, so that a poll that
/// panics is still reported against its source (and rescheduled).
#[derive(Default)]
struct Polls {
    set: JoinSet<Polled>,
    sources: HashMap<tokio::task::Id, usize>,
}

impl Polls {
    fn len(&self) -> usize {
        self.set.len()
    }

    fn is_empty(&self) -> bool {
        self.set.is_empty()
    }

    /// The next poll to finish: its source index and outcome.
    async fn next(&mut self) -> Option<(usize, Polled)> {
        loop {
            let (id, polled) = match self.set.join_next_with_id().await? {
                Ok((id, polled)) => (id, polled),
                Err(e) => {
                    tracing::error!(error = %e, "a poll task failed");
                    let polled = Polled {
                        result: Err(PollError::Internal(format!("the poll task failed: {e}"))),
                        wait: schedule::MAX_BACKOFF,
                    };
                    (e.id(), polled)
                }
            };
            if let Some(index) = self.sources.remove(&id) {
                return Some((index, polled));
            }
        }
    }

    fn abort_all(&mut self) {
        self.set.abort_all();
    }
}

/// `vigie once`: polls every source (or one), then delivers every pending
/// alert once, old ones included.
pub async fn once(
    config: Config,
    only: Option<&str>,
    dry_run: bool,
) -> Result<OnceReport, AppError> {
    if let Some(name) = only
        && config.source(name).is_none()
    {
        let names = config.sources.iter().map(|s| s.name.as_str());
        return Err(AppError::UnknownSource {
            name: name.to_string(),
            hint: config::diag::nearest(name, names).map(str::to_string),
        });
    }
    let config = Arc::new(config);
    let pipeline = Pipeline::open(config.clone(), dry_run).await?;
    let channels = if dry_run {
        None
    } else {
        Some(Channels::new(&config)?)
    };
    // Alerts go out while the other sources are still polled, as in the
    // daemon: one slow source does not hold back every alert until its
    // timeout. What these loops leave is sent by the pass at the end.
    let early = match &channels {
        Some(channels) => {
            let stop = CancellationToken::new();
            let wake = Arc::new(Notify::new());
            let before = pipeline.store.outbox_counts().await?;
            let loops = Arc::new(Dispatcher::new(
                pipeline.store.clone(),
                channels.clone(),
                config.daemon.timeout,
                stop.clone(),
            ))
            .spawn_loops(wake.clone());
            Some((stop, wake, loops, before))
        }
        None => None,
    };
    let mut polls = Polls::default();
    for (i, source) in config.sources.iter().enumerate() {
        if only.is_none_or(|name| name == source.name) {
            pipeline.spawn_poll(&mut polls, i, dry_run);
        }
    }
    let mut results = Vec::new();
    while let Some((i, polled)) = polls.next().await {
        if let Some((_, wake, _, _)) = &early
            && polled
                .result
                .as_ref()
                .is_ok_and(|r| r.recorded.deliveries > 0)
        {
            wake.notify_waiters();
        }
        results.push((i, polled.result));
    }
    results.sort_by_key(|(i, _)| *i);
    let mut report = OnceReport {
        polls: results
            .into_iter()
            .map(|(i, r)| (config.sources[i].name.clone(), r))
            .collect(),
        deliveries: None,
    };
    if let (Some(channels), Some((stop, _, mut loops, before))) = (channels, early) {
        // Each loop finishes the delivery in flight, then stops.
        stop.cancel();
        while loops.join_next().await.is_some() {}
        let dispatcher = Arc::new(Dispatcher::new(
            pipeline.store.clone(),
            channels,
            config.daemon.timeout,
            CancellationToken::new(),
        ));
        let mut deliveries = dispatcher.dispatch(None).await?;
        // Sent or dead through the loops and the last pass (another process
        // sending from the same state meanwhile would be counted too).
        let after = pipeline.store.outbox_counts().await?;
        let since = |after: u64, before: u64| after.saturating_sub(before) as usize;
        deliveries.sent = deliveries.sent.max(since(after.sent, before.sent));
        deliveries.dead = deliveries.dead.max(since(after.dead, before.dead));
        report.deliveries = Some(deliveries);
    }
    Ok(report)
}

/// What `vigie status` shows: each configured source, in config order,
/// with what the state remembers of it (`None`: never polled), and the
/// outbox.
#[derive(Debug, Default)]
pub struct StatusReport {
    pub sources: Vec<(String, Option<SourceState>)>,
    pub outbox: OutboxCounts,
}

/// `vigie status`: read-only; a missing state file is not created.
pub async fn status(config: &Config) -> Result<StatusReport, AppError> {
    if !config.daemon.state.exists() {
        return Ok(StatusReport {
            sources: config
                .sources
                .iter()
                .map(|s| (s.name.clone(), None))
                .collect(),
            outbox: OutboxCounts::default(),
        });
    }
    let store = SqliteStore::open(&config.daemon.state).await?;
    let mut states: HashMap<String, SourceState> = store.sources().await?.into_iter().collect();
    Ok(StatusReport {
        sources: config
            .sources
            .iter()
            .map(|s| (s.name.clone(), states.remove(&s.name)))
            .collect(),
        outbox: store.outbox_counts().await?,
    })
}

/// How long `run` waits for polls and deliveries in flight at shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(20);

/// `vigie run`: polls each source at its interval and delivers alerts as
/// they are recorded, until `shutdown` is cancelled.
pub async fn run(config: Config, shutdown: CancellationToken) -> Result<(), AppError> {
    let config = Arc::new(config);
    let pipeline = Pipeline::open(config.clone(), false).await?;
    let channels = Channels::new(&config)?;
    let wake_dispatcher = Arc::new(Notify::new());
    let mut deliveries = Arc::new(Dispatcher::new(
        pipeline.store.clone(),
        channels,
        config.daemon.timeout,
        shutdown.clone(),
    ))
    .spawn_loops(wake_dispatcher.clone());
    tracing::info!(
        sources = config.sources.len(),
        rules = config.rules.len(),
        "vigie started"
    );

    let mut timetable = resume(&config, pipeline.store.as_ref(), &pipeline.counters).await?;
    let mut polls = Polls::default();
    let mut signalled = 0;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = sleep_until(timetable.next()) => {
                for i in timetable.take_due(Instant::now()) {
                    pipeline.spawn_poll(&mut polls, i, false);
                }
            }
            Some((i, polled)) = polls.next(), if !polls.is_empty() => {
                if polled.result.as_ref().is_ok_and(|r| r.recorded.deliveries > 0) {
                    wake_dispatcher.notify_waiters();
                }
                timetable.done(i, Instant::now(), polled.wait);
            }
        }
        // A health signal may have queued an alert too.
        if pipeline.counters.changes_total() != signalled {
            signalled = pipeline.counters.changes_total();
            wake_dispatcher.notify_waiters();
        }
    }

    tracing::info!(in_flight = polls.len(), "stopping: no new polls");
    let drain = async { while polls.next().await.is_some() {} };
    if tokio::time::timeout(SHUTDOWN_GRACE, drain).await.is_err() {
        tracing::warn!(
            "polls still running at shutdown were abandoned; their articles will be seen again"
        );
        polls.abort_all();
    }
    // Each notifier finishes the delivery in flight, then stops.
    let drain = async { while deliveries.join_next().await.is_some() {} };
    if tokio::time::timeout(SHUTDOWN_GRACE, drain).await.is_err() {
        tracing::warn!(
            "deliveries still in flight at shutdown stay pending and go out at next start"
        );
        deliveries.abort_all();
    }
    tracing::info!("vigie stopped");
    Ok(())
}

/// The timetable of a starting daemon: a failing source keeps the time its
/// backoff or the server's `Retry-After` set (converted once from the wall
/// clock, bounded by the longest backoff), so a restart never hammers a
/// site that asked for a pause; the others are polled at start, spread over
/// the first seconds.
async fn resume(
    config: &Config,
    store: &dyn Store,
    counters: &Counters,
) -> Result<Timetable, AppError> {
    let states: HashMap<String, SourceState> = store.sources().await?.into_iter().collect();
    counters.seed(
        &states
            .iter()
            .map(|(n, s)| (n.clone(), s.clone()))
            .collect::<Vec<_>>(),
    );
    let now = chrono::Utc::now();
    let first = config.sources.iter().map(|s| {
        let spread = s
            .interval
            .min(schedule::FIRST_SPREAD)
            .mul_f64(schedule::phase(&s.name));
        let planned = states
            .get(&s.name)
            .filter(|st| st.failures > 0)
            .and_then(|st| st.next_poll)
            .and_then(|at| (at - now).to_std().ok())
            .map(|wait| wait.min(schedule::MAX_RETRY_AFTER));
        planned.unwrap_or(spread).max(spread)
    });
    Ok(Timetable::new(Instant::now(), first))
}

async fn sleep_until(when: Option<Instant>) {
    match when {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}
