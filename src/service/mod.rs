//! What makes `vigie run` a well-kept service: the systemd notification
//! protocol (`READY=1`, `STATUS=`, `RELOADING=1`, `STOPPING=1`, the
//! watchdog), the scheduler loop's heartbeat, and the `/healthz` and
//! `/metrics` listener ([`http`]) with its metrics ([`telemetry`]).
//! Receives events from the daemon loop in [`crate::app`]; hands systemd and
//! scrapers what they ask for.

pub mod http;
pub mod telemetry;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use sd_notify::NotifyState;
use tokio::time::Instant;

/// The longest time between two heartbeats of the scheduler loop when
/// systemd's watchdog does not ask for a shorter one.
pub const HEARTBEAT: Duration = Duration::from_secs(5);

/// The service manager, told what the daemon is doing. Every call is a
/// no-op when vigie does not run under systemd (`NOTIFY_SOCKET` unset).
#[derive(Debug, Clone)]
pub struct Systemd {
    watchdog: Option<Duration>,
}

impl Systemd {
    /// Reads `NOTIFY_SOCKET` and `WATCHDOG_USEC` (with `WATCHDOG_PID`, which
    /// must be this process when set).
    pub fn from_env() -> Systemd {
        Systemd {
            watchdog: sd_notify::watchdog_enabled(),
        }
    }

    /// How often the scheduler loop beats: twice per watchdog period, as
    /// sd_watchdog_enabled(3) advises, and at least every [`HEARTBEAT`].
    pub fn heartbeat(&self) -> Duration {
        self.watchdog
            .map_or(HEARTBEAT, |w| (w / 2).min(HEARTBEAT))
            .max(Duration::from_millis(10))
    }

    /// Config, state and migrations are ready: the service has started.
    pub fn ready(&self, status: &str) {
        send(&[NotifyState::Ready, NotifyState::Status(status)]);
    }

    /// A reload begins; `READY=1` ends it. The monotonic time lets systemd
    /// tell this reload from an earlier one (`Type=notify-reload` needs it).
    pub fn reloading(&self) {
        match NotifyState::monotonic_usec_now() {
            Ok(now) => send(&[
                NotifyState::Reloading,
                now,
                NotifyState::Status("reloading the config"),
            ]),
            Err(_) => send(&[
                NotifyState::Reloading,
                NotifyState::Status("reloading the config"),
            ]),
        }
    }

    pub fn stopping(&self) {
        send(&[
            NotifyState::Stopping,
            NotifyState::Status("stopping: finishing the deliveries in flight"),
        ]);
    }

    /// The one line `systemctl status` shows.
    pub fn status(&self, status: &str) {
        send(&[NotifyState::Status(status)]);
    }

    /// The loop is alive: called from the scheduler loop itself, so a loop
    /// that hangs stops the pings and systemd restarts the service.
    pub fn watchdog(&self) {
        if self.watchdog.is_some() {
            send(&[NotifyState::Watchdog]);
        }
    }
}

fn send(states: &[NotifyState]) {
    if let Err(e) = sd_notify::notify(states) {
        tracing::debug!(error = %e, "cannot notify systemd");
    }
}

/// What `systemctl status` shows of a running vigie: "watching 120 sources,
/// 3 failing, 2 deliveries pending".
pub fn status_line(sources: usize, failing: usize, pending: u64, dead: u64) -> String {
    let mut line = format!(
        "watching {sources} source{}, {failing} failing, {pending} deliver{} pending",
        plural(sources),
        if pending == 1 { "y" } else { "ies" }
    );
    if dead > 0 {
        line.push_str(&format!(", {dead} dead"));
    }
    line
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// The scheduler loop's pulse, read by `/healthz`: the loop beats at every
/// turn and at least every [`Systemd::heartbeat`].
#[derive(Debug, Clone)]
pub struct Heartbeat {
    start: Instant,
    /// Milliseconds from `start` to the last beat.
    last: Arc<AtomicU64>,
    period: Duration,
    stopping: Arc<AtomicBool>,
}

impl Heartbeat {
    pub fn new(period: Duration) -> Heartbeat {
        Heartbeat {
            start: Instant::now(),
            last: Arc::default(),
            period,
            stopping: Arc::default(),
        }
    }

    pub fn beat(&self) {
        let ms = self.start.elapsed().as_millis() as u64;
        self.last.store(ms, Ordering::Relaxed);
    }

    /// How long since the last beat.
    pub fn age(&self) -> Duration {
        let last = Duration::from_millis(self.last.load(Ordering::Relaxed));
        self.start.elapsed().saturating_sub(last)
    }

    /// Beyond this silence the loop counts as hung: three missed beats, and
    /// a second of slack for a busy machine.
    pub fn limit(&self) -> Duration {
        self.period * 3 + Duration::from_secs(1)
    }

    pub fn set_stopping(&self) {
        self.stopping.store(true, Ordering::Relaxed);
    }

    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_line_reads_as_a_sentence() {
        assert_eq!(
            status_line(120, 3, 2, 0),
            "watching 120 sources, 3 failing, 2 deliveries pending"
        );
        assert_eq!(
            status_line(1, 0, 1, 4),
            "watching 1 source, 0 failing, 1 delivery pending, 4 dead"
        );
    }

    #[test]
    fn the_heartbeat_follows_the_watchdog() {
        let with = |usec: Option<u64>| Systemd {
            watchdog: usec.map(Duration::from_micros),
        };
        assert_eq!(with(None).heartbeat(), HEARTBEAT);
        assert_eq!(with(Some(30_000_000)).heartbeat(), HEARTBEAT);
        assert_eq!(
            with(Some(2_000_000)).heartbeat(),
            Duration::from_secs(1),
            "half the watchdog period"
        );
    }
}
