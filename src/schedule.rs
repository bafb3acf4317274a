//! When things happen again: each source's next poll (its interval, spread
//! by a jitter so sources with one interval do not fire together, lengthened
//! by the feed's own hints, backed off while it fails, never before a
//! server's `Retry-After`), the [`Limits`] on fetches in flight (all hosts,
//! one host, and the spacing of requests to one host), and the one
//! exponential backoff used by polling and delivery alike. Everything here
//! runs on tokio's monotonic clock: a wall-clock jump neither floods nor
//! stalls the daemon.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use url::Url;

use crate::normalize::short_hash;

/// The longest a failing source waits between two polls.
pub const MAX_BACKOFF: Duration = Duration::from_secs(6 * 3600);
/// The longest a feed's own hints (`<ttl>`, `Cache-Control: max-age`) may
/// stretch a source's interval: a feed asking for a day between polls must
/// not hide a day of news.
pub const MAX_HINTED_INTERVAL: Duration = Duration::from_secs(3600);
/// The longest a server's `Retry-After` is honoured: beyond it, a typo or a
/// hostile server would park a source (or an alert) for years.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);

/// Exponential backoff: `base · 2^(attempt-1)`, capped. `attempt` counts
/// from 1 (the first retry waits `base`).
pub fn backoff(base: Duration, attempt: u32, cap: Duration) -> Duration {
    let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(30));
    base.saturating_mul(factor).min(cap)
}

/// A stable fraction in [0, 1) derived from a name: each source keeps its
/// own phase across restarts, and the phases are spread evenly.
pub fn phase(name: &str) -> f64 {
    let hex = short_hash(&[name]);
    let n = u32::from_str_radix(&hex[..8], 16).unwrap_or(0);
    f64::from(n) / (f64::from(u32::MAX) + 1.0)
}

/// What the last poll of a source says about the next one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Feedback {
    /// Consecutive failures, the last poll included (0 after a success).
    pub failures: u32,
    /// The server's `Retry-After`, when it answered `429` or `503`.
    pub retry_after: Option<Duration>,
    /// The feed's polling hint: the longer of its `<ttl>` and the answer's
    /// `Cache-Control: max-age`.
    pub hint: Option<Duration>,
}

/// The wait before a source's next poll:
///
/// - its interval, lengthened (never shortened) by the feed's hint up to
///   [`MAX_HINTED_INTERVAL`] (or the interval itself when it is longer);
/// - plus or minus up to 10 % chosen by the source's phase, so polls of many
///   sources with one interval spread out instead of firing together;
/// - while it fails, doubling from that at each failure, at most
///   [`MAX_BACKOFF`] apart, and never before the server's `Retry-After`.
pub fn next_poll(interval: Duration, name: &str, feedback: Feedback) -> Duration {
    let interval = match feedback.hint {
        Some(hint) => hint.clamp(interval, interval.max(MAX_HINTED_INTERVAL)),
        None => interval,
    };
    let jitter = (phase(name) - 0.5) * 0.2;
    let base = interval.mul_f64(1.0 + jitter);
    if feedback.failures == 0 {
        return base;
    }
    let wait = backoff(base, feedback.failures + 1, MAX_BACKOFF.max(base));
    match feedback.retry_after {
        Some(asked) => wait.max(asked.min(MAX_RETRY_AFTER)),
        None => wait,
    }
}

/// Delivery retries: 30 s, 1 min, 2 min … up to one hour, each spread by
/// up to ±10 % (stable per delivery and attempt), so deliveries that failed
/// together do not all come back in the same second.
pub fn delivery_retry(attempt: u32, id: &str) -> Duration {
    let base = backoff(Duration::from_secs(30), attempt, Duration::from_secs(3600));
    let spread = phase(&format!("{id}/{attempt}"));
    base.mul_f64(0.9 + 0.2 * spread)
}

/// `Retry-After`: delay-seconds or an HTTP date, as a wait from `now` (zero
/// for a date in the past).
pub fn retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = DateTime::parse_from_rfc2822(value).ok()?;
    Some(
        (date.with_timezone(&Utc) - now)
            .to_std()
            .unwrap_or_default(),
    )
}

/// When each source is due, on the monotonic clock. A source being polled
/// is due at no time, so a slow source is never polled twice at once.
#[derive(Debug, Clone)]
pub struct Timetable {
    due: Vec<Option<Instant>>,
}

impl Timetable {
    /// Source `i` is first due `first[i]` after `start`.
    pub fn new(start: Instant, first: impl IntoIterator<Item = Duration>) -> Timetable {
        Timetable {
            due: first.into_iter().map(|d| Some(start + d)).collect(),
        }
    }

    /// The first polls of sources polled at `intervals`, spread by each
    /// source's phase over the first seconds instead of all at once.
    pub fn spread<'a>(
        start: Instant,
        sources: impl IntoIterator<Item = (&'a str, Duration)>,
    ) -> Timetable {
        Timetable::new(
            start,
            sources
                .into_iter()
                .map(|(name, interval)| interval.min(FIRST_SPREAD).mul_f64(phase(name))),
        )
    }

    /// A timetable from each source's next poll (`None`: being polled).
    pub fn from_slots(due: Vec<Option<Instant>>) -> Timetable {
        Timetable { due }
    }

    /// When source `i` is due: `Some(None)` while it is being polled.
    pub fn slot(&self, i: usize) -> Option<Option<Instant>> {
        self.due.get(i).copied()
    }

    /// The next time a source is due, if any is waiting.
    pub fn next(&self) -> Option<Instant> {
        self.due.iter().flatten().min().copied()
    }

    /// The sources due at `now`, marked as being polled.
    pub fn take_due(&mut self, now: Instant) -> Vec<usize> {
        let mut taken = Vec::new();
        for (i, slot) in self.due.iter_mut().enumerate() {
            if slot.is_some_and(|t| t <= now) {
                *slot = None;
                taken.push(i);
            }
        }
        taken
    }

    /// Source `i` finished a poll at `now` and waits `wait`.
    pub fn done(&mut self, i: usize, now: Instant, wait: Duration) {
        if let Some(slot) = self.due.get_mut(i) {
            *slot = Some(now + wait);
        }
    }
}

/// Over how long the first polls of `vigie run` are spread.
pub const FIRST_SPREAD: Duration = Duration::from_secs(10);

/// The caps on fetches in flight — `concurrency` for all hosts, `per_host`
/// for one — and the spacing of request starts to one host. Hosts on this
/// machine (loopback addresses, `localhost`) are not spaced: politeness is
/// for other people's servers.
#[derive(Clone)]
pub struct Limits {
    all: Arc<Semaphore>,
    hosts: Arc<Mutex<HashMap<String, Arc<HostSlots>>>>,
    per_host: usize,
    spacing: Duration,
}

struct HostSlots {
    slots: Arc<Semaphore>,
    /// When the last request to the host started.
    last_start: Mutex<Option<Instant>>,
}

/// A place under both caps, held for the whole fetch.
pub struct Permit {
    _host: OwnedSemaphorePermit,
    _all: OwnedSemaphorePermit,
}

impl Limits {
    pub fn new(concurrency: usize, per_host: usize, spacing: Duration) -> Limits {
        Limits {
            all: Arc::new(Semaphore::new(concurrency)),
            hosts: Arc::default(),
            per_host,
            spacing,
        }
    }

    fn host(&self, host: &str) -> Arc<HostSlots> {
        // A poisoned lock only means another poll panicked while inserting;
        // the map itself is still consistent.
        let mut map = self.hosts.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(host.to_ascii_lowercase())
            .or_insert_with(|| {
                Arc::new(HostSlots {
                    slots: Arc::new(Semaphore::new(self.per_host)),
                    last_start: Mutex::new(None),
                })
            })
            .clone()
    }

    /// Waits for a place under both caps and for the host's spacing.
    pub async fn acquire(&self, url: &Url) -> Permit {
        let host = self.host(url.host_str().unwrap_or_default());
        // The host's slot first: a host with a long queue then holds at
        // most `per_host` global places. The semaphores are never closed,
        // so acquire cannot fail.
        let host_permit = host.slots.clone().acquire_owned().await;
        let all_permit = self.all.clone().acquire_owned().await;
        let (Ok(host_permit), Ok(all_permit)) = (host_permit, all_permit) else {
            unreachable!("the limits' semaphores are never closed")
        };
        if !self.spacing.is_zero() && !crate::fetch::guard::is_local(url) {
            loop {
                let wait_until = {
                    let mut last = host.last_start.lock().unwrap_or_else(|p| p.into_inner());
                    let now = Instant::now();
                    match *last {
                        Some(t) if t + self.spacing > now => t + self.spacing,
                        _ => {
                            *last = Some(now);
                            break;
                        }
                    }
                };
                tokio::time::sleep_until(wait_until).await;
            }
        }
        Permit {
            _host: host_permit,
            _all: all_permit,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_secs(60);

    #[test]
    fn backoff_doubles_and_caps() {
        let s = Duration::from_secs;
        assert_eq!(backoff(s(30), 1, s(3600)), s(30));
        assert_eq!(backoff(s(30), 2, s(3600)), s(60));
        assert_eq!(backoff(s(30), 5, s(3600)), s(480));
        assert_eq!(backoff(s(30), 100, s(3600)), s(3600));
    }

    #[test]
    fn jitter_stays_within_ten_percent() {
        for name in ["un-news", "rfi", "abamako", "maliweb", ""] {
            let d = next_poll(10 * MIN, name, Feedback::default());
            assert!(d >= 9 * MIN && d <= 11 * MIN, "{name}: {d:?}");
        }
        assert_ne!(phase("un-news"), phase("rfi"));
    }

    #[test]
    fn jitter_spreads_sources_of_one_interval() {
        let mut waits: Vec<Duration> = (0..200)
            .map(|i| next_poll(10 * MIN, &format!("source-{i}"), Feedback::default()))
            .collect();
        waits.sort();
        // 200 sources over a 2-minute window: no crowd at one instant.
        let spread = waits[199] - waits[0];
        assert!(spread > 100 * Duration::from_secs(1), "{spread:?}");
        let same = waits.windows(2).filter(|w| w[0] == w[1]).count();
        assert!(same < 5, "{same} sources fire together");
    }

    #[test]
    fn hints_lengthen_the_interval_up_to_a_cap_and_never_shorten_it() {
        let base = |hint: Option<Duration>, interval: Duration| {
            let fb = Feedback {
                hint,
                ..Feedback::default()
            };
            // Divide the jitter out: the same name gives the same factor.
            next_poll(interval, "x", fb).as_secs_f64()
                / next_poll(interval, "x", Feedback::default()).as_secs_f64()
                * interval.as_secs_f64()
        };
        let close = |a: f64, b: Duration| (a - b.as_secs_f64()).abs() < 1.0;
        assert!(close(base(Some(30 * MIN), 10 * MIN), 30 * MIN));
        assert!(close(base(Some(MIN), 10 * MIN), 10 * MIN), "never shorter");
        assert!(
            close(base(Some(24 * 60 * MIN), 10 * MIN), 60 * MIN),
            "capped"
        );
        assert!(
            close(base(Some(24 * 60 * MIN), 120 * MIN), 120 * MIN),
            "a long interval stays"
        );
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = DateTime::parse_from_rfc3339("2015-10-21T07:20:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(retry_after("120", now), Some(Duration::from_secs(120)));
        assert_eq!(
            retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now),
            Some(Duration::from_secs(480))
        );
        assert_eq!(
            retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after("soon", now), None);
        assert_eq!(retry_after("-5", now), None);
    }

    /// Drives a timetable of one source through outcomes on paused time and
    /// returns the instants (in seconds from the start) it was polled at.
    async fn polls_at(interval: Duration, outcomes: &[Feedback]) -> Vec<u64> {
        let start = Instant::now();
        let mut table = Timetable::new(start, [Duration::ZERO]);
        let mut at = Vec::new();
        for feedback in outcomes {
            tokio::time::sleep_until(table.next().expect("due")).await;
            assert_eq!(table.take_due(Instant::now()), vec![0]);
            assert_eq!(table.next(), None, "not due while being polled");
            at.push((Instant::now() - start).as_secs());
            table.done(0, Instant::now(), next_poll(interval, "x", *feedback));
        }
        at
    }

    fn failed(failures: u32) -> Feedback {
        Feedback {
            failures,
            ..Feedback::default()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_failing_source_backs_off_and_returns_to_its_interval() {
        let interval = 10 * MIN;
        let step = next_poll(interval, "x", Feedback::default()).as_secs();
        let at = polls_at(
            interval,
            &[
                failed(1),
                failed(2),
                failed(3),
                Feedback::default(),
                Feedback::default(),
            ],
        )
        .await;
        // In units of the jittered interval (rounded: whole seconds).
        let gaps: Vec<u64> = at
            .windows(2)
            .map(|w| ((w[1] - w[0]) as f64 / step as f64).round() as u64)
            .collect();
        assert_eq!(gaps, vec![2, 4, 8, 1], "{at:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn backoff_is_capped_at_six_hours() {
        let outcomes: Vec<Feedback> = (1..=12).map(failed).collect();
        let at = polls_at(10 * MIN, &outcomes).await;
        let last = at[11] - at[10];
        assert_eq!(last, MAX_BACKOFF.as_secs());
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_is_honoured_and_capped() {
        let interval = MIN;
        let asked = |secs| Feedback {
            failures: 1,
            retry_after: Some(Duration::from_secs(secs)),
            hint: None,
        };
        let at = polls_at(
            interval,
            &[
                asked(3600),
                asked(10),
                asked(10 * 24 * 3600),
                Feedback::default(),
            ],
        )
        .await;
        let gaps: Vec<u64> = at.windows(2).map(|w| w[1] - w[0]).collect();
        let backoff = next_poll(interval, "x", failed(1)).as_secs();
        assert_eq!(gaps[0], 3600, "Retry-After longer than the backoff");
        assert_eq!(gaps[1], backoff, "never sooner than the backoff");
        assert_eq!(gaps[2], MAX_RETRY_AFTER.as_secs(), "capped");
    }

    #[tokio::test(start_paused = true)]
    async fn first_polls_are_spread_over_the_first_seconds() {
        let names: Vec<String> = (0..50).map(|i| format!("feed-{i}")).collect();
        let start = Instant::now();
        let mut table = Timetable::spread(start, names.iter().map(|n| (n.as_str(), 10 * MIN)));
        let at_once = table.take_due(start).len();
        assert!(at_once < 5, "{at_once} polls at once");
        tokio::time::advance(FIRST_SPREAD / 2).await;
        let first_half = table.take_due(Instant::now()).len();
        assert!((10..40).contains(&first_half), "{first_half}");
        tokio::time::advance(FIRST_SPREAD / 2).await;
        let rest = table.take_due(Instant::now()).len();
        assert_eq!(at_once + first_half + rest, 50);
    }

    #[tokio::test(start_paused = true)]
    async fn requests_to_one_host_are_spaced_and_capped() {
        let limits = Limits::new(8, 2, Duration::from_secs(1));
        let url = Url::parse("https://news.example.org/feed").unwrap();
        let other = Url::parse("https://www.rfi.example/feed").unwrap();
        let start = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        let starts = Arc::new(Mutex::new(Vec::new()));
        for i in 0..4 {
            let (limits, url, starts) = (limits.clone(), url.clone(), starts.clone());
            tasks.spawn(async move {
                let _permit = limits.acquire(&url).await;
                starts.lock().unwrap().push((i, Instant::now() - start));
                tokio::time::sleep(Duration::from_millis(100)).await;
            });
        }
        let other_start = {
            let _permit = limits.acquire(&other).await;
            Instant::now() - start
        };
        while tasks.join_next().await.is_some() {}
        let mut starts: Vec<Duration> = starts.lock().unwrap().iter().map(|s| s.1).collect();
        starts.sort();
        let secs: Vec<u64> = starts.iter().map(|d| d.as_secs()).collect();
        assert_eq!(secs, vec![0, 1, 2, 3], "one start a second on one host");
        assert!(
            other_start < Duration::from_millis(10),
            "another host is not held back"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn loopback_hosts_are_not_spaced() {
        let limits = Limits::new(8, 2, Duration::from_secs(1));
        let url = Url::parse("http://127.0.0.1:8080/feed").unwrap();
        let start = Instant::now();
        for _ in 0..3 {
            drop(limits.acquire(&url).await);
        }
        assert!(Instant::now() - start < Duration::from_millis(10));
    }
}
