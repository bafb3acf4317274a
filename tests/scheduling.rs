//! Politeness and health at the level of whole cycles: the fetch limits
//! hold under load, a `304` or a byte-identical `200` costs no parsing or
//! matching, a feed's `<ttl>` stretches its interval, and a failing or
//! silent source is signalled to the operator once — and once more when it
//! recovers — never once per poll. `vigie status` shows it all.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{FeedServer, HazardServer, WebhookReceiver, fixture};
use vigie::poll::PollReport;
use vigie::store::{Health, SqliteStore, Store};

struct World {
    dir: tempfile::TempDir,
    hook: WebhookReceiver,
}

impl World {
    async fn new() -> World {
        World {
            dir: tempfile::tempdir().unwrap(),
            hook: WebhookReceiver::start().await,
        }
    }

    fn state(&self) -> PathBuf {
        self.dir.path().join("vigie.db")
    }

    /// Config text: `daemon` lines, then `sources`, the minusma rule and
    /// the `hook` notifier.
    fn config(&self, daemon: &str, sources: &str) -> String {
        let text = format!(
            r#"[daemon]
state = "{state}"
timeout = "5s"
{daemon}

{sources}

[rules.minusma]
keywords = ["Minusma", "Casques bleus"]
notify = ["hook"]

[notifiers.hook]
type = "webhook"
url = "{hook}"
"#,
            state = self.state().display(),
            hook = self.hook.url(),
        );
        std::fs::write(self.dir.path().join("vigie.toml"), &text).unwrap();
        text
    }

    async fn once(&self, text: &str) -> Vec<(String, Result<PollReport, vigie::poll::PollError>)> {
        let config = vigie::config::parse(text, Path::new("vigie.toml")).expect("config");
        vigie::app::once(config, None, false)
            .await
            .expect("once")
            .polls
    }

    async fn store(&self) -> SqliteStore {
        SqliteStore::open(&self.state()).await.unwrap()
    }

    /// Webhook bodies whose rule is `rule`.
    fn signals(&self, rule: &str) -> Vec<serde_json::Value> {
        self.hook
            .received()
            .into_iter()
            .filter(|r| r.body["rule"] == rule)
            .map(|r| r.body)
            .collect()
    }
}

fn report(
    polls: &[(String, Result<PollReport, vigie::poll::PollError>)],
    name: &str,
) -> PollReport {
    let (_, result) = polls.iter().find(|(n, _)| n == name).expect("polled");
    result.as_ref().expect("poll ok").clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrency_and_per_host_are_never_exceeded() {
    let server = HazardServer::start().await;
    // Every request waits, so that polls overlap as much as the limits let
    // them.
    server.set_delay(Duration::from_millis(250));
    let hosts = [
        "rfi.localhost",
        "un.localhost",
        "maliweb.localhost",
        "abamako.localhost",
    ];
    let mut sources = String::new();
    for host in hosts {
        for j in 0..4 {
            let path = format!("/feed/{j}.xml");
            server.set_feed(&path, fixture("un-fr.rss"));
            sources.push_str(&format!(
                "[sources.{}-{j}]\nurl = \"{}\"\n\n",
                host.trim_end_matches(".localhost"),
                server.url_on(host, &path)
            ));
        }
    }
    let w = World::new().await;
    let text = w.config("concurrency = 3\nper_host = 2", &sources);
    let polls = w.once(&text).await;
    assert!(polls.iter().all(|(_, r)| r.is_ok()), "{polls:?}");
    for host in hosts {
        let max = server.max_in_flight(host);
        assert!((1..=2).contains(&max), "{host}: {max} in flight");
    }
    assert_eq!(
        server.max_in_flight_total(),
        3,
        "the global cap is reached, never passed"
    );

    // One a host: each host is polled one request at a time.
    let w = World::new().await;
    let server = HazardServer::start().await;
    server.set_delay(Duration::from_millis(100));
    let mut sources = String::new();
    for j in 0..4 {
        let path = format!("/feed/{j}.xml");
        server.set_feed(&path, fixture("un-fr.rss"));
        sources.push_str(&format!(
            "[sources.un-{j}]\nurl = \"{}\"\n\n",
            server.url_on("un.localhost", &path)
        ));
    }
    let text = w.config("concurrency = 16\nper_host = 1", &sources);
    w.once(&text).await;
    assert_eq!(server.max_in_flight("un.localhost"), 1);
}

#[tokio::test]
async fn a_304_costs_no_parsing() {
    let feeds = FeedServer::start().await;
    feeds.set("/rss.xml", "application/rss+xml", fixture("un-fr.rss"));
    let w = World::new().await;
    let text = w.config(
        "",
        &format!("[sources.un-news]\nurl = \"{}\"", feeds.url("/rss.xml")),
    );
    let first = report(&w.once(&text).await, "un-news");
    assert_eq!(first.found, 3);
    let second = report(&w.once(&text).await, "un-news");
    assert!(second.not_modified, "{second:?}");
    assert_eq!((second.found, second.new), (0, 0), "nothing parsed");
    assert_eq!(feeds.not_modified("/rss.xml"), 1);
}

#[tokio::test]
async fn a_byte_identical_200_costs_no_parsing_or_matching() {
    // This server sends no ETag or Last-Modified: every poll is a 200.
    let server = HazardServer::start().await;
    server.set_feed("/rss.xml", fixture("un-fr.rss"));
    let w = World::new().await;
    let text = w.config(
        "first_run = \"alert\"",
        &format!("[sources.un-news]\nurl = \"{}\"", server.url("/rss.xml")),
    );
    let first = report(&w.once(&text).await, "un-news");
    assert_eq!((first.found, first.alerts.len()), (3, 1));
    let second = report(&w.once(&text).await, "un-news");
    assert!(second.unchanged, "{second:?}");
    assert_eq!(second.found, 0, "nothing parsed or matched");
    assert_eq!(server.hits("/rss.xml"), 2);

    // One byte more and it is read again: one new article, one alert.
    server.set_feed("/rss.xml", fixture("un-fr-plus-one.rss"));
    let third = report(&w.once(&text).await, "un-news");
    assert!(!third.unchanged);
    assert_eq!((third.found, third.new, third.alerts.len()), (4, 1, 1));
    assert_eq!(w.hook.delivered().len(), 2);
}

#[tokio::test]
async fn a_feed_ttl_lengthens_the_interval_up_to_the_cap() {
    let server = HazardServer::start().await;
    // un-fr.rss says <ttl>15</ttl>: fifteen minutes.
    server.set_feed("/rss.xml", fixture("un-fr.rss"));
    let w = World::new().await;
    let text = w.config(
        "interval = \"1m\"",
        &format!("[sources.un-news]\nurl = \"{}\"", server.url("/rss.xml")),
    );
    let polled = report(&w.once(&text).await, "un-news");
    assert_eq!(polled.hint, Some(Duration::from_secs(15 * 60)));
    let state = w
        .store()
        .await
        .source_state("un-news")
        .await
        .unwrap()
        .unwrap();
    let wait = (state.next_poll.unwrap() - chrono::Utc::now()).num_seconds();
    assert!((13 * 60..=17 * 60).contains(&wait), "next poll in {wait} s");
    // An identical body keeps the hint without parsing.
    let again = report(&w.once(&text).await, "un-news");
    assert!(again.unchanged);
    assert_eq!(again.hint, Some(Duration::from_secs(15 * 60)));
}

#[tokio::test]
async fn a_failing_source_is_signalled_once_and_its_recovery_once() {
    let server = HazardServer::start().await;
    server.set_feed("/ok.xml", fixture("un-fr.rss"));
    let w = World::new().await;
    let text = w.config(
        "errors_to = \"hook\"",
        &format!(
            "[sources.rfi]\nurl = \"{}\"\n\n[sources.un-news]\nurl = \"{}\"",
            server.url("/rfi.xml"),
            server.url("/ok.xml")
        ),
    );
    let failing_after = vigie::config::defaults::FAILING_AFTER;
    for poll in 1..=failing_after + 3 {
        w.once(&text).await;
        let signals = w.signals("vigie:source_failing");
        let expected = usize::from(poll >= failing_after);
        assert_eq!(signals.len(), expected, "after {poll} failed polls");
    }
    let signal = &w.signals("vigie:source_failing")[0];
    assert_eq!(signal["source"], "rfi");
    assert_eq!(signal["article"]["title"], "vigie: source rfi is failing");
    let detail = signal["article"]["summary"].as_str().unwrap();
    assert!(
        detail.contains("5 consecutive polls failed; last error (status): fetch failed: HTTP status 404 Not Found"),
        "{detail}"
    );
    let state = w.store().await.source_state("rfi").await.unwrap().unwrap();
    assert_eq!(state.health, Health::Failing);
    assert_eq!(state.failures, failing_after + 3);

    // Back: one recovery signal, and no more.
    server.set_feed("/rfi.xml", fixture("un-fr.rss"));
    for _ in 0..3 {
        w.once(&text).await;
    }
    assert_eq!(w.signals("vigie:source_recovered").len(), 1);
    assert_eq!(w.signals("vigie:source_failing").len(), 1);
    let state = w.store().await.source_state("rfi").await.unwrap().unwrap();
    assert_eq!((state.health, state.failures), (Health::Ok, 0));
    // The healthy source never signalled anything.
    assert!(w.hook.received().iter().all(|r| r.body["source"] == "rfi"));
}

#[tokio::test]
async fn a_silent_source_is_signalled_stale_once() {
    let feeds = FeedServer::start().await;
    feeds.set("/rss.xml", "application/rss+xml", fixture("un-fr.rss"));
    let w = World::new().await;
    let text = w.config(
        "errors_to = \"hook\"\nstale_after = \"1s\"",
        &format!("[sources.un-news]\nurl = \"{}\"", feeds.url("/rss.xml")),
    );
    w.once(&text).await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    for _ in 0..3 {
        w.once(&text).await;
    }
    let stale = w.signals("vigie:source_stale");
    assert_eq!(stale.len(), 1, "{stale:?}");
    assert_eq!(
        stale[0]["article"]["title"],
        "vigie: source un-news is stale"
    );
    // A new article: recovered, once.
    feeds.set(
        "/rss.xml",
        "application/rss+xml",
        fixture("un-fr-plus-one.rss"),
    );
    w.once(&text).await;
    assert_eq!(w.signals("vigie:source_recovered").len(), 1);
}

#[tokio::test]
async fn status_shows_each_source_and_the_outbox() {
    let server = HazardServer::start().await;
    server.set_feed("/ok.xml", fixture("un-fr.rss"));
    let w = World::new().await;
    let text = w.config(
        "first_run = \"alert\"",
        &format!(
            "[sources.un-news]\nurl = \"{}\"\n\n[sources.rfi]\nurl = \"{}\"\nkind = \"feed\"\n\n[sources.later]\nurl = \"{}\"",
            server.url("/ok.xml"),
            server.url("/html"),
            server.url("/never.xml"),
        ),
    );
    let status = |args: &'static [&'static str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_vigie"))
            .args(args)
            .arg("--config")
            .arg(w.dir.path().join("vigie.toml"))
            .env("RUST_LOG", "warn")
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    // Before any poll: no state file is created.
    let before = status(&["status"]);
    assert!(
        before.contains("un-news") && before.contains("never"),
        "{before}"
    );
    assert!(!w.state().exists());

    let config = vigie::config::parse(&text, Path::new("vigie.toml")).unwrap();
    vigie::app::once(config, Some("un-news"), false)
        .await
        .unwrap();
    let config = vigie::config::parse(&text, Path::new("vigie.toml")).unwrap();
    vigie::app::once(config, Some("rfi"), false).await.unwrap();

    let json: serde_json::Value =
        serde_json::from_str(&status(&["status", "--format", "json"])).unwrap();
    let source = |name: &str| {
        json["sources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .cloned()
            .unwrap()
    };
    let un = source("un-news");
    assert_eq!(un["health"], "ok");
    assert_eq!(un["failures"], 0);
    assert_eq!(un["items_seen"], 3);
    assert!(
        un["last_success"].is_string() && un["next_poll"].is_string(),
        "{un}"
    );
    assert!(un["last_error"].is_null());
    let rfi = source("rfi");
    assert_eq!(rfi["failures"], 1);
    assert_eq!(rfi["last_error"]["kind"], "html");
    assert!(
        rfi["last_error"]["message"]
            .as_str()
            .unwrap()
            .contains("HTML page")
    );
    assert!(rfi["last_success"].is_null());
    assert_eq!(source("later")["health"], "new");
    assert_eq!(json["outbox"]["sent"], 1);
    assert_eq!(json["outbox"]["pending"], 0);

    let table = status(&["status"]);
    let rfi_line = table.lines().find(|l| l.starts_with("rfi")).unwrap();
    assert!(
        rfi_line.contains("html") && rfi_line.contains("never"),
        "{table}"
    );
    assert!(
        table.contains("Outbox: 0 pending, 0 dead, 1 sent"),
        "{table}"
    );
}

/// Regression: `once` sent the first 1,000 pending deliveries of a notifier
/// and reported the rest as "to retry".
#[tokio::test(flavor = "multi_thread")]
async fn once_delivers_more_than_one_batch_of_alerts() {
    let server = HazardServer::start().await;
    let w = World::new().await;
    let mut sources = String::new();
    for n in 0..26 {
        let mut items = String::new();
        for i in 0..40 {
            items.push_str(&format!(
                "<item><title>Minusma : dépêche {n}-{i} sur le retrait des Casques bleus</title>\
                 <link>https://news{n}.example.org/{i}</link><guid>news{n}-{i}</guid></item>"
            ));
        }
        let path = format!("/feed/{n}.xml");
        server.set_feed(
            &path,
            format!("<rss version=\"2.0\"><channel><title>News {n}</title>{items}</channel></rss>"),
        );
        sources.push_str(&format!(
            "[sources.news-{n}]\nurl = \"{}\"\n\n",
            server.url(&path)
        ));
    }
    let text = w.config("first_run = \"alert\"", &sources);
    let config = vigie::config::parse(&text, Path::new("vigie.toml")).unwrap();
    let report = vigie::app::once(config, None, false).await.unwrap();
    let deliveries = report.deliveries.expect("delivered");
    assert_eq!((deliveries.sent, deliveries.retrying), (1040, 0));
    assert!(report.all_ok());
    assert_eq!(w.hook.delivered().len(), 1040);
}

/// A restarted daemon keeps a failing source's backoff: a site that asked
/// for two hours of peace (`429`, `Retry-After: 7200`) is not polled again
/// because vigie restarted, while a healthy source is polled at start.
#[tokio::test(flavor = "multi_thread")]
async fn a_restart_does_not_break_a_retry_after() {
    let server = HazardServer::start().await;
    server.set_feed("/ok.xml", fixture("un-fr.rss"));
    let w = World::new().await;
    let text = w.config(
        "",
        &format!(
            "[sources.busy]\nurl = \"{}\"\n\n[sources.un-news]\nurl = \"{}\"",
            server.url("/too-many-requests"),
            server.url("/ok.xml")
        ),
    );
    w.once(&text).await;
    assert_eq!(server.hits("/too-many-requests"), 1);
    assert_eq!(server.hits("/ok.xml"), 1);

    let mut daemon = tokio::process::Command::new(env!("CARGO_BIN_EXE_vigie"))
        .args(["run", "--config"])
        .arg(w.dir.path().join("vigie.toml"))
        .env("RUST_LOG", "warn")
        .kill_on_drop(true)
        .spawn()
        .expect("start vigie run");
    // The healthy source's first poll comes within the first ten seconds.
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while server.hits("/ok.xml") < 2 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(server.hits("/ok.xml"), 2, "the healthy source was polled");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        server.hits("/too-many-requests"),
        1,
        "Retry-After honoured across the restart"
    );
    let _ = daemon.start_kill();
    let _ = daemon.wait().await;
}

/// `once` delivers an alert while a silent source is still timing out: one
/// bad source does not hold back every alert until its timeout.
#[tokio::test(flavor = "multi_thread")]
async fn once_delivers_alerts_while_a_slow_source_is_still_polled() {
    let server = HazardServer::start().await;
    server.set_feed("/ok.xml", fixture("un-fr.rss"));
    let w = World::new().await;
    let text = w.config(
        // World's config sets timeout = "5s".
        "first_run = \"alert\"",
        &format!(
            "[sources.silent]\nurl = \"{}\"\n\n[sources.un-news]\nurl = \"{}\"",
            server.url("/silent"),
            server.url("/ok.xml")
        ),
    );
    let config = vigie::config::parse(&text, Path::new("vigie.toml")).unwrap();
    let started = std::time::Instant::now();
    let once = tokio::spawn(vigie::app::once(config, None, false));
    assert!(
        w.hook.wait_for(1, Duration::from_secs(3)).await,
        "the alert waited for the silent source"
    );
    assert!(!once.is_finished());
    let report = once.await.unwrap().unwrap();
    assert!(started.elapsed() >= Duration::from_secs(5));
    let deliveries = report.deliveries.unwrap();
    assert_eq!(
        (deliveries.sent, deliveries.retrying, deliveries.dead),
        (1, 0, 0)
    );
    assert_eq!(w.hook.delivered().len(), 1);
}
