//! Source health, judged after every poll from what the store remembers:
//! *failing* after [`defaults::FAILING_AFTER`] consecutive failed polls,
//! *stale* when no new article arrived for `stale_after`, else *ok*. Each
//! change is signalled to the operator once — a log line, a counter in
//! [`Counters`], and an alert through `[daemon] errors_to` recorded in the
//! outbox with the poll's other alerts — never once per failed poll.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::config::{Config, Notifier, Source, defaults};
use crate::model::{Alert, Article};
use crate::store::{Health, NewAlert, NewDelivery, SourceState, Store, StoreError};

/// In-process counters of source health changes, which wake the delivery
/// loops when a signal was queued; each change is also counted in
/// `vigie_source_health_changes_total{to=…}` (the health gauges of
/// `/metrics` are read from the state at scrape time).
#[derive(Debug, Default)]
pub struct Counters {
    /// Changes to failing, stale and ok (recoveries), in that order.
    changes: [AtomicU64; 3],
    failing: AtomicI64,
    stale: AtomicI64,
}

impl Counters {
    fn record(&self, from: Health, to: Health) {
        let slot = match to {
            Health::Failing => 0,
            Health::Stale => 1,
            Health::Ok => 2,
        };
        self.changes[slot].fetch_add(1, Ordering::Relaxed);
        metrics::counter!(crate::service::telemetry::HEALTH_CHANGES, "to" => to.as_str())
            .increment(1);
        if let Some(g) = self.gauge(from) {
            g.fetch_sub(1, Ordering::Relaxed);
        }
        if let Some(g) = self.gauge(to) {
            g.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn gauge(&self, health: Health) -> Option<&AtomicI64> {
        match health {
            Health::Failing => Some(&self.failing),
            Health::Stale => Some(&self.stale),
            Health::Ok => None,
        }
    }

    /// Seeds the gauges with what the store says at start.
    pub fn seed(&self, states: &[(String, SourceState)]) {
        for (_, state) in states {
            if let Some(g) = self.gauge(state.health) {
                g.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Changes of health to `to` since start.
    pub fn changes_to(&self, to: Health) -> u64 {
        let slot = match to {
            Health::Failing => 0,
            Health::Stale => 1,
            Health::Ok => 2,
        };
        self.changes[slot].load(Ordering::Relaxed)
    }

    /// Changes of health of any kind since start.
    pub fn changes_total(&self) -> u64 {
        self.changes.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }

    /// Sources failing and stale now, as far as this process knows.
    pub fn current(&self) -> (i64, i64) {
        (
            self.failing.load(Ordering::Relaxed),
            self.stale.load(Ordering::Relaxed),
        )
    }
}

/// The health `state` deserves at `now`.
pub fn judge(state: &SourceState, stale_after: Option<Duration>, now: DateTime<Utc>) -> Health {
    if state.failures >= defaults::FAILING_AFTER {
        return Health::Failing;
    }
    // Silence counts from the last new article, or from the first success
    // of a source that never had one.
    let since = state.last_new.or(state.first_success);
    if let (Some(after), Some(since)) = (stale_after, since)
        && let Ok(after) = chrono::Duration::from_std(after)
        && now - since > after
    {
        return Health::Stale;
    }
    Health::Ok
}

/// Judges `source` after a poll and signals a change, once. Returns the new
/// health when it changed.
pub async fn check(
    config: &Config,
    store: &dyn Store,
    counters: &Counters,
    source: &Source,
    now: DateTime<Utc>,
) -> Result<Option<Health>, StoreError> {
    let Some(state) = store.source_state(&source.name).await? else {
        return Ok(None);
    };
    let to = judge(&state, config.daemon.stale_after, now);
    let from = state.health;
    if to == from {
        return Ok(None);
    }
    let (title, detail) = describe(source, &state, from, to, config.daemon.stale_after);
    let signal = config
        .daemon
        .errors_to
        .as_ref()
        .and_then(|name| config.notifier(name))
        .map(|notifier| signal(source, notifier, to, &title, &detail, now));
    if !store
        .set_health(&source.name, from, to, now, signal.as_ref())
        .await?
    {
        return Ok(None);
    }
    counters.record(from, to);
    match to {
        Health::Ok => {
            tracing::info!(source = %source.name, from = from.as_str(), detail = %detail, "source recovered")
        }
        _ => {
            tracing::warn!(source = %source.name, health = to.as_str(), detail = %detail, "{title}")
        }
    }
    Ok(Some(to))
}

fn describe(
    source: &Source,
    state: &SourceState,
    from: Health,
    to: Health,
    stale_after: Option<Duration>,
) -> (String, String) {
    let name = &source.name;
    let when = |t: Option<DateTime<Utc>>| {
        t.map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
            .unwrap_or_else(|| "never".into())
    };
    match to {
        Health::Failing => (
            format!("vigie: source {name} is failing"),
            format!(
                "{} consecutive polls failed; last error ({}): {}. Last success: {}.",
                state.failures,
                state.last_error_kind.as_deref().unwrap_or("unknown"),
                state.last_error.as_deref().unwrap_or("unknown"),
                when(state.last_success),
            ),
        ),
        Health::Stale => (
            format!("vigie: source {name} is stale"),
            format!(
                "No new article since {} (stale_after = {}).",
                when(state.last_new.or(state.first_success)),
                stale_after
                    .map(|d| humantime::format_duration(d).to_string())
                    .unwrap_or_default(),
            ),
        ),
        Health::Ok => (
            format!("vigie: source {name} has recovered"),
            match from {
                Health::Failing => "Polled successfully again.".to_string(),
                _ => format!("A new article on {}.", when(state.last_new)),
            },
        ),
    }
}

/// The operator's alert: an [`Alert`] like any other, so every notifier
/// type sends it and the outbox retries it; its rule is
/// `vigie:source_failing`, `vigie:source_stale` or `vigie:source_recovered`.
fn signal(
    source: &Source,
    notifier: &Notifier,
    to: Health,
    title: &str,
    detail: &str,
    now: DateTime<Utc>,
) -> NewAlert {
    let rule = match to {
        Health::Failing => "vigie:source_failing",
        Health::Stale => "vigie:source_stale",
        Health::Ok => "vigie:source_recovered",
    };
    // The URL without its query, which may hold a token.
    let mut url = source.url.clone();
    url.set_query(None);
    let key = format!("health:{}:{}", to.as_str(), now.timestamp_millis());
    let alert = Alert {
        rule: rule.to_string(),
        source: source.name.clone(),
        article: Article {
            key: key.clone(),
            aliases: Vec::new(),
            url: Some(url.to_string()),
            title: title.to_string(),
            summary: detail.to_string(),
            body: None,
            published: Some(now),
            updated: None,
            authors: Vec::new(),
            language: Some("en".into()),
            tags: source.tags.clone(),
            source: source.name.clone(),
        },
        matches: Vec::new(),
        detected_at: now,
    };
    NewAlert {
        deliveries: vec![NewDelivery::of(&alert, notifier)],
        alert,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn counters_follow_each_change() {
        let counters = Counters::default();
        let failing = SourceState {
            health: Health::Failing,
            ..SourceState::default()
        };
        counters.seed(&[
            ("rfi".into(), failing),
            ("un".into(), SourceState::default()),
        ]);
        assert_eq!(counters.current(), (1, 0));
        counters.record(Health::Failing, Health::Ok);
        counters.record(Health::Ok, Health::Stale);
        counters.record(Health::Stale, Health::Failing);
        assert_eq!(counters.current(), (1, 0));
        assert_eq!(counters.changes_to(Health::Ok), 1);
        assert_eq!(counters.changes_to(Health::Stale), 1);
        assert_eq!(counters.changes_to(Health::Failing), 1);
        assert_eq!(counters.changes_total(), 3);
    }

    #[test]
    fn failing_after_n_consecutive_failures_stale_after_silence() {
        let now = at("2023-08-22T10:00:00Z");
        let three_days = Some(Duration::from_secs(3 * 86_400));
        let mut s = SourceState {
            first_success: Some(at("2023-08-01T00:00:00Z")),
            last_new: Some(at("2023-08-20T10:00:00Z")),
            ..SourceState::default()
        };
        assert_eq!(judge(&s, three_days, now), Health::Ok);
        s.failures = defaults::FAILING_AFTER - 1;
        assert_eq!(judge(&s, three_days, now), Health::Ok);
        s.failures = defaults::FAILING_AFTER;
        assert_eq!(judge(&s, three_days, now), Health::Failing);
        s.failures = 0;
        s.last_new = Some(at("2023-08-18T10:00:00Z"));
        assert_eq!(judge(&s, three_days, now), Health::Stale);
        assert_eq!(
            judge(&s, None, now),
            Health::Ok,
            "no stale_after, never stale"
        );
        s.last_new = None;
        assert_eq!(
            judge(&s, three_days, now),
            Health::Stale,
            "never a new article"
        );
    }
}
