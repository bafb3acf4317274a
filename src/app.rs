//! The commands, built on the pipeline stages: `check`, `once` (poll every
//! source, deliver, report) and `run` (the daemon loop). `main.rs` only
//! parses arguments and prints what these return.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::config::{self, Config};
use crate::fetch::{FetchError, Fetcher};
use crate::notify::outbox::{DispatchReport, Dispatcher};
use crate::notify::{Channels, SetupError};
use crate::poll::{PollError, PollReport, poll_and_record};
use crate::schedule;
use crate::store::{SqliteStore, Store, StoreError};

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
}

impl AppError {
    /// DESIGN.md §2: 1 for a user error, 2 for a runtime failure.
    pub fn exit_code(&self) -> u8 {
        match self {
            AppError::Config(_) | AppError::UnknownSource { .. } => 1,
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
}

/// The global and per-host caps on fetches in flight.
#[derive(Clone)]
struct Limits {
    all: Arc<Semaphore>,
    per_host: Arc<std::sync::Mutex<HashMap<String, Arc<Semaphore>>>>,
    per_host_max: usize,
}

impl Limits {
    fn new(config: &Config) -> Limits {
        Limits {
            all: Arc::new(Semaphore::new(config.daemon.concurrency)),
            per_host: Arc::default(),
            per_host_max: config.daemon.per_host,
        }
    }

    fn host(&self, host: &str) -> Arc<Semaphore> {
        // A poisoned lock only means another poll panicked while inserting;
        // the map itself is still consistent.
        let mut map = self.per_host.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(host.to_string())
            .or_insert_with(|| Arc::new(Semaphore::new(self.per_host_max)))
            .clone()
    }
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
            fetcher: Fetcher::new(&config.daemon)?,
            limits: Limits::new(&config),
            store,
            config,
        })
    }

    /// Spawns one poll, waiting first for a place under both caps.
    fn spawn_poll(&self, polls: &mut Polls, index: usize, dry_run: bool) {
        let source = self.config.sources[index].clone();
        let (config, store, fetcher, limits) = (
            self.config.clone(),
            self.store.clone(),
            self.fetcher.clone(),
            self.limits.clone(),
        );
        let handle = polls.set.spawn(async move {
            let host = limits.host(source.url.host_str().unwrap_or_default());
            // The semaphores are never closed, so acquire cannot fail.
            let _host = host.acquire_owned().await;
            let _all = limits.all.acquire_owned().await;
            let name = source.name.clone();
            // Its own task, so that a panic on some input is recorded
            // against the source like any other failure.
            let poll = tokio::spawn(poll_and_record(config, store.clone(), fetcher, source, dry_run));
            match poll.await {
                Ok(result) => result,
                Err(e) => {
                    let error = PollError::Internal(format!("the poll failed: {e}"));
                    tracing::error!(source = %name, error = %error, "poll failed");
                    if !dry_run
                        && let Err(store_error) =
                            store.record_failure(&name, error.kind(), &error.to_string(), chrono::Utc::now()).await
                    {
                        tracing::error!(source = %name, error = %store_error, "cannot record the failure");
                    }
                    Err(error)
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
    set: JoinSet<Result<PollReport, PollError>>,
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
    async fn next(&mut self) -> Option<(usize, Result<PollReport, PollError>)> {
        loop {
            let (id, result) = match self.set.join_next_with_id().await? {
                Ok((id, result)) => (id, result),
                Err(e) => {
                    tracing::error!(error = %e, "a poll task failed");
                    (
                        e.id(),
                        Err(PollError::Internal(format!("the poll task failed: {e}"))),
                    )
                }
            };
            if let Some(index) = self.sources.remove(&id) {
                return Some((index, result));
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
    let mut polls = Polls::default();
    for (i, source) in config.sources.iter().enumerate() {
        if only.is_none_or(|name| name == source.name) {
            pipeline.spawn_poll(&mut polls, i, dry_run);
        }
    }
    let mut results = Vec::new();
    while let Some(result) = polls.next().await {
        results.push(result);
    }
    results.sort_by_key(|(i, _)| *i);
    let mut report = OnceReport {
        polls: results
            .into_iter()
            .map(|(i, r)| (config.sources[i].name.clone(), r))
            .collect(),
        deliveries: None,
    };
    if let Some(channels) = channels {
        let dispatcher = Arc::new(Dispatcher::new(
            pipeline.store.clone(),
            channels,
            config.daemon.timeout,
            CancellationToken::new(),
        ));
        report.deliveries = Some(dispatcher.dispatch(None).await?);
    }
    Ok(report)
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

    // First polls spread over the first few seconds, by each source's phase,
    // instead of all at once.
    let start = Instant::now();
    let mut due: Vec<Option<Instant>> = config
        .sources
        .iter()
        .map(|s| {
            Some(
                start
                    + s.interval
                        .min(Duration::from_secs(10))
                        .mul_f64(schedule::phase(&s.name)),
            )
        })
        .collect();
    let mut failures = vec![0u32; config.sources.len()];
    let mut polls = Polls::default();
    loop {
        let next = due.iter().flatten().min().copied();
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = sleep_until(next) => {
                let now = Instant::now();
                for (i, slot) in due.iter_mut().enumerate() {
                    if slot.is_some_and(|t| t <= now) {
                        // None while polling: a slow source is never polled
                        // twice at once.
                        *slot = None;
                        pipeline.spawn_poll(&mut polls, i, false);
                    }
                }
            }
            Some((i, result)) = polls.next(), if !polls.is_empty() => {
                let source = &config.sources[i];
                match result {
                    Ok(report) => {
                        failures[i] = 0;
                        if report.recorded.deliveries > 0 {
                            wake_dispatcher.notify_waiters();
                        }
                    }
                    Err(_) => failures[i] = failures[i].saturating_add(1),
                }
                due[i] = Some(Instant::now() + schedule::next_poll(source.interval, &source.name, failures[i]));
            }
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

async fn sleep_until(when: Option<Instant>) {
    match when {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}
