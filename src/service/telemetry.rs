//! The Prometheus metrics of `vigie run`, every one named `vigie_…`. The
//! stages count what they do where they do it (`metrics::counter!` at the
//! call site, a no-op when no recorder is installed, as in `vigie once`);
//! the gauges that describe the state — the outbox, source health — are read
//! from the store when `/metrics` is scraped, so they are true even after a
//! restart, a reload or another process's work.

use std::collections::HashSet;
use std::sync::OnceLock;
use std::time::Duration;

use metrics::{Unit, describe_counter, describe_gauge, describe_histogram, gauge};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::config::Config;
use crate::store::{Health, Store};

pub const POLLS: &str = "vigie_polls_total";
pub const FETCH_ERRORS: &str = "vigie_fetch_errors_total";
pub const NOT_MODIFIED: &str = "vigie_not_modified_total";
pub const FETCHED_BYTES: &str = "vigie_fetched_bytes_total";
pub const NEW_ARTICLES: &str = "vigie_new_articles_total";
pub const RULE_MATCHES: &str = "vigie_rule_matches_total";
pub const DELIVERIES: &str = "vigie_deliveries_total";
pub const OUTBOX_PENDING: &str = "vigie_outbox_pending";
pub const OUTBOX_DEAD: &str = "vigie_outbox_dead";
pub const SOURCES: &str = "vigie_sources";
pub const SOURCES_FAILING: &str = "vigie_sources_failing";
pub const POLL_DURATION: &str = "vigie_poll_duration_seconds";
pub const DELIVERY_DURATION: &str = "vigie_delivery_duration_seconds";
pub const RELOADS: &str = "vigie_config_reloads_total";
pub const RELOAD_ERRORS: &str = "vigie_config_reload_errors_total";
pub const LAST_RELOAD_OK: &str = "vigie_config_last_reload_successful";
pub const LAST_RELOAD_TIME: &str = "vigie_config_last_reload_success_timestamp_seconds";
pub const HEALTH_CHANGES: &str = "vigie_source_health_changes_total";
pub const STATE_UP: &str = "vigie_state_up";
pub const BUILD_INFO: &str = "vigie_build_info";
pub const START_TIME: &str = "vigie_start_time_seconds";

/// Bucket bounds of both duration histograms, in seconds: a feed served from
/// a cache answers in tens of milliseconds, a slow portal takes the whole
/// `timeout` (30 s by default).
const BUCKETS: &[f64] = &[
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// How long a scrape waits for the store before leaving the state gauges
/// as they were and reporting `vigie_state_up 0`.
const STORE_WAIT: Duration = Duration::from_secs(5);

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process's metrics recorder, once; `None` when another
/// recorder was installed first.
pub fn install() -> Option<PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new().set_buckets(BUCKETS).ok()?;
            let handle = builder.install_recorder().ok()?;
            describe();
            gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            gauge!(START_TIME).set(now.as_secs_f64());
            // Counters exist from the start, at zero: an alert on
            // `increase(…[1h]) > 0` must not wait for the first event.
            for name in [
                NOT_MODIFIED,
                FETCHED_BYTES,
                NEW_ARTICLES,
                RELOADS,
                RELOAD_ERRORS,
            ] {
                metrics::counter!(name).absolute(0);
            }
            for outcome in ["ok", "not_modified", "unchanged", "error"] {
                metrics::counter!(POLLS, "outcome" => outcome).absolute(0);
            }
            Some(handle)
        })
        .clone()
}

fn describe() {
    describe_counter!(
        POLLS,
        "Polls finished, by outcome: ok (new content read), not_modified (304), unchanged (the same bytes as the last poll), error"
    );
    describe_counter!(
        FETCH_ERRORS,
        "Failed polls by kind: timeout, connect, too_large, truncated, redirects, redirect_loop, refused, status, empty, html, not_a_feed, malformed, state, internal"
    );
    describe_counter!(NOT_MODIFIED, "Responses 304 Not Modified");
    describe_counter!(
        FETCHED_BYTES,
        Unit::Bytes,
        "Bytes of response bodies read, after decompression"
    );
    describe_counter!(NEW_ARTICLES, "Articles never seen before, recorded");
    describe_counter!(
        RULE_MATCHES,
        "Alerts raised, by rule (one per new article matching the rule)"
    );
    describe_counter!(
        DELIVERIES,
        "Delivery attempts by notifier and outcome: sent, retry (a temporary failure), dead (a permanent one)"
    );
    describe_gauge!(
        OUTBOX_PENDING,
        "Deliveries waiting in the outbox, read from the state at scrape time"
    );
    describe_gauge!(
        OUTBOX_DEAD,
        "Deliveries that failed permanently (vigie status lists them)"
    );
    describe_gauge!(
        SOURCES,
        "Configured sources by health: ok, failing, stale, new (never polled)"
    );
    describe_gauge!(
        SOURCES_FAILING,
        "Configured sources failing (5 polls or more in a row failed)"
    );
    describe_histogram!(
        POLL_DURATION,
        Unit::Seconds,
        "Time of one poll, fetch to recording transaction"
    );
    describe_histogram!(
        DELIVERY_DURATION,
        Unit::Seconds,
        "Time of one delivery attempt, by notifier"
    );
    describe_counter!(RELOADS, "Config reloads applied (SIGHUP)");
    describe_counter!(
        RELOAD_ERRORS,
        "Config reloads refused because the new config has errors; the running config was kept"
    );
    describe_gauge!(
        LAST_RELOAD_OK,
        "1 when the last reload was applied (or none was asked), 0 when it was refused"
    );
    describe_gauge!(
        LAST_RELOAD_TIME,
        Unit::Seconds,
        "When the running config was loaded, in seconds since the epoch"
    );
    describe_counter!(
        HEALTH_CHANGES,
        "Changes of source health, by the health reached: failing, stale, ok"
    );
    describe_gauge!(
        STATE_UP,
        "1 when the last scrape could read the state database, else 0"
    );
    describe_gauge!(BUILD_INFO, "Always 1; the version in a label");
    describe_gauge!(
        START_TIME,
        Unit::Seconds,
        "When vigie started, in seconds since the epoch"
    );
}

/// Records that the config in force was loaded now.
pub fn config_loaded() {
    gauge!(LAST_RELOAD_OK).set(1.0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    gauge!(LAST_RELOAD_TIME).set(now.as_secs_f64());
}

/// The exposition text: the state's gauges refreshed from `store`, then
/// everything the recorder holds.
pub async fn render(handle: &PrometheusHandle, store: &dyn Store, config: &Config) -> String {
    let read = async {
        let outbox = store.outbox_counts().await?;
        let states = store.sources().await?;
        Ok::<_, crate::store::StoreError>((outbox, states))
    };
    match tokio::time::timeout(STORE_WAIT, read).await {
        Ok(Ok((outbox, states))) => {
            gauge!(STATE_UP).set(1.0);
            gauge!(OUTBOX_PENDING).set(outbox.pending as f64);
            gauge!(OUTBOX_DEAD).set(outbox.dead as f64);
            let configured: HashSet<&str> =
                config.sources.iter().map(|s| s.name.as_str()).collect();
            let (mut ok, mut failing, mut stale) = (0usize, 0usize, 0usize);
            for (name, state) in &states {
                if !configured.contains(name.as_str()) {
                    continue;
                }
                match state.health {
                    Health::Ok => ok += 1,
                    Health::Failing => failing += 1,
                    Health::Stale => stale += 1,
                }
            }
            let new = configured.len().saturating_sub(ok + failing + stale);
            for (health, n) in [
                ("ok", ok),
                ("failing", failing),
                ("stale", stale),
                ("new", new),
            ] {
                gauge!(SOURCES, "health" => health).set(n as f64);
            }
            gauge!(SOURCES_FAILING).set(failing as f64);
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "/metrics: cannot read the state");
            gauge!(STATE_UP).set(0.0);
        }
        Err(_) => {
            tracing::warn!("/metrics: the state did not answer in time");
            gauge!(STATE_UP).set(0.0);
        }
    }
    handle.run_upkeep();
    handle.render()
}
