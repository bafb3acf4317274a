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
    fn spawn_poll(
        &self,
        tasks: &mut JoinSet<(usize, Result<PollReport, PollError>)>,
        index: usize,
        dry_run: bool,
    ) {
        let source = self.config.sources[index].clone();
        let (config, store, fetcher, limits) = (
            self.config.clone(),
            self.store.clone(),
            self.fetcher.clone(),
            self.limits.clone(),
        );
        tasks.spawn(async move {
            let host = limits.host(source.url.host_str().unwrap_or_default());
            // The semaphores are never closed, so acquire cannot fail.
            let _host = host.acquire_owned().await;
            let _all = limits.all.acquire_owned().await;
            (
                index,
                poll_and_record(config, store, fetcher, source, dry_run).await,
            )
        });
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
    let mut tasks = JoinSet::new();
    for (i, source) in config.sources.iter().enumerate() {
        if only.is_none_or(|name| name == source.name) {
            pipeline.spawn_poll(&mut tasks, i, dry_run);
        }
    }
    let mut results: Vec<(usize, Result<PollReport, PollError>)> = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(r) => results.push(r),
            Err(e) => tracing::error!(error = %e, "a poll task failed"),
        }
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
        let dispatcher = Dispatcher::new(pipeline.store.clone(), channels);
        report.deliveries = Some(dispatcher.dispatch(None).await?);
    }
    Ok(report)
}

/// How long `run` waits for polls and deliveries in flight at shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(20);
/// The dispatcher looks at the outbox at least this often.
const DISPATCH_IDLE: Duration = Duration::from_secs(30);

/// `vigie run`: polls each source at its interval and delivers alerts as
/// they are recorded, until `shutdown` is cancelled.
pub async fn run(config: Config, shutdown: CancellationToken) -> Result<(), AppError> {
    let config = Arc::new(config);
    let pipeline = Pipeline::open(config.clone(), false).await?;
    let channels = Channels::new(&config)?;
    let wake_dispatcher = Arc::new(Notify::new());
    let dispatcher = tokio::spawn(dispatch_loop(
        Dispatcher::new(pipeline.store.clone(), channels),
        pipeline.store.clone(),
        wake_dispatcher.clone(),
        shutdown.clone(),
    ));
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
    let mut tasks = JoinSet::new();
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
                        pipeline.spawn_poll(&mut tasks, i, false);
                    }
                }
            }
            Some(joined) = tasks.join_next(), if !tasks.is_empty() => {
                let Ok((i, result)) = joined else { continue };
                let source = &config.sources[i];
                match result {
                    Ok(report) => {
                        failures[i] = 0;
                        if report.recorded.deliveries > 0 {
                            wake_dispatcher.notify_one();
                        }
                    }
                    Err(_) => failures[i] = failures[i].saturating_add(1),
                }
                due[i] = Some(Instant::now() + schedule::next_poll(source.interval, &source.name, failures[i]));
            }
        }
    }

    tracing::info!(in_flight = tasks.len(), "stopping: no new polls");
    let drain = async { while tasks.join_next().await.is_some() {} };
    if tokio::time::timeout(SHUTDOWN_GRACE, drain).await.is_err() {
        tracing::warn!(
            "polls still running at shutdown were abandoned; their articles will be seen again"
        );
        tasks.abort_all();
    }
    // The dispatcher finishes the delivery in flight, then stops.
    match tokio::time::timeout(SHUTDOWN_GRACE, dispatcher).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => return Err(e.into()),
        Ok(Err(e)) => tracing::error!(error = %e, "the dispatcher failed"),
        Err(_) => tracing::warn!(
            "deliveries still in flight at shutdown stay pending and go out at next start"
        ),
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

async fn dispatch_loop(
    dispatcher: Dispatcher,
    store: Arc<dyn Store>,
    wake: Arc<Notify>,
    shutdown: CancellationToken,
) -> Result<(), StoreError> {
    loop {
        match dispatcher.dispatch(Some(chrono::Utc::now())).await {
            Ok(r) if r != DispatchReport::default() => {
                tracing::debug!(
                    sent = r.sent,
                    retrying = r.retrying,
                    dead = r.dead,
                    "outbox pass"
                );
            }
            Ok(_) => {}
            // A locked or briefly unreachable state file must not end the
            // daemon: the next pass tries again.
            Err(e) => tracing::error!(error = %e, "outbox pass failed"),
        }
        let wait = match store.next_delivery_due().await {
            Ok(Some(at)) => (at - chrono::Utc::now())
                .to_std()
                .unwrap_or(Duration::ZERO)
                .min(DISPATCH_IDLE),
            _ => DISPATCH_IDLE,
        };
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            _ = wake.notified() => {}
            _ = tokio::time::sleep(wait.max(Duration::from_millis(200))) => {}
        }
    }
}
