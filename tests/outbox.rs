//! The outbox in process, where time matters: digests (held alerts become
//! one delivery when their period ends, and survive a restart), rate limits
//! (a burst waits its turn, nothing is dropped), and a notifier that stops
//! sending digests.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use common::{SmtpServer, WebhookReceiver};
use tokio_util::sync::CancellationToken;
use vigie::config::Config;
use vigie::fetch::Validators;
use vigie::model::{Alert, Article, MatchInfo, delivery_id};
use vigie::notify::Channels;
use vigie::notify::outbox::Dispatcher;
use vigie::store::{NewAlert, NewArticle, NewDelivery, PollRecord, SqliteStore, Store};

fn config(dir: &std::path::Path, notifiers: &str) -> Config {
    let path = dir.join("vigie.toml");
    let text = format!(
        r#"[daemon]
state = "{state}"
timeout = "5s"

[sources.un-news]
url = "https://news.example.org/fr/rss.xml"

[rules.minusma]
keywords = ["Minusma"]
notify = ["hook"]

[rules.casques]
keywords = ["Casques bleus"]
notify = ["hook"]

{notifiers}
"#,
        state = dir.join("vigie.db").display()
    );
    std::fs::write(&path, text).unwrap();
    vigie::config::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

fn alert(rule: &str, n: usize) -> Alert {
    let at = Utc.with_ymd_and_hms(2023, 8, 19, 10, n as u32, 0).unwrap();
    Alert {
        rule: rule.into(),
        source: "un-news".into(),
        article: Article {
            key: format!("id:{n}"),
            aliases: Vec::new(),
            url: Some(format!("https://news.example.org/fr/story/{n}")),
            title: format!("Mali : dépêche {n} sur le retrait de la Minusma"),
            summary: "Les Casques bleus quittent le nord du pays.".into(),
            body: None,
            published: Some(at),
            updated: None,
            authors: Vec::new(),
            language: Some("fr".into()),
            tags: Vec::new(),
            source: "un-news".into(),
        },
        matches: vec![MatchInfo {
            term: "Minusma".into(),
            field: "title".into(),
            snippet: "… retrait de la Minusma".into(),
        }],
        detected_at: at,
    }
}

/// Records one alert per (rule, n), each delivered through `notifier`,
/// held until `hold` when given.
async fn record(
    store: &SqliteStore,
    alerts: &[(&str, usize)],
    notifier: &str,
    hold: Option<DateTime<Utc>>,
) {
    let articles = alerts
        .iter()
        .map(|&(rule, n)| {
            let a = alert(rule, n);
            NewArticle {
                keys: vec![a.article.key.clone()],
                known: false,
                alerts: vec![NewAlert {
                    deliveries: vec![NewDelivery {
                        id: delivery_id(rule, "un-news", &a.article.key, notifier),
                        notifier: notifier.into(),
                        hold_until: hold,
                    }],
                    alert: a,
                }],
            }
        })
        .collect();
    store
        .record_poll(PollRecord {
            source: "un-news".into(),
            at: Utc::now(),
            validators: Validators::default(),
            articles,
            body_hash: None,
            hint: None,
            next_poll: None,
            via_feed: None,
        })
        .await
        .unwrap();
}

fn dispatcher(store: &Arc<SqliteStore>, config: &Config) -> Arc<Dispatcher> {
    Arc::new(Dispatcher::new(
        store.clone(),
        Channels::new(config).unwrap(),
        config.daemon.timeout,
        CancellationToken::new(),
    ))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_digest_is_one_delivery_of_the_alerts_whose_period_ended() {
    let dir = tempfile::tempdir().unwrap();
    let hook = WebhookReceiver::start().await;
    let config = config(
        dir.path(),
        &format!(
            "[notifiers.hook]\ntype = \"webhook\"\nurl = \"{}\"\ndigest = \"1h\"",
            hook.url()
        ),
    );
    let store = Arc::new(SqliteStore::open(&config.daemon.state).await.unwrap());
    let now = Utc::now();
    // Two alerts whose hour is over, one still in its hour.
    record(
        &store,
        &[("minusma", 1), ("casques", 2)],
        "hook",
        Some(now - chrono::Duration::seconds(1)),
    )
    .await;
    record(
        &store,
        &[("minusma", 3)],
        "hook",
        Some(now + chrono::Duration::hours(1)),
    )
    .await;
    assert_eq!(store.outbox_counts().await.unwrap().held, 3);

    // The receiver fails once: the digest is retried with its own id.
    hook.script(&[503]);
    let report = dispatcher(&store, &config)
        .dispatch(Some(Utc::now()))
        .await
        .unwrap();
    assert_eq!((report.sent, report.retrying), (0, 1));
    // A restart: a new process, the same state.
    drop(store);
    let store = Arc::new(SqliteStore::open(&config.daemon.state).await.unwrap());
    let counts = store.outbox_counts().await.unwrap();
    assert_eq!((counts.pending, counts.held), (1, 1), "{counts:?}");
    let report = dispatcher(&store, &config).dispatch(None).await.unwrap();
    assert_eq!(report.sent, 1);

    let received = hook.received();
    assert_eq!(received.len(), 2);
    let key = received[1].header("idempotency-key").unwrap();
    assert_eq!(received[0].header("idempotency-key"), Some(key));
    let body = &received[1].body;
    assert_eq!(body["id"], key);
    let alerts = body["alerts"].as_array().unwrap();
    assert_eq!(alerts.len(), 2, "{body:#}");
    // Each alert keeps its own delivery id and the documented fields.
    let ids: Vec<_> = alerts.iter().map(|a| a["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        [
            delivery_id("minusma", "un-news", "id:1", "hook"),
            delivery_id("casques", "un-news", "id:2", "hook")
        ]
    );
    assert_eq!(alerts[1]["rule"], "casques");
    assert!(
        alerts[0]["article"]["title"]
            .as_str()
            .unwrap()
            .contains("dépêche 1")
    );

    // `vigie alerts` shows the digested alerts through their digest.
    let records = store
        .alerts_since(Utc.with_ymd_and_hms(2020, 1, 1, 0, 0, 0).unwrap(), 100)
        .await
        .unwrap();
    let states: Vec<(String, Option<String>)> = records
        .iter()
        .map(|r| {
            let d = &r.deliveries[0];
            (d.state.clone(), d.digest.as_ref().map(|g| g.state.clone()))
        })
        .collect();
    assert!(states.contains(&("digested".into(), Some("sent".into()))));
    assert!(states.contains(&("held".into(), None)));
    // The third alert's hour is not over: nothing more goes out.
    let report = dispatcher(&store, &config)
        .dispatch(Some(Utc::now()))
        .await
        .unwrap();
    assert_eq!(report.sent, 0);
    assert_eq!(hook.received().len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_email_digest_groups_alerts_by_rule() {
    let dir = tempfile::tempdir().unwrap();
    let smtp = SmtpServer::start().await;
    let config = config(
        dir.path(),
        &format!(
            "[notifiers.hook]\ntype = \"email\"\nto = [\"desk@example.org\"]\nfrom = \"vigie@example.org\"\ndigest = \"daily@08:00\"\ntimezone = \"Africa/Bamako\"\n  [notifiers.hook.smtp]\n  host = \"127.0.0.1\"\n  port = {}\n  security = \"none\"",
            smtp.port()
        ),
    );
    let store = Arc::new(SqliteStore::open(&config.daemon.state).await.unwrap());
    let past = Utc::now() - chrono::Duration::seconds(1);
    record(
        &store,
        &[("minusma", 1), ("casques", 2), ("minusma", 3)],
        "hook",
        Some(past),
    )
    .await;
    let report = dispatcher(&store, &config).dispatch(None).await.unwrap();
    assert_eq!(report.sent, 1);
    let mails = smtp.messages();
    assert_eq!(mails.len(), 1);
    let mail = mails[0].parsed();
    assert_eq!(
        mail.subject.as_deref(),
        Some("[vigie] 3 alerts: casques, minusma")
    );
    let text = mail.text.unwrap();
    let casques = text.find("== casques (1)").expect(&text);
    let minusma = text.find("== minusma (2)").expect(&text);
    assert!(casques < minusma);
    assert!(text.contains("dépêche 3"));
    let html = mail.html.unwrap();
    assert!(html.contains("<h2>minusma (2)</h2>"), "{html}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_burst_waits_for_the_rate_and_nothing_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let hook = WebhookReceiver::start().await;
    let config = config(
        dir.path(),
        &format!(
            "[notifiers.hook]\ntype = \"webhook\"\nurl = \"{}\"\nrate = \"2/s\"",
            hook.url()
        ),
    );
    let store = Arc::new(SqliteStore::open(&config.daemon.state).await.unwrap());
    record(
        &store,
        &[
            ("minusma", 1),
            ("minusma", 2),
            ("minusma", 3),
            ("minusma", 4),
            ("minusma", 5),
        ],
        "hook",
        None,
    )
    .await;
    let start = Instant::now();
    let report = dispatcher(&store, &config).dispatch(None).await.unwrap();
    let took = start.elapsed();
    assert_eq!(report.sent, 5);
    assert_eq!(hook.delivered().len(), 5);
    // Two in the first second, two in the next, the fifth after two
    // seconds: a lower bound, which a slow machine only makes longer.
    assert!(took >= Duration::from_millis(1_900), "{took:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn alerts_held_for_a_digest_go_out_when_the_digest_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    let hook = WebhookReceiver::start().await;
    let config = config(
        dir.path(),
        &format!(
            "[notifiers.hook]\ntype = \"webhook\"\nurl = \"{}\"",
            hook.url()
        ),
    );
    let store = Arc::new(SqliteStore::open(&config.daemon.state).await.unwrap());
    let later = Utc::now() + chrono::Duration::hours(5);
    record(
        &store,
        &[("minusma", 1), ("casques", 2)],
        "hook",
        Some(later),
    )
    .await;
    let report = dispatcher(&store, &config)
        .dispatch(Some(Utc::now()))
        .await
        .unwrap();
    assert_eq!(report.sent, 2);
    let received = hook.received();
    assert!(
        received.iter().all(|r| r.body.get("alerts").is_none()),
        "one by one"
    );
    assert_eq!(store.outbox_counts().await.unwrap().held, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_batch_of_mails_shares_one_smtp_connection() {
    let dir = tempfile::tempdir().unwrap();
    let smtp = SmtpServer::start().await;
    let config = config(
        dir.path(),
        &format!(
            "[notifiers.hook]\ntype = \"email\"\nto = [\"desk@example.org\"]\nfrom = \"vigie@example.org\"\n  [notifiers.hook.smtp]\n  host = \"127.0.0.1\"\n  port = {}\n  security = \"none\"",
            smtp.port()
        ),
    );
    let store = Arc::new(SqliteStore::open(&config.daemon.state).await.unwrap());
    let batch: Vec<(&str, usize)> = (1..=20).map(|n| ("minusma", n)).collect();
    record(&store, &batch, "hook", None).await;
    let report = dispatcher(&store, &config).dispatch(None).await.unwrap();
    assert_eq!(report.sent, 20);
    assert_eq!(smtp.messages().len(), 20);
    assert_eq!(smtp.connections(), 1, "one SMTP session for the batch");
}
