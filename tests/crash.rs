//! The crash test (issue 6): `vigie run` against a local feed that keeps
//! publishing, a local webhook receiver and a local SMTP server, killed with
//! SIGKILL at pseudo-random moments again and again and restarted each
//! time. At the end every article must have been delivered at least once to
//! each notifier, duplicates must be no more than the kills, and the state
//! database must pass SQLite's integrity check.
//!
//! `CRASH_KILLS` sets the number of kills (default 50), `CRASH_SEED` the
//! seed of the moments (printed, to replay a failure).

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{FeedServer, SmtpServer, WebhookReceiver};

const RSS: &str = "application/rss+xml; charset=utf-8";

/// A feed of the first `n` articles, newest first.
fn feed(n: usize) -> String {
    let mut items = String::new();
    for i in (1..=n).rev() {
        items.push_str(&format!(
            "<item><title>Minusma : dépêche {i} sur le retrait des Casques bleus</title>\
             <link>https://fil-sahel.example.com/breves/{i}</link>\
             <guid isPermaLink=\"false\">fil-sahel-{i}</guid>\
             <description>Point de situation numéro {i} depuis Bamako.</description></item>"
        ));
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><rss version=\"2.0\"><channel>\
         <title>Le Fil du Sahel</title><link>https://fil-sahel.example.com/</link>\
         <description>Brèves</description>{items}</channel></rss>"
    )
}

/// xorshift64*: moments that a seed replays.
struct Moments(u64);

impl Moments {
    fn next_ms(&mut self, low: u64, high: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        low + self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % (high - low)
    }
}

fn start(config: &std::path::Path) -> tokio::process::Child {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_vigie"))
        .arg("run")
        .arg("--config")
        .arg(config)
        .env(
            "RUST_LOG",
            std::env::var("CRASH_LOG").unwrap_or_else(|_| "error".into()),
        )
        .stdout(std::process::Stdio::null())
        .stderr(match std::env::var("CRASH_LOG_FILE") {
            Ok(path) => std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .expect("log file")
                .into(),
            Err(_) => std::process::Stdio::null(),
        })
        .kill_on_drop(true)
        .spawn()
        .expect("start vigie run")
}

/// Deliveries per article (by its link) among `urls`.
fn counts(urls: impl Iterator<Item = String>) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for url in urls {
        *counts.entry(url).or_default() += 1;
    }
    counts
}

/// Deliveries per article among the mails (the default text body's
/// second line is the article's link).
fn mailed_links(smtp: &SmtpServer) -> HashMap<String, usize> {
    counts(smtp.messages().iter().map(|m| {
        let text = m.parsed().text.unwrap_or_default();
        text.lines().nth(1).unwrap_or_default().to_string()
    }))
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_at_random_moments_loses_nothing() {
    let kills: usize = std::env::var("CRASH_KILLS")
        .ok()
        .and_then(|k| k.parse().ok())
        .unwrap_or(50);
    let seed: u64 = std::env::var("CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
                | 1
        });
    println!("crash test: {kills} kills, CRASH_SEED={seed}");
    let mut moments = Moments(seed);

    let dir = tempfile::tempdir().unwrap();
    let feeds = Arc::new(FeedServer::start().await);
    let hook = WebhookReceiver::start().await;
    let smtp = SmtpServer::start().await;
    let db = dir.path().join("vigie.db");
    let config = dir.path().join("vigie.toml");
    std::fs::write(
        &config,
        format!(
            r#"[daemon]
state = "{state}"
interval = "1s"
timeout = "2s"
first_run = "alert"

[sources.fil]
url = "{feed}"

[rules.minusma]
keywords = ["Minusma"]
notify = ["hook", "desk"]

[notifiers.hook]
type = "webhook"
url = "{hook}"

[notifiers.desk]
type = "email"
to = ["desk@example.org"]
from = "vigie@example.org"
  [notifiers.desk.smtp]
  host = "127.0.0.1"
  port = {smtp}
  security = "none"
"#,
            state = db.display(),
            feed = feeds.url("/fil.xml"),
            hook = hook.url(),
            smtp = smtp.port(),
        ),
    )
    .unwrap();

    // The newsroom: one new article every 150 ms until told to stop.
    let published = Arc::new(AtomicUsize::new(1));
    feeds.set("/fil.xml", RSS, feed(1));
    let newsroom = tokio::spawn({
        let (feeds, published) = (feeds.clone(), published.clone());
        async move {
            loop {
                tokio::time::sleep(Duration::from_millis(150)).await;
                let n = published.fetch_add(1, Ordering::SeqCst) + 1;
                feeds.set("/fil.xml", RSS, feed(n));
            }
        }
    });

    for _ in 0..kills {
        let mut child = start(&config);
        tokio::time::sleep(Duration::from_millis(moments.next_ms(100, 1_500))).await;
        child.start_kill().expect("SIGKILL");
        child.wait().await.expect("wait");
    }
    newsroom.abort();
    let _ = newsroom.await;
    let total = published.load(Ordering::SeqCst);

    // The last run: everything published must go out, then SIGTERM.
    let mut child = start(&config);
    let expected = total;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let hooked = counts(
            hook.delivered()
                .iter()
                .map(|r| r.body["article"]["url"].to_string()),
        );
        let mailed = mailed_links(&smtp).len();
        if hooked.len() >= expected && mailed >= expected {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "after the last restart only {} of {expected} webhooks and {mailed} mails arrived",
            hooked.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let pid = child.id().expect("pid").to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("vigie stops after SIGTERM")
        .unwrap();
    assert!(status.success(), "{status:?}");

    let hooked = counts(
        hook.delivered()
            .iter()
            .map(|r| r.body["article"]["url"].to_string()),
    );
    let mailed = mailed_links(&smtp);
    let hook_dups: usize = hooked.values().map(|n| n - 1).sum();
    let mail_dups: usize = mailed.values().map(|n| n - 1).sum();
    // Every webhook of one delivery carries one idempotency key: a receiver
    // that honours it sees no duplicate at all.
    let keys = counts(
        hook.delivered()
            .iter()
            .filter_map(|r| r.header("idempotency-key").map(str::to_string)),
    );
    println!(
        "crash test: {kills} SIGKILLs, {total} articles published; webhook: {} distinct of {total}, \
         {hook_dups} duplicates, {} distinct idempotency keys; email: {} distinct of {total}, {mail_dups} duplicates",
        hooked.len(),
        keys.len(),
        mailed.len()
    );
    assert_eq!(hooked.len(), total, "every article reached the webhook");
    assert_eq!(mailed.len(), total, "every article reached the mailbox");
    assert_eq!(keys.len(), total, "one idempotency key per article");
    assert!(
        hook_dups <= kills,
        "{hook_dups} webhook duplicates for {kills} kills"
    );
    assert!(
        mail_dups <= kills,
        "{mail_dups} mail duplicates for {kills} kills"
    );

    // The state survived every kill intact.
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    let check: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(check, "ok");
    let alerts: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM alerts")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(alerts as usize, total, "one alert per article, never two");
}
