//! The commands, built on the pipeline stages: `check`, `once` (poll every
//! source, deliver, report) and `run` (the daemon loop: its SIGHUP reload,
//! its bounded stop, what it tells systemd and `/healthz`, through
//! [`crate::service`]). `main.rs` only parses arguments, receives the
//! signals and prints what these return.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, watch};
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
use crate::service::http::{self, Probe};
use crate::service::{self, Heartbeat, Systemd, telemetry};
use crate::store::{Health, OutboxCounts, SourceState, SqliteStore, Store, StoreError};

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
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
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
        polls
            .sources
            .insert(handle.id(), self.config.sources[index].name.clone());
    }
}

/// Polls in flight, each known by its source's name, so that a poll that
/// panics is still reported against its source (and rescheduled), and a
/// poll that outlives a reload finds its source in the new config.
#[derive(Default)]
struct Polls {
    set: JoinSet<Polled>,
    sources: HashMap<tokio::task::Id, String>,
}

impl Polls {
    fn len(&self) -> usize {
        self.set.len()
    }

    fn is_empty(&self) -> bool {
        self.set.is_empty()
    }

    /// Whether a poll of the source `name` is running.
    fn polling(&self, name: &str) -> bool {
        self.sources.values().any(|n| n == name)
    }

    /// The next poll to finish: its source's name and outcome.
    async fn next(&mut self) -> Option<(String, Polled)> {
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
            if let Some(name) = self.sources.remove(&id) {
                return Some((name, polled));
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
            let dispatcher = Arc::new(Dispatcher::new(
                pipeline.store.clone(),
                channels.clone(),
                config.daemon.timeout,
                stop.clone(),
            ));
            let loops = dispatcher.spawn_loops(wake.clone());
            Some((stop, wake, (dispatcher, loops), before))
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
    while let Some((name, polled)) = polls.next().await {
        if let Some((_, wake, _, _)) = &early
            && polled
                .result
                .as_ref()
                .is_ok_and(|r| r.recorded.deliveries > 0)
        {
            wake.notify_waiters();
        }
        let i = config.sources.iter().position(|s| s.name == name);
        results.push((i, name, polled.result.map(PollReport::kept)));
    }
    results.sort_by_key(|(i, _, _)| *i);
    let mut report = OnceReport {
        polls: results.into_iter().map(|(_, name, r)| (name, r)).collect(),
        deliveries: None,
    };
    if let (Some(channels), Some((stop, _, (early, mut loops), before))) = (channels, early) {
        // Each loop finishes the delivery in flight, then stops.
        stop.cancel();
        while loops.join_next().await.is_some() {}
        // A notifier that already failed in this run (and may have asked
        // to be left alone with Retry-After) is not tried again at once.
        let dispatcher = Arc::new(
            Dispatcher::new(
                pipeline.store.clone(),
                channels,
                config.daemon.timeout,
                CancellationToken::new(),
            )
            .skipping(early.stalled()),
        );
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

/// How long `run` waits for polls in flight at shutdown, and then as long
/// again for deliveries in flight: together well within the unit's
/// `TimeoutStopSec=60`.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(20);
/// How often the status line is brought up to date (it reads every
/// source's state).
const STATUS_EVERY: Duration = Duration::from_secs(10);
/// How long the status line waits for the store before it is skipped.
const STATUS_WAIT: Duration = Duration::from_secs(5);

/// What drives a running daemon besides its sources: the signals, as
/// `main.rs` receives them, and what to do with each config applied.
#[derive(Clone, Default)]
pub struct Control {
    /// Cancelled on SIGTERM or SIGINT: stop polling, finish what is in
    /// flight, return.
    pub shutdown: CancellationToken,
    /// Notified on SIGHUP: read the config file again and apply it.
    pub reload: Arc<Notify>,
    /// Called with every config applied by a reload (`main.rs` sets the new
    /// log level).
    pub on_reload: Option<OnReload>,
}

/// What to do with a config applied by a reload.
pub type OnReload = Arc<dyn Fn(&Config) + Send + Sync>;

/// `vigie run`: polls each source at its interval and delivers alerts as
/// they are recorded; applies a new config on `control.reload`; stops when
/// `control.shutdown` is cancelled.
pub async fn run(config: Config, control: Control) -> Result<(), AppError> {
    let systemd = Systemd::from_env();
    let metrics = telemetry::install();
    telemetry::config_loaded();
    let config = Arc::new(config);
    let pipeline = Pipeline::open(config.clone(), false).await?;
    let heartbeat = Heartbeat::new(systemd.heartbeat());
    heartbeat.beat();
    let (config_tx, config_rx) = watch::channel(config.clone());
    let listener_stop = CancellationToken::new();
    let listener = match config.daemon.listen {
        Some(addr) => {
            let bound = http::bind(addr)
                .await
                .map_err(|source| AppError::Listen { addr, source })?;
            let at = bound.local_addr().unwrap_or(addr);
            tracing::info!(addr = %at, "serving /healthz and /metrics");
            let probe = Probe {
                store: pipeline.store.clone(),
                state_path: config.daemon.state.clone(),
                heartbeat: heartbeat.clone(),
                metrics,
                config: config_rx,
            };
            Some(http::serve(bound, probe, listener_stop.clone()))
        }
        None => None,
    };
    let wake = Arc::new(Notify::new());
    let delivery = Delivery::start(
        &pipeline.store,
        Channels::new(&config)?,
        &config,
        &control.shutdown,
        &wake,
    );
    let timetable = resume(&config, pipeline.store.as_ref(), &pipeline.counters).await?;
    let mut daemon = Daemon {
        index: index_of(&config),
        pipeline,
        control,
        systemd,
        heartbeat,
        config_tx,
        timetable,
        polls: Polls::default(),
        repoll: Default::default(),
        delivery,
        wake,
        status_busy: Arc::default(),
        status_sent: Arc::default(),
    };
    tracing::info!(
        sources = config.sources.len(),
        rules = config.rules.len(),
        notifiers = config.notifiers.len(),
        "vigie started"
    );
    daemon.ready().await;
    daemon.run().await;
    daemon.stop().await;
    listener_stop.cancel();
    if let Some(listener) = listener {
        let _ = listener.await;
    }
    tracing::info!("vigie stopped");
    Ok(())
}

/// The running daemon's moving parts.
struct Daemon {
    control: Control,
    systemd: Systemd,
    heartbeat: Heartbeat,
    /// The config in force (in `pipeline.config`), for the listener too.
    config_tx: watch::Sender<Arc<Config>>,
    pipeline: Pipeline,
    timetable: Timetable,
    /// Source name → its index in the config in force and the timetable.
    index: HashMap<String, usize>,
    polls: Polls,
    /// Sources changed by a reload while a poll of theirs (with the old
    /// settings) was running: polled again as soon as it ends.
    repoll: std::collections::HashSet<String>,
    delivery: Delivery,
    /// Wakes the notifier loops when alerts were recorded.
    wake: Arc<Notify>,
    /// A status update is being computed.
    status_busy: Arc<std::sync::atomic::AtomicBool>,
    /// The status line systemd has, sent again only when it changes.
    status_sent: Arc<std::sync::Mutex<String>>,
}

impl Daemon {
    /// The scheduler loop, until shutdown. Each turn beats the heartbeat;
    /// the watchdog is pinged from here, so a loop that hangs gets the
    /// service restarted.
    async fn run(&mut self) {
        let mut beat = tokio::time::interval(self.systemd.heartbeat());
        beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut status = tokio::time::interval(STATUS_EVERY);
        status.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let shutdown = self.control.shutdown.clone();
        let reload = self.control.reload.clone();
        let mut signalled = 0;
        loop {
            self.heartbeat.beat();
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = reload.notified() => self.reload().await,
                _ = beat.tick() => self.systemd.watchdog(),
                _ = status.tick() => self.refresh_status(),
                _ = sleep_until(self.timetable.next()) => {
                    for i in self.timetable.take_due(Instant::now()) {
                        self.pipeline.spawn_poll(&mut self.polls, i, false);
                    }
                }
                Some((name, polled)) = self.polls.next(), if !self.polls.is_empty() => {
                    if polled.result.as_ref().is_ok_and(|r| r.recorded.deliveries > 0) {
                        self.wake.notify_waiters();
                    }
                    // A source removed by a reload meanwhile is forgotten.
                    if let Some(&i) = self.index.get(&name) {
                        let wait = match self.repoll.remove(&name) {
                            true => first_poll_in(&self.pipeline.config.sources[i]),
                            false => polled.wait,
                        };
                        self.timetable.done(i, Instant::now(), wait);
                    }
                }
            }
            // A health signal may have queued an alert too.
            if self.pipeline.counters.changes_total() != signalled {
                signalled = self.pipeline.counters.changes_total();
                self.wake.notify_waiters();
            }
        }
    }

    /// SIGTERM: no new polls; the polls and deliveries in flight finish,
    /// each side within [`SHUTDOWN_GRACE`]. What is still pending stays in
    /// the outbox for the next start.
    async fn stop(mut self) {
        self.systemd.stopping();
        self.heartbeat.set_stopping();
        tracing::info!(in_flight = self.polls.len(), "stopping: no new polls");
        let (systemd, heartbeat) = (self.systemd.clone(), self.heartbeat.clone());
        let polls = &mut self.polls;
        let drain = async { while polls.next().await.is_some() {} };
        if !alive_while(&systemd, &heartbeat, SHUTDOWN_GRACE, drain).await {
            tracing::warn!(
                "polls still running at shutdown were abandoned; their articles will be seen again"
            );
            self.polls.abort_all();
        }
        // Each notifier finishes the delivery in flight, then stops.
        let delivery = &mut self.delivery;
        if !alive_while(&systemd, &heartbeat, SHUTDOWN_GRACE, delivery.drain()).await {
            tracing::warn!(
                "deliveries still in flight at shutdown stay pending and go out at next start"
            );
            self.delivery.abort();
        }
    }

    /// SIGHUP: the config file read, checked and applied as a whole, or not
    /// at all. State, the outbox and polls in flight are kept either way.
    async fn reload(&mut self) {
        self.systemd.reloading();
        let path = self.pipeline.config.file.clone();
        tracing::info!(file = %path.display(), "reloading the config");
        let read = path.clone();
        // Compiling thousands of rules is CPU work: off the async workers.
        let loaded = tokio::task::spawn_blocking(move || {
            let config = config::load(&read)?;
            let channels = Channels::new(&config)?;
            let fetcher = Fetcher::for_config(&config)?;
            Ok::<_, AppError>((config, channels, fetcher))
        })
        .await;
        match loaded {
            Ok(Ok((config, channels, fetcher))) => self.apply(config, channels, fetcher),
            Ok(Err(e)) => reload_failed(&path, &e.to_string()),
            Err(e) => reload_failed(&path, &format!("the reload failed: {e}")),
        }
        self.heartbeat.beat();
        self.ready().await;
    }

    /// `READY=1`, with the status line.
    async fn ready(&self) {
        let status = self.status_now().await;
        self.systemd.ready(&status);
        if let Ok(mut sent) = self.status_sent.lock() {
            *sent = status;
        }
    }

    fn apply(&mut self, new: Config, channels: Channels, fetcher: Fetcher) {
        let old = self.pipeline.config.clone();
        if new.daemon.state != old.daemon.state {
            tracing::warn!(
                running = %old.daemon.state.display(),
                configured = %new.daemon.state.display(),
                "daemon.state changed: the running state is kept until vigie restarts"
            );
        }
        if new.daemon.listen != old.daemon.listen {
            tracing::warn!("daemon.listen changed: it applies when vigie restarts");
        }
        if new.daemon.log_format != old.daemon.log_format {
            tracing::warn!("daemon.log_format changed: it applies when vigie restarts");
        }
        let now = Instant::now();
        let (mut added, mut changed, mut kept) = (0, 0, 0);
        let before: HashMap<&str, &config::Source> =
            old.sources.iter().map(|s| (s.name.as_str(), s)).collect();
        let mut repoll = std::collections::HashSet::new();
        let slots: Vec<Option<Instant>> = new
            .sources
            .iter()
            .map(|s| {
                let soon = Some(now + first_poll_in(s));
                let before = before.get(s.name.as_str()).copied();
                match before {
                    Some(before) if before == s => {
                        kept += 1;
                        self.index
                            .get(&s.name)
                            .and_then(|&i| self.timetable.slot(i))
                            .unwrap_or(soon)
                    }
                    _ => {
                        if before.is_some() {
                            changed += 1;
                        } else {
                            added += 1;
                        }
                        // Reading the new URL or settings soon; a poll
                        // still running reschedules the source when done.
                        if self.polls.polling(&s.name) {
                            repoll.insert(s.name.clone());
                            None
                        } else {
                            soon
                        }
                    }
                }
            })
            .collect();
        let removed = old.sources.len() - kept - changed;
        if (new.daemon.concurrency, new.daemon.per_host)
            != (old.daemon.concurrency, old.daemon.per_host)
        {
            self.pipeline.limits = Limits::new(
                new.daemon.concurrency,
                new.daemon.per_host,
                defaults::HOST_SPACING,
            );
        }
        let new = Arc::new(new);
        self.timetable = Timetable::from_slots(slots);
        self.repoll = repoll;
        self.index = index_of(&new);
        self.pipeline.fetcher = fetcher;
        self.pipeline.config = new.clone();
        self.delivery.replace(
            &self.pipeline.store,
            channels,
            &new,
            &self.control.shutdown,
            &self.wake,
        );
        self.config_tx.send_replace(new.clone());
        if let Some(on_reload) = &self.control.on_reload {
            on_reload(&new);
        }
        metrics::counter!(telemetry::RELOADS).increment(1);
        telemetry::config_loaded();
        tracing::info!(
            sources = new.sources.len(),
            added,
            removed,
            changed,
            rules = new.rules.len(),
            notifiers = new.notifiers.len(),
            "config reloaded"
        );
    }

    /// The status line now, from the state; a state that does not answer
    /// in time gives a shorter line.
    async fn status_now(&self) -> String {
        let read = status_line_of(self.pipeline.config.clone(), self.pipeline.store.clone());
        match tokio::time::timeout(STATUS_WAIT, read).await {
            Ok(Ok(line)) => line,
            _ => format!(
                "watching {} sources (the state does not answer)",
                self.pipeline.config.sources.len()
            ),
        }
    }

    /// Updates the status line in the background: a slow state must not
    /// hold up the loop (and its watchdog).
    fn refresh_status(&self) {
        use std::sync::atomic::Ordering;
        if self.status_busy.swap(true, Ordering::AcqRel) {
            return;
        }
        let (config, store, systemd, busy, sent) = (
            self.pipeline.config.clone(),
            self.pipeline.store.clone(),
            self.systemd.clone(),
            self.status_busy.clone(),
            self.status_sent.clone(),
        );
        tokio::spawn(async move {
            if let Ok(Ok(line)) =
                tokio::time::timeout(STATUS_WAIT, status_line_of(config, store)).await
                && let Ok(mut sent) = sent.lock()
                && *sent != line
            {
                systemd.status(&line);
                *sent = line;
            }
            busy.store(false, Ordering::Release);
        });
    }
}

/// A reload refused: the running config stays; the errors are logged with
/// their `file:line:col`.
fn reload_failed(path: &Path, errors: &str) {
    metrics::counter!(telemetry::RELOAD_ERRORS).increment(1);
    metrics::gauge!(telemetry::LAST_RELOAD_OK).set(0.0);
    tracing::error!(
        file = %path.display(),
        "config reload refused; the running config is kept:\n{errors}"
    );
}

/// "watching 120 sources, 3 failing, 2 deliveries pending".
async fn status_line_of(config: Arc<Config>, store: Arc<dyn Store>) -> Result<String, StoreError> {
    let outbox = store.outbox_counts().await?;
    let failing = store
        .sources()
        .await?
        .iter()
        .filter(|(name, state)| state.health == Health::Failing && config.source(name).is_some())
        .count();
    Ok(service::status_line(
        config.sources.len(),
        failing,
        outbox.pending,
        outbox.dead,
    ))
}

/// Runs `work` for at most `grace`, pinging the watchdog meanwhile (a long
/// stop is not a hung loop). False when the time ran out.
async fn alive_while(
    systemd: &Systemd,
    heartbeat: &Heartbeat,
    grace: Duration,
    work: impl std::future::Future<Output = ()>,
) -> bool {
    let deadline = tokio::time::sleep(grace);
    tokio::pin!(work, deadline);
    let mut beat = tokio::time::interval(systemd.heartbeat());
    loop {
        tokio::select! {
            _ = &mut work => return true,
            _ = &mut deadline => return false,
            _ = beat.tick() => {
                systemd.watchdog();
                heartbeat.beat();
            }
        }
    }
}

/// The notifier loops of the config in force, and those of earlier configs
/// finishing their delivery in flight.
struct Delivery {
    /// Stops the current loops (a child of the shutdown token).
    stop: CancellationToken,
    loops: JoinSet<()>,
    /// Loops of replaced configs, each finishing the send it had started.
    /// The store's claims keep them from sending what the new loops send.
    retiring: JoinSet<()>,
}

impl Delivery {
    fn start(
        store: &Arc<dyn Store>,
        channels: Channels,
        config: &Config,
        shutdown: &CancellationToken,
        wake: &Arc<Notify>,
    ) -> Delivery {
        let stop = shutdown.child_token();
        let loops = Arc::new(Dispatcher::new(
            store.clone(),
            channels,
            config.daemon.timeout,
            stop.clone(),
        ))
        .spawn_loops(wake.clone());
        Delivery {
            stop,
            loops,
            retiring: JoinSet::new(),
        }
    }

    /// New notifiers: the old loops stop after their send in flight, new
    /// ones take the outbox from there. Nothing pending is lost: it is in
    /// the store.
    fn replace(
        &mut self,
        store: &Arc<dyn Store>,
        channels: Channels,
        config: &Config,
        shutdown: &CancellationToken,
        wake: &Arc<Notify>,
    ) {
        let next = Delivery::start(store, channels, config, shutdown, wake);
        self.stop.cancel();
        let mut old = std::mem::replace(&mut self.loops, next.loops);
        self.stop = next.stop;
        self.retiring
            .spawn(async move { while old.join_next().await.is_some() {} });
        // Retired loops already done are reaped.
        while self.retiring.try_join_next().is_some() {}
        wake.notify_waiters();
    }

    async fn drain(&mut self) {
        while self.loops.join_next().await.is_some() {}
        while self.retiring.join_next().await.is_some() {}
    }

    fn abort(&mut self) {
        self.loops.abort_all();
        self.retiring.abort_all();
    }
}

fn index_of(config: &Config) -> HashMap<String, usize> {
    config
        .sources
        .iter()
        .enumerate()
        .map(|(i, s)| (s.name.clone(), i))
        .collect()
}

/// When a new or changed source is first polled: soon, spread by its
/// stable phase over the first seconds as at start.
fn first_poll_in(source: &config::Source) -> Duration {
    source
        .interval
        .min(schedule::FIRST_SPREAD)
        .mul_f64(schedule::phase(&source.name))
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
        let spread = first_poll_in(s);
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
