//! vigie as a service, through the real binary: what systemd hears on its
//! notification socket (a socket this test owns), config reload on SIGHUP,
//! a clean stop on SIGTERM with deliveries in flight, `/metrics` scraped
//! and parsed, `/healthz` turning 503. Feeds, webhooks and the notification
//! socket all live in the test; each daemon is stopped by its PID.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{FeedServer, WebhookReceiver, fixture};
use tokio::io::AsyncBufReadExt as _;
use tokio::sync::watch;

const RSS: &str = "application/rss+xml; charset=utf-8";
const MINUSMA_TITLE: &str =
    "Mali : un haut responsable de l’ONU à Bamako après la décision de retrait de la Minusma";
const LATIN1_TITLE: &str = "Mali : le retrait des Casques bleus a été accéléré";
/// Generous bounds on waiting for events; no test depends on them being short.
const WAIT: Duration = Duration::from_secs(30);

/// A fixture without its `<ttl>`, which would (rightly) slow polling down.
fn feed(name: &str) -> Vec<u8> {
    let bytes = fixture(name);
    let ttl: &[u8] = b"<ttl>15</ttl>";
    match bytes.windows(ttl.len()).position(|w| w == ttl) {
        Some(at) => [&bytes[..at], &bytes[at + ttl.len()..]].concat(),
        None => bytes,
    }
}

/// Lines that arrive one by one (log lines, notifications), and a way to
/// wait for one.
#[derive(Clone)]
struct Lines {
    lines: Arc<Mutex<Vec<String>>>,
    count: watch::Sender<usize>,
}

impl Lines {
    fn new() -> Lines {
        Lines {
            lines: Arc::default(),
            count: watch::channel(0).0,
        }
    }

    fn push(&self, line: String) {
        let mut lines = self.lines.lock().unwrap();
        lines.push(line);
        self.count.send_replace(lines.len());
    }

    fn all(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// Waits for a line, after the first `skip`, for which `pred` holds;
    /// returns its index.
    async fn wait_for(&self, skip: usize, pred: impl Fn(&str) -> bool) -> Option<usize> {
        let mut count = self.count.subscribe();
        let found = || {
            self.all()
                .iter()
                .enumerate()
                .skip(skip)
                .find(|(_, l)| pred(l))
                .map(|(i, _)| i)
        };
        tokio::time::timeout(WAIT, async {
            loop {
                if let Some(i) = found() {
                    return i;
                }
                if count.changed().await.is_err() {
                    return usize::MAX;
                }
            }
        })
        .await
        .ok()
        .filter(|&i| i != usize::MAX)
    }
}

/// A `vigie run` started by the test, its stderr collected line by line.
struct Daemon {
    child: tokio::process::Child,
    log: Lines,
}

impl Daemon {
    async fn start(config: &Path, env: &[(&str, String)]) -> Daemon {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_vigie"));
        command
            .args(["run", "--config"])
            .arg(config)
            .env("RUST_LOG", "info")
            .env_remove("NOTIFY_SOCKET")
            .env_remove("WATCHDOG_USEC")
            .env_remove("JOURNAL_STREAM")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("start vigie run");
        let log = Lines::new();
        let stderr = child.stderr.take().expect("stderr");
        let sink = log.clone();
        tokio::spawn(async move {
            let mut lines = tokio::io::BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                sink.push(line);
            }
        });
        Daemon { child, log }
    }

    fn signal(&self, signal: libc::c_int) {
        let pid = self.child.id().expect("running") as libc::pid_t;
        // SAFETY: kill(2) on the PID of the child this test started.
        assert_eq!(unsafe { libc::kill(pid, signal) }, 0, "kill");
    }

    /// SIGTERM, then the exit status.
    async fn stop(mut self) -> (std::process::ExitStatus, Vec<String>) {
        self.signal(libc::SIGTERM);
        let status = tokio::time::timeout(Duration::from_secs(60), self.child.wait())
            .await
            .expect("vigie stops after SIGTERM")
            .expect("wait");
        // The last lines, written just before exiting.
        tokio::time::sleep(Duration::from_millis(100)).await;
        (status, self.log.all())
    }

    async fn wait_log(&self, text: &str) -> String {
        let i = self
            .log
            .wait_for(0, |l| l.contains(text))
            .await
            .unwrap_or_else(|| {
                panic!(
                    "no log line with {text:?} in:\n{}",
                    self.log.all().join("\n")
                )
            });
        self.log.all()[i].clone()
    }

    /// The address of `/healthz` and `/metrics`, as logged at start.
    async fn listen_addr(&self) -> String {
        let line = self.wait_log("serving /healthz and /metrics").await;
        let addr = line
            .split("addr=")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .expect("addr= in the line");
        addr.to_string()
    }
}

/// A test's world: a state directory, the French UN feed served at
/// `/fr/rss.xml` (without its `<ttl>`), a webhook receiver.
struct World {
    dir: tempfile::TempDir,
    feeds: FeedServer,
    hooks: WebhookReceiver,
}

impl World {
    async fn new() -> World {
        let feeds = FeedServer::start().await;
        feeds.set("/fr/rss.xml", RSS, feed("un-fr.rss"));
        World {
            dir: tempfile::tempdir().unwrap(),
            feeds,
            hooks: WebhookReceiver::start().await,
        }
    }
}

/// `vigie once`, which must succeed: it delivers whatever is pending.
async fn once(config: &Path) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_vigie"))
        .args(["once", "--config"])
        .arg(config)
        .env("RUST_LOG", "warn")
        .output()
        .await
        .expect("vigie once");
    assert!(out.status.success(), "{out:?}");
}

/// Listens where `NOTIFY_SOCKET` points, as systemd does.
async fn notify_socket(dir: &Path) -> (PathBuf, Lines) {
    let path = dir.join("notify.sock");
    let socket = tokio::net::UnixDatagram::bind(&path).expect("bind the notification socket");
    let lines = Lines::new();
    let sink = lines.clone();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(n) = socket.recv(&mut buf).await {
            sink.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
    });
    (path, lines)
}

fn write_config(dir: &Path, daemon: &str, rest: &str) -> PathBuf {
    let path = dir.join("vigie.toml");
    let text = format!(
        "[daemon]\nstate = \"{}\"\ntimeout = \"10s\"\n{daemon}\n\n{rest}\n",
        dir.join("vigie.db").display()
    );
    std::fs::write(&path, text).expect("write config");
    path
}

fn hook(name: &str, url: &str) -> String {
    format!("[notifiers.{name}]\ntype = \"webhook\"\nurl = \"{url}\"\n")
}

/// The source `un-news` at `feed`, a rule `minusma` alerting on any of
/// `keywords` (TOML strings, comma-separated), and the notifier `hook` at
/// `hook_url`.
fn un_news(feed: &str, keywords: &str, hook_url: &str) -> String {
    format!(
        "[sources.un-news]\nurl = \"{feed}\"\n\n[rules.minusma]\nkeywords = [{keywords}]\nnotify = [\"hook\"]\n\n{}",
        hook("hook", hook_url)
    )
}

/// A plain HTTP/1.1 GET of `http://ADDR/PATH`: status and body.
async fn get(url: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let rest = url.strip_prefix("http://").expect("an http URL");
    let (addr, path) = rest.split_once('/').expect("a path");
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let request = format!("GET /{path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("send");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.expect("read");
    let response = String::from_utf8(response).expect("UTF-8");
    let (head, body) = response.split_once("\r\n\r\n").expect("head and body");
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status");
    assert!(
        !head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked"),
        "unexpected chunked body"
    );
    (status, body.to_string())
}

/// Prometheus text format → `name{labels}` → value; every sample line must
/// parse, and every family has its `# TYPE`.
fn parse_metrics(text: &str) -> BTreeMap<String, f64> {
    let mut samples = BTreeMap::new();
    let mut typed = std::collections::HashSet::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split_whitespace();
            let name = parts.next().expect("a name").to_string();
            let kind = parts.next().expect("a type");
            assert!(
                ["counter", "gauge", "histogram", "summary"].contains(&kind),
                "{line}"
            );
            typed.insert(name);
            continue;
        }
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("a sample line");
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("a number: {line}"));
        let name = series.split('{').next().unwrap();
        assert!(name.starts_with("vigie_"), "{name} is not named vigie_…");
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s).filter(|f| typed.contains(*f)))
            .unwrap_or(name);
        assert!(typed.contains(family), "{name} has no # TYPE line");
        samples.insert(series.to_string(), value);
    }
    samples
}

#[tokio::test(flavor = "multi_thread")]
async fn systemd_hears_ready_watchdog_reloading_ready_stopping_in_order() {
    let World { dir, feeds, hooks } = World::new().await;
    let config = write_config(
        dir.path(),
        "interval = \"1h\"",
        &un_news(&feeds.url("/fr/rss.xml"), r#""Minusma""#, &hooks.url()),
    );
    let (socket, heard) = notify_socket(dir.path()).await;
    let daemon = Daemon::start(
        &config,
        &[
            ("NOTIFY_SOCKET", socket.display().to_string()),
            // A watchdog of 0.4 s: pinged every 0.2 s.
            ("WATCHDOG_USEC", "400000".into()),
        ],
    )
    .await;

    let ready = heard
        .wait_for(0, |m| m.contains("READY=1"))
        .await
        .expect("READY=1");
    let first = &heard.all()[ready];
    assert!(
        first.contains("STATUS=watching 1 source, 0 failing, 0 deliveries pending"),
        "{first:?}"
    );
    let ping = heard
        .wait_for(ready + 1, |m| m.contains("WATCHDOG=1"))
        .await
        .expect("WATCHDOG=1 after READY=1");
    daemon.signal(libc::SIGHUP);
    let reloading = heard
        .wait_for(ping + 1, |m| m.contains("RELOADING=1"))
        .await
        .expect("RELOADING=1");
    assert!(
        heard.all()[reloading].contains("MONOTONIC_USEC="),
        "RELOADING=1 carries the monotonic time"
    );
    let ready_again = heard
        .wait_for(reloading + 1, |m| m.contains("READY=1"))
        .await
        .expect("READY=1 after the reload");
    heard
        .wait_for(ready_again + 1, |m| m.contains("WATCHDOG=1"))
        .await
        .expect("the watchdog goes on after a reload");
    let (status, log) = daemon.stop().await;
    assert!(status.success(), "{status:?}\n{}", log.join("\n"));
    let stopping = heard
        .wait_for(ready_again + 1, |m| m.contains("STOPPING=1"))
        .await
        .expect("STOPPING=1");
    let all = heard.all();
    assert!(
        all[..ready].iter().all(|m| !m.contains("WATCHDOG=1")),
        "no ping before READY=1: {all:?}"
    );
    assert!(
        all[stopping + 1..].iter().all(|m| !m.contains("READY=1")),
        "nothing is ready after STOPPING=1: {all:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sighup_applies_a_new_config_and_keeps_pending_deliveries() {
    let dir = tempfile::tempdir().unwrap();
    let feeds = FeedServer::start().await;
    feeds.set("/a.xml", RSS, feed("un-fr.rss"));
    feeds.set("/b.xml", RSS, feed("latin1.rss"));
    for path in ["/c1.xml", "/c2.xml"] {
        feeds.set(path, "application/atom+xml", fixture("atom-en.xml"));
    }
    let live = WebhookReceiver::start().await;
    // A notifier that is down: nothing listens on its port any more.
    let down = {
        let receiver = WebhookReceiver::start().await;
        let url = receiver.url();
        receiver.stop().await;
        url
    };
    let rule =
        "[rules.minusma]\nkeywords = [\"Minusma\", \"Casques bleus\"]\nnotify = [\"hook\"]\n";
    let config = write_config(
        dir.path(),
        "first_run = \"alert\"\ninterval = \"1s\"",
        &format!(
            "[sources.a]\nurl = \"{}\"\n\n[sources.c]\nurl = \"{}\"\ninterval = \"1h\"\n\n{rule}\n{}",
            feeds.url("/a.xml"),
            feeds.url("/c1.xml"),
            hook("hook", &down)
        ),
    );
    let daemon = Daemon::start(&config, &[]).await;
    daemon.wait_log("delivery failed; will retry").await;
    for _ in 0..600 {
        if feeds.hits("/c1.xml") >= 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Source a removed, b added, c moved to another URL (polled hourly, so
    // only the change polls it again), the notifier moved to a live
    // receiver.
    write_config(
        dir.path(),
        "first_run = \"alert\"\ninterval = \"1s\"",
        &format!(
            "[sources.b]\nurl = \"{}\"\n\n[sources.c]\nurl = \"{}\"\ninterval = \"1h\"\n\n{rule}\n{}",
            feeds.url("/b.xml"),
            feeds.url("/c2.xml"),
            hook("hook", &live.url())
        ),
    );
    daemon.signal(libc::SIGHUP);
    let reloaded = daemon.wait_log("config reloaded").await;
    assert!(
        reloaded.contains("added=1")
            && reloaded.contains("removed=1")
            && reloaded.contains("changed=1"),
        "{reloaded}"
    );
    let a_polls = feeds.hits("/a.xml");
    assert!(a_polls >= 1);
    assert!(live.wait_for(1, WAIT).await, "the new source alerted");
    // The pending delivery and the new one may arrive in either order.
    for _ in 0..200 {
        if live
            .delivered()
            .iter()
            .any(|r| r.body["article"]["title"] == LATIN1_TITLE)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        live.delivered()
            .iter()
            .any(|r| r.body["article"]["title"] == LATIN1_TITLE),
        "the new source's alert went to the new notifier URL: {:?}",
        live.delivered()
            .iter()
            .map(|r| r.body["article"]["title"].clone())
            .collect::<Vec<_>>()
    );
    // b is polled at its interval; a never again.
    for _ in 0..600 {
        if feeds.hits("/b.xml") >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(feeds.hits("/b.xml") >= 3, "the new source is polled");
    // A changed source is polled again within the first seconds, spread.
    for _ in 0..600 {
        if feeds.hits("/c2.xml") >= 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        feeds.hits("/c2.xml") >= 1,
        "the changed source is polled at its new URL"
    );
    assert_eq!(feeds.hits("/c1.xml"), 1, "and no longer at the old one");
    assert_eq!(feeds.hits("/a.xml"), a_polls, "the removed source is not");
    let (status, log) = daemon.stop().await;
    assert!(status.success(), "{status:?}\n{}", log.join("\n"));

    // a's alert, pending since before the reload, was kept: `once` (or the
    // daemon itself, had its retry come due) sends it to the live receiver.
    once(&config).await;
    let mut titles: Vec<String> = live
        .delivered()
        .iter()
        .map(|r| {
            r.body["article"]["title"]
                .as_str()
                .unwrap_or("")
                .to_string()
        })
        .collect();
    titles.sort();
    // (c's article alerted once too: its new URL serves the same feed,
    // whose articles c has seen.)
    assert_eq!(
        titles,
        [
            LATIN1_TITLE,
            MINUSMA_TITLE,
            "Mali: senior UN official in Bamako as peacekeepers withdraw",
        ],
        "each alert once"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_config_at_reload_is_refused_with_its_position_and_the_old_one_keeps_alerting() {
    let World { dir, feeds, hooks } = World::new().await;
    let rest = un_news(
        &feeds.url("/fr/rss.xml"),
        r#""Minusma", "Casques bleus""#,
        &hooks.url(),
    );
    let config = write_config(
        dir.path(),
        "interval = \"1s\"\nlisten = \"127.0.0.1:0\"",
        &rest,
    );
    let good = std::fs::read_to_string(&config).unwrap();
    let daemon = Daemon::start(&config, &[]).await;
    let addr = daemon.listen_addr().await;
    // The baseline poll, then the bad config.
    for _ in 0..600 {
        if feeds.hits("/fr/rss.xml") >= 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let bad = good.replace("notify = [\"hook\"]", "notify = [\"hookk\"]");
    std::fs::write(&config, &bad).unwrap();
    let line = bad
        .lines()
        .position(|l| l.contains("hookk"))
        .expect("the mistake")
        + 1;
    daemon.signal(libc::SIGHUP);
    daemon.wait_log("config reload refused").await;
    let expected = format!("vigie.toml:{line}:");
    daemon.wait_log(&expected).await;
    daemon.wait_log("unknown notifier \"hookk\"").await;

    let (code, text) = get(&format!("http://{addr}/metrics")).await;
    assert_eq!(code, 200);
    let metrics = parse_metrics(&text);
    assert_eq!(metrics.get("vigie_config_reload_errors_total"), Some(&1.0));
    assert_eq!(
        metrics.get("vigie_config_last_reload_successful"),
        Some(&0.0)
    );
    assert_eq!(
        metrics.get("vigie_config_reloads_total"),
        Some(&0.0),
        "nothing applied"
    );

    // The old config still runs: a new article alerts through "hook".
    feeds.set("/fr/rss.xml", RSS, feed("un-fr-plus-one.rss"));
    assert!(hooks.wait_for(1, WAIT).await, "the old config still alerts");
    let (status, log) = daemon.stop().await;
    assert!(status.success(), "{status:?}\n{}", log.join("\n"));
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_with_deliveries_in_flight_loses_none() {
    let World { dir, feeds, hooks } = World::new().await;
    // Each delivery takes a second: the stop comes while one is in flight.
    hooks.set_delay(Duration::from_secs(1));
    let config = write_config(
        dir.path(),
        "first_run = \"alert\"\ninterval = \"1h\"",
        &un_news(
            &feeds.url("/fr/rss.xml"),
            r#""Mali", "retraites", "Sahel""#,
            &hooks.url(),
        ),
    );
    let daemon = Daemon::start(&config, &[]).await;
    assert!(hooks.wait_for_received(1, WAIT).await, "a delivery started");
    let (status, log) = daemon.stop().await;
    assert!(status.success(), "{status:?}\n{}", log.join("\n"));
    let answered = hooks.delivered().len();
    assert!(answered >= 1, "the delivery in flight finished before exit");
    assert_eq!(
        hooks.received().len(),
        answered,
        "every request vigie sent was answered before it exited"
    );

    // The rest waited in the outbox: the next run sends them, and not the
    // ones already sent.
    hooks.set_delay(Duration::ZERO);
    once(&config).await;
    let mut ids: Vec<String> = hooks
        .delivered()
        .iter()
        .map(|r| r.body["id"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(ids.len(), 3, "three alerts, each delivered");
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 3, "none delivered twice");
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_are_scraped_and_parsed() {
    let dir = tempfile::tempdir().unwrap();
    let feeds = FeedServer::start().await;
    let body = feed("un-fr.rss");
    feeds.set("/fr/rss.xml", RSS, body.clone());
    let hooks = WebhookReceiver::start().await;
    let config = write_config(
        dir.path(),
        "first_run = \"alert\"\ninterval = \"1s\"\nlisten = \"127.0.0.1:0\"",
        &format!(
            "[sources.un-news]\nurl = \"{}\"\n\n[sources.gone]\nurl = \"{}\"\ninterval = \"1h\"\n\n\
             [rules.minusma]\nkeywords = [\"Minusma\"]\nnotify = [\"hook\"]\n\n{}",
            feeds.url("/fr/rss.xml"),
            feeds.url("/gone.xml"),
            hook("hook", &hooks.url())
        ),
    );
    let daemon = Daemon::start(&config, &[]).await;
    let addr = daemon.listen_addr().await;
    assert!(hooks.wait_for(1, WAIT).await, "the alert went out");
    for _ in 0..600 {
        if feeds.not_modified("/fr/rss.xml") >= 1 && feeds.hits("/gone.xml") >= 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    daemon.signal(libc::SIGHUP);
    daemon.wait_log("config reloaded").await;

    let (code, text) = get(&format!("http://{addr}/metrics")).await;
    assert_eq!(code, 200, "{text}");
    let m = parse_metrics(&text);
    let value = |series: &str| {
        *m.get(series)
            .unwrap_or_else(|| panic!("no {series} in:\n{text}"))
    };
    assert!(value(r#"vigie_polls_total{outcome="ok"}"#) >= 1.0);
    assert!(value(r#"vigie_polls_total{outcome="not_modified"}"#) >= 1.0);
    assert_eq!(value(r#"vigie_polls_total{outcome="error"}"#), 1.0);
    assert_eq!(value(r#"vigie_fetch_errors_total{kind="status"}"#), 1.0);
    let not_modified = value("vigie_not_modified_total");
    assert!(not_modified >= 1.0 && not_modified <= feeds.not_modified("/fr/rss.xml") as f64);
    assert_eq!(
        value("vigie_fetched_bytes_total"),
        body.len() as f64,
        "one 200 with the feed; 304s have no body"
    );
    assert_eq!(value("vigie_new_articles_total"), 3.0);
    assert_eq!(value(r#"vigie_rule_matches_total{rule="minusma"}"#), 1.0);
    assert_eq!(
        value(r#"vigie_deliveries_total{notifier="hook",state="sent"}"#),
        1.0
    );
    assert_eq!(value("vigie_outbox_pending"), 0.0);
    assert_eq!(value("vigie_outbox_dead"), 0.0);
    assert_eq!(value("vigie_sources_failing"), 0.0);
    assert_eq!(value(r#"vigie_sources{health="ok"}"#), 2.0);
    assert_eq!(value("vigie_state_up"), 1.0);
    assert_eq!(value("vigie_config_reloads_total"), 1.0);
    assert_eq!(value("vigie_config_reload_errors_total"), 0.0);
    assert_eq!(value("vigie_config_last_reload_successful"), 1.0);
    // Histograms: cumulative buckets ending at +Inf = count.
    let polls = value("vigie_poll_duration_seconds_count");
    assert!(polls >= 3.0, "{polls}");
    assert_eq!(
        value(r#"vigie_poll_duration_seconds_bucket{le="+Inf"}"#),
        polls
    );
    let buckets: Vec<f64> = m
        .iter()
        .filter(|(k, _)| k.starts_with("vigie_poll_duration_seconds_bucket"))
        .map(|(_, v)| *v)
        .collect();
    assert!(buckets.len() >= 10);
    assert_eq!(
        value(r#"vigie_delivery_duration_seconds_count{notifier="hook"}"#),
        1.0
    );
    assert!(value(r#"vigie_build_info{version="0.1.0"}"#) == 1.0);
    let (status, log) = daemon.stop().await;
    assert!(status.success(), "{status:?}\n{}", log.join("\n"));
}

#[tokio::test(flavor = "multi_thread")]
async fn healthz_turns_503_when_the_state_becomes_unreachable() {
    let dir = tempfile::tempdir().unwrap();
    let state_dir = dir.path().join("state");
    std::fs::create_dir(&state_dir).unwrap();
    let feeds = FeedServer::start().await;
    feeds.set("/fr/rss.xml", RSS, feed("un-fr.rss"));
    let hooks = WebhookReceiver::start().await;
    let config = dir.path().join("vigie.toml");
    std::fs::write(
        &config,
        format!(
            "[daemon]\nstate = \"{}\"\nlisten = \"127.0.0.1:0\"\n\n[sources.un-news]\nurl = \"{}\"\n\n\
             [rules.minusma]\nkeywords = [\"Minusma\"]\nnotify = [\"hook\"]\n\n{}",
            state_dir.join("vigie.db").display(),
            feeds.url("/fr/rss.xml"),
            hook("hook", &hooks.url())
        ),
    )
    .unwrap();
    let daemon = Daemon::start(&config, &[]).await;
    let url = format!("http://{}/healthz", daemon.listen_addr().await);
    let (code, body) = get(&url).await;
    assert_eq!(code, 200, "{body}");
    let health: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["loop"], "alive");

    // The state directory is moved away under the running daemon.
    let moved = dir.path().join("moved");
    std::fs::rename(&state_dir, &moved).unwrap();
    let (code, body) = get(&url).await;
    assert_eq!(code, 503, "{body}");
    let health: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(health["state"], "unreachable");
    let problems = health["problems"].to_string();
    assert!(problems.contains("cannot reach the state"), "{problems}");
    assert!(problems.contains("vigie.db"), "{problems}");

    // Back in place: healthy again.
    std::fs::rename(&moved, &state_dir).unwrap();
    let (code, body) = get(&url).await;
    assert_eq!(code, 200, "{body}");
    let (status, log) = daemon.stop().await;
    assert!(status.success(), "{status:?}\n{}", log.join("\n"));
}

#[tokio::test(flavor = "multi_thread")]
async fn log_format_json_writes_one_object_a_line_and_log_level_filters() {
    let World { dir, feeds, hooks } = World::new().await;
    let rest = un_news(&feeds.url("/fr/rss.xml"), r#""Minusma""#, &hooks.url());
    let with_level = |level: &str| {
        write_config(
            dir.path(),
            &format!("interval = \"1h\"\nlog_format = \"json\"\nlog_level = \"{level}\""),
            &rest,
        )
    };
    let config = with_level("info");
    // The config's level rules when RUST_LOG is empty.
    let daemon = Daemon::start(&config, &[("RUST_LOG", String::new())]).await;
    let polled = daemon.wait_log("\"polled\"").await;
    // A reload applies a new level: from then on, no info lines. Another
    // thread may still write one between the announcement (said at the
    // old level) and the change, so the proof is the next reload: its
    // "reloading the config" is an info line, and must not show, while the
    // error refusing its broken file does.
    with_level("warn");
    daemon.signal(libc::SIGHUP);
    daemon.wait_log("changing the log level").await;
    std::fs::write(&config, "[daemon\n").unwrap();
    daemon.signal(libc::SIGHUP);
    daemon.wait_log("config reload refused").await;
    let (status, log) = daemon.stop().await;
    let position = |text: &str| log.iter().position(|l| l.contains(text)).unwrap();
    let (changed, refused) = (
        position("changing the log level"),
        position("config reload refused"),
    );
    assert!(
        log[changed + 1..]
            .iter()
            .all(|l| !l.contains("reloading the config")),
        "info lines after log_level = \"warn\": {:?}",
        &log[changed + 1..]
    );
    assert!(
        log[refused..].iter().all(|l| !l.contains("\"INFO\"")),
        "info lines after log_level = \"warn\": {:?}",
        &log[refused..]
    );
    assert!(status.success(), "{status:?}\n{}", log.join("\n"));
    let event: serde_json::Value = serde_json::from_str(&polled).expect("a JSON object");
    assert_eq!(event["level"], "INFO");
    assert_eq!(event["message"], "polled");
    assert_eq!(event["source"], "un-news");
    assert_eq!(event["found"], 3);
    assert!(event["timestamp"].is_string());
    for line in &log {
        let parsed: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}"));
        assert_ne!(
            parsed["level"], "DEBUG",
            "log_level = \"info\" filters debug"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn under_the_journal_text_logs_carry_no_timestamp_or_colour_of_their_own() {
    use std::io::BufRead as _;
    use std::os::unix::fs::MetadataExt as _;
    let dir = tempfile::tempdir().unwrap();
    let feeds = FeedServer::start().await;
    feeds.set("/fr/rss.xml", RSS, feed("un-fr.rss"));
    let config = write_config(
        dir.path(),
        "interval = \"1h\"\nlog_format = \"text\"",
        &un_news(
            &feeds.url("/fr/rss.xml"),
            r#""Minusma""#,
            "http://127.0.0.1:9/hook",
        ),
    );
    // systemd connects stderr to the journal and names that stream in
    // JOURNAL_STREAM (device:inode); a pipe stands in for the journal.
    let (reader, writer) = std::io::pipe().expect("pipe");
    let stat = std::fs::metadata(format!("/proc/self/fd/{}", {
        use std::os::fd::AsRawFd as _;
        writer.as_raw_fd()
    }))
    .expect("fstat the pipe");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_vigie"))
        .args(["run", "--config"])
        .arg(&config)
        .env("RUST_LOG", "info")
        .env("JOURNAL_STREAM", format!("{}:{}", stat.dev(), stat.ino()))
        .env_remove("NOTIFY_SOCKET")
        .stdout(Stdio::null())
        .stderr(Stdio::from(writer))
        .kill_on_drop(true)
        .spawn()
        .expect("start vigie run");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(reader)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let started = rx
        .recv_timeout(WAIT)
        .expect("a first log line under the journal");
    let pid = child.id().expect("running") as libc::pid_t;
    // SAFETY: kill(2) on the PID of the child this test started.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let status = tokio::time::timeout(Duration::from_secs(60), child.wait())
        .await
        .expect("stops")
        .expect("wait");
    assert!(status.success());
    assert!(
        started.starts_with(" INFO") || started.starts_with("INFO"),
        "no timestamp of its own: {started:?}"
    );
    assert!(!started.contains('\u{1b}'), "no colour: {started:?}");
    assert!(started.contains("vigie started"), "{started:?}");
}

#[test]
fn completions_and_man_pages_come_from_the_command_line() {
    let vigie = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_vigie"))
            .args(args)
            .output()
            .expect("run vigie");
        assert!(out.status.success(), "{args:?}: {out:?}");
        String::from_utf8(out.stdout).expect("UTF-8")
    };
    for shell in ["bash", "zsh", "fish"] {
        let script = vigie(&["completions", shell]);
        for word in ["run", "check", "test-rule", "schema", "config"] {
            assert!(script.contains(word), "{shell} completion lacks {word}");
        }
    }
    let page = vigie(&["man"]);
    assert!(
        page.starts_with(".ie") || page.contains(".TH vigie 1"),
        "{page}"
    );
    assert!(page.contains("test\\-rule"), "the page lists the commands");
    let dir = tempfile::tempdir().unwrap();
    vigie(&["man", "--dir", dir.path().to_str().unwrap()]);
    for page in [
        "vigie.1",
        "vigie-run.1",
        "vigie-check.1",
        "vigie-test-rule.1",
    ] {
        let text = std::fs::read_to_string(dir.path().join(page)).expect(page);
        assert!(text.contains(".TH"), "{page} is a man page");
    }
}
