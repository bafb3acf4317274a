//! Hostile and broken servers (DESIGN.md §7, issue 3): each hazard is one
//! source in a `vigie once` cycle beside a healthy source. The hazard ends
//! in a typed error recorded on its source; the healthy source, polled in
//! the same cycle, still alerts. Input vigie can repair (a wrong charset,
//! `&nbsp;`) is read instead.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{HazardServer, WebhookReceiver, fixture};
use vigie::store::{SourceState, SqliteStore, Store};

/// One cycle: what the hazard source ended with, and what was delivered.
struct Cycle {
    result: Result<vigie::poll::PollReport, vigie::poll::PollError>,
    state: SourceState,
    /// Titles the webhook received, from the healthy source.
    healthy_alerts: Vec<String>,
    hazard_alerts: Vec<String>,
    elapsed: Duration,
}

impl Cycle {
    /// The error kind, asserting the poll failed.
    fn error_kind(&self) -> &'static str {
        match &self.result {
            Err(e) => e.kind(),
            Ok(r) => panic!("the hazard was read: {r:?}"),
        }
    }
}

/// Polls a healthy feed and `route` once, with a 2-second timeout and a
/// 1 MiB body cap; `daemon` adds keys to `[daemon]`.
async fn cycle_with(route: &str, daemon: &str) -> Cycle {
    // Bombs are made before the clock of the fetch starts.
    if route.ends_with("-bomb") {
        common::hazard::bomb(route == "/gzip-bomb").await;
    }
    let server = HazardServer::start().await;
    server.set_feed("/feed", fixture("un-fr.rss"));
    let hook = WebhookReceiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        r#"[daemon]
state = "{state}"
first_run = "alert"
timeout = "2s"
max_body = "1MiB"
{daemon}

[sources.healthy]
url = "{healthy}"

[sources.hazard]
url = "{hazard}"

[rules.minusma]
keywords = ["Minusma", "Casques bleus"]
notify = ["hook"]

[notifiers.hook]
type = "webhook"
url = "{hook}"
"#,
        state = dir.path().join("vigie.db").display(),
        healthy = server.url("/feed"),
        hazard = server.url(route),
        hook = hook.url(),
    );
    let config = vigie::config::parse(&text, Path::new("vigie.toml")).expect("config");
    let started = std::time::Instant::now();
    let report = vigie::app::once(config, None, false).await.expect("once");
    let elapsed = started.elapsed();
    let mut polls: std::collections::HashMap<String, _> = report.polls.into_iter().collect();
    let healthy = polls.remove("healthy").unwrap();
    let result = polls.remove("hazard").unwrap();
    assert!(healthy.is_ok(), "the healthy source failed: {healthy:?}");
    let store = SqliteStore::open(&dir.path().join("vigie.db"))
        .await
        .unwrap();
    let state = store
        .source_state("hazard")
        .await
        .unwrap()
        .expect("the hazard source is recorded");
    let titles = |source: &str| -> Vec<String> {
        hook.received()
            .iter()
            .filter(|r| r.body["source"] == source)
            .map(|r| {
                r.body["article"]["title"]
                    .as_str()
                    .unwrap_or("")
                    .to_string()
            })
            .collect()
    };
    let cycle = Cycle {
        healthy_alerts: titles("healthy"),
        hazard_alerts: titles("hazard"),
        result,
        state,
        elapsed,
    };
    assert!(
        cycle.healthy_alerts.iter().any(|t| t.contains("Minusma")),
        "the healthy source did not alert: {:?}",
        cycle.healthy_alerts
    );
    cycle
}

async fn cycle(route: &str) -> Cycle {
    cycle_with(route, "").await
}

/// The hazard failed with `kind`, recorded on its source with a message
/// containing `words`.
fn assert_failed(c: &Cycle, kind: &str, words: &str) {
    assert_eq!(c.error_kind(), kind, "{:?}", c.result);
    assert_eq!(c.state.last_error_kind.as_deref(), Some(kind));
    let message = c.state.last_error.as_deref().unwrap_or_default();
    assert!(message.contains(words), "{message:?} lacks {words:?}");
    assert_eq!(c.state.failures, 1);
    assert!(c.hazard_alerts.is_empty(), "{:?}", c.hazard_alerts);
}

#[tokio::test]
async fn a_slow_drip_is_stopped_by_the_timeout() {
    let c = cycle("/drip").await;
    assert_failed(&c, "timeout", "timed out");
    assert!(c.elapsed < Duration::from_secs(10), "{:?}", c.elapsed);
}

#[tokio::test]
async fn a_server_that_never_answers_is_stopped_by_the_timeout() {
    let c = cycle("/silent").await;
    assert_failed(&c, "timeout", "timed out");
}

#[tokio::test]
async fn an_endless_chunked_body_is_stopped_at_max_body() {
    let c = cycle("/endless").await;
    assert_failed(&c, "too_large", "max_body");
}

#[tokio::test]
async fn a_gzip_bomb_is_stopped_at_max_body_decoded_bytes() {
    let c = cycle("/gzip-bomb").await;
    assert_failed(&c, "too_large", "1048576");
}

#[tokio::test]
async fn a_brotli_bomb_is_stopped_at_max_body_decoded_bytes() {
    let c = cycle("/brotli-bomb").await;
    assert_failed(&c, "too_large", "1048576");
}

#[tokio::test]
async fn a_truncated_body_is_an_error_not_a_shorter_feed() {
    let c = cycle("/truncated").await;
    assert_failed(&c, "truncated", "truncated");
}

#[tokio::test]
async fn a_redirect_loop_is_stopped() {
    let c = cycle("/loop").await;
    assert_failed(&c, "redirect_loop", "redirect loop");
}

#[tokio::test]
async fn a_redirect_chain_past_the_cap_is_stopped() {
    let c = cycle("/chain/0").await;
    assert_failed(&c, "redirects", "too many redirects");
}

#[tokio::test]
async fn a_redirect_to_a_loopback_address_the_config_does_not_name_is_refused() {
    let c = cycle("/to-loopback").await;
    assert_failed(&c, "refused", "loopback address (127.0.0.2)");
}

#[tokio::test]
async fn a_redirect_to_a_name_resolving_to_loopback_is_refused() {
    let c = cycle("/to-localhost").await;
    assert_failed(&c, "refused", "loopback address (localhost)");
}

#[tokio::test]
async fn a_redirect_to_the_cloud_metadata_address_is_refused() {
    let c = cycle("/to-metadata").await;
    assert_failed(&c, "refused", "link-local address (169.254.169.254)");
}

#[tokio::test]
async fn a_redirect_to_a_private_address_is_refused() {
    let c = cycle("/to-private").await;
    assert_failed(&c, "refused", "private address (10.20.30.40)");
}

#[tokio::test]
async fn a_redirect_to_a_file_url_is_refused() {
    let c = cycle("/to-file").await;
    assert_failed(&c, "refused", "\"file:\"");
}

#[tokio::test]
async fn a_redirect_to_a_host_the_config_names_is_followed() {
    // The config names `localhost` (the admin's choice) for another
    // source: the redirect of `/to-localhost` to it is allowed, and read.
    let named = named_localhost_cycle().await;
    let report = named.expect("followed");
    assert_eq!(report.found, 3);
}

/// `/to-localhost` in a config that also names `localhost`.
async fn named_localhost_cycle() -> Result<vigie::poll::PollReport, vigie::poll::PollError> {
    let server = HazardServer::start().await;
    server.set_feed("/feed", fixture("un-fr.rss"));
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        r#"[daemon]
state = "{state}"
timeout = "2s"

[sources.local]
url = "{local}"

[sources.hazard]
url = "{hazard}"

[rules.minusma]
keywords = ["Minusma"]
notify = ["hook"]

[notifiers.hook]
type = "webhook"
url = "http://127.0.0.1:9/"
"#,
        state = dir.path().join("vigie.db").display(),
        local = server.url_on("localhost", "/feed"),
        hazard = server.url("/to-localhost"),
    );
    let config = vigie::config::parse(&text, Path::new("vigie.toml")).unwrap();
    let report = vigie::app::once(config, Some("hazard"), true)
        .await
        .unwrap();
    report.polls.into_iter().next().unwrap().1
}

#[tokio::test]
async fn an_empty_200_is_an_error() {
    let c = cycle("/empty").await;
    assert_failed(&c, "empty", "empty");
}

#[tokio::test]
async fn an_html_page_with_no_feed_and_no_article_link_is_an_error() {
    // kind = "auto": not a feed, announces none, links to no article.
    let c = cycle("/html").await;
    assert_failed(&c, "layout", "no article link");
}

#[tokio::test]
async fn an_image_where_a_feed_was_expected_is_an_error() {
    let c = cycle("/image").await;
    assert_failed(&c, "not_a_feed", "PNG image");
}

#[tokio::test]
async fn billion_laughs_entities_are_never_expanded() {
    let c = cycle("/billion-laughs").await;
    // Read or refused, never expanded: no text holds the entity's words a
    // thousand times.
    match &c.result {
        Ok(r) => assert!(r.found <= 1, "{r:?}"),
        Err(e) => assert_eq!(e.kind(), "malformed", "{e}"),
    }
    for title in &c.hazard_alerts {
        assert!(title.matches("Casques bleus").count() <= 1, "{title}");
        assert!(title.len() < 500, "expanded: {} bytes", title.len());
    }
}

#[tokio::test]
async fn external_entities_are_never_opened() {
    let c = cycle("/xxe").await;
    match &c.result {
        Ok(_) => {}
        Err(e) => assert_eq!(e.kind(), "malformed", "{e}"),
    }
    for title in &c.hazard_alerts {
        assert!(!title.contains("root:"), "{title}");
    }
}

#[tokio::test]
async fn a_latin1_feed_without_any_charset_is_read_with_its_accents() {
    let c = cycle("/latin1-no-charset").await;
    assert!(c.result.is_ok(), "{:?}", c.result);
    assert_eq!(
        c.hazard_alerts,
        vec![
            "Tombouctou : la Minusma a achevé son départ, les élus saluent « un moment historique »"
        ]
    );
}

#[tokio::test]
async fn a_feed_with_nbsp_and_a_bare_ampersand_is_repaired_and_read() {
    let c = cycle("/nbsp").await;
    assert!(c.result.is_ok(), "{:?}", c.result);
    assert!(c.state.last_error.is_none());
}

#[tokio::test]
async fn too_many_requests_records_the_retry_after() {
    let c = cycle("/too-many-requests").await;
    assert_failed(&c, "status", "429");
    assert_eq!(
        c.result.as_ref().unwrap_err().retry_after(),
        Some(Duration::from_secs(7200))
    );
    // The next poll waits at least what the server asked.
    let next = c.state.next_poll.expect("next poll recorded");
    let wait = next - chrono::Utc::now();
    assert!(wait > chrono::Duration::seconds(7100), "{wait}");
}

#[tokio::test]
async fn service_unavailable_with_an_http_date_is_honoured_up_to_a_day() {
    let c = cycle("/unavailable").await;
    assert_failed(&c, "status", "503");
    let asked = c.result.as_ref().unwrap_err().retry_after().unwrap();
    assert!(asked > Duration::from_secs(365 * 86_400), "{asked:?}");
    let wait = c.state.next_poll.unwrap() - chrono::Utc::now();
    assert!(
        wait > chrono::Duration::hours(23) && wait <= chrono::Duration::hours(24),
        "capped at a day: {wait}"
    );
}

#[test]
fn every_route_has_a_test() {
    let tests = std::fs::read_to_string(file!()).unwrap();
    for route in HazardServer::ROUTES {
        assert!(
            tests.contains(&format!("\"{route}\"")),
            "no test uses {route}"
        );
    }
}
