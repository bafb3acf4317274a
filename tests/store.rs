//! The SQLite store: what one poll records, that an article alerts at most
//! once per rule even when two processes race on one state file, and how a
//! delivery moves through the outbox.

use std::sync::Arc;

use chrono::{Duration, TimeZone, Utc};
use vigie::fetch::Validators;
use vigie::model::{Alert, Article, delivery_id};
use vigie::store::{NewAlert, NewArticle, NewDelivery, PollRecord, SqliteStore, Store};

fn article(key: &str) -> Article {
    Article {
        key: key.into(),
        aliases: vec![format!("url:https://news.example.org/{key}")],
        url: Some(format!("https://news.example.org/{key}")),
        title: "Mali : le retrait des Casques bleus de la Minusma".into(),
        summary: "Le Conseil de sécurité a mis fin au mandat.".into(),
        body: None,
        published: Utc.with_ymd_and_hms(2023, 8, 19, 10, 32, 0).single(),
        updated: None,
        authors: vec!["Awa Diarra".into()],
        language: Some("fr".into()),
        tags: vec!["mali".into()],
        source: "un-news".into(),
    }
}

fn poll_with(keys: &[&str]) -> PollRecord {
    let at = Utc::now();
    PollRecord {
        source: "un-news".into(),
        at,
        validators: Validators {
            etag: Some("\"v1\"".into()),
            last_modified: None,
        },
        articles: keys
            .iter()
            .map(|key| {
                let a = article(key);
                NewArticle {
                    keys: a.all_keys().map(str::to_string).collect(),
                    known: false,
                    alerts: vec![NewAlert {
                        deliveries: ["hook", "desk"]
                            .iter()
                            .map(|n| NewDelivery {
                                id: delivery_id("minusma", "un-news", &a.key, n),
                                notifier: n.to_string(),
                                hold_until: None,
                            })
                            .collect(),
                        alert: Alert {
                            rule: "minusma".into(),
                            source: "un-news".into(),
                            article: a,
                            matches: Vec::new(),
                            detected_at: at,
                        },
                    }],
                }
            })
            .collect(),
        body_hash: None,
        hint: None,
        next_poll: None,
        via_feed: None,
    }
}

#[tokio::test]
async fn a_poll_records_keys_alerts_deliveries_and_validators_together() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("state/vigie.db"))
        .await
        .unwrap();
    assert_eq!(store.source_state("un-news").await.unwrap(), None);

    let outcome = store
        .record_poll(poll_with(&["id:a", "id:b"]))
        .await
        .unwrap();
    assert_eq!(
        (outcome.articles, outcome.alerts, outcome.deliveries),
        (2, 2, 4)
    );
    let state = store.source_state("un-news").await.unwrap().unwrap();
    assert_eq!(state.validators.etag.as_deref(), Some("\"v1\""));
    assert!(state.last_success.is_some());
    assert_eq!(state.items_seen, 2);

    let keys: Vec<String> = ["id:a", "url:https://news.example.org/id:b", "id:zzz"]
        .map(String::from)
        .to_vec();
    let known = store.known_keys("un-news", &keys).await.unwrap();
    assert!(
        known.contains("id:a")
            && known.contains("url:https://news.example.org/id:b")
            && !known.contains("id:zzz")
    );
    assert!(
        store.known_keys("other", &keys).await.unwrap().is_empty(),
        "keys are per source"
    );

    // The same articles again: nothing new, no second alert.
    let again = store
        .record_poll(poll_with(&["id:a", "id:b"]))
        .await
        .unwrap();
    assert_eq!((again.articles, again.alerts, again.deliveries), (0, 0, 0));
    assert_eq!(store.outbox_counts().await.unwrap().pending, 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn two_processes_racing_on_one_article_record_one_alert() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vigie.db");
    let first = Arc::new(SqliteStore::open(&path).await.unwrap());
    let second = Arc::new(SqliteStore::open(&path).await.unwrap());
    let mut tasks = Vec::new();
    for i in 0..8 {
        let store = if i % 2 == 0 {
            first.clone()
        } else {
            second.clone()
        };
        tasks.push(tokio::spawn(async move {
            store
                .record_poll(poll_with(&["id:a", "id:b", "id:c"]))
                .await
        }));
    }
    let mut alerts = 0;
    for t in tasks {
        alerts += t.await.unwrap().unwrap().alerts;
    }
    assert_eq!(alerts, 3, "each article alerts once, whoever wins");
    assert_eq!(first.outbox_counts().await.unwrap().pending, 6);
}

#[tokio::test]
async fn a_delivery_moves_from_pending_to_sent_or_dead() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("vigie.db"))
        .await
        .unwrap();
    store.record_poll(poll_with(&["id:a"])).await.unwrap();
    let now = Utc::now();
    let hook = store.due_deliveries("hook", Some(now), 100).await.unwrap();
    let desk = store.due_deliveries("desk", Some(now), 100).await.unwrap();
    assert_eq!((hook.len(), desk.len()), (1, 1));
    let (hook, desk) = (&hook[0], &desk[0]);
    assert_eq!(
        hook.payload.alerts()[0].article.title,
        "Mali : le retrait des Casques bleus de la Minusma"
    );

    // A temporary failure: not due again until its retry time.
    store
        .delivery_failed(&hook.id, "HTTP 503", now + Duration::minutes(5))
        .await
        .unwrap();
    assert!(
        store
            .due_deliveries("hook", Some(now), 100)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.due_deliveries("hook", None, 100).await.unwrap().len(),
        1,
        "once takes every pending one"
    );
    let retry = store
        .due_deliveries("hook", Some(now + Duration::minutes(6)), 100)
        .await
        .unwrap();
    assert_eq!(retry[0].attempts, 1);
    let next = store.next_delivery_due("hook").await.unwrap().unwrap();
    assert!(next > now + Duration::minutes(4));

    store.delivery_sent(&hook.id, now).await.unwrap();
    store
        .delivery_dead(&desk.id, "SMTP 550 mailbox unknown")
        .await
        .unwrap();
    let counts = store.outbox_counts().await.unwrap();
    assert_eq!((counts.pending, counts.sent, counts.dead), (0, 1, 1));
    assert!(
        store
            .due_deliveries("hook", None, 100)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.next_delivery_due("hook").await.unwrap(), None);
    // Outcomes only apply to pending deliveries: a late "failed" cannot
    // requeue a sent one, a late "sent" cannot revive a dead one.
    store.delivery_failed(&hook.id, "late", now).await.unwrap();
    store.delivery_sent(&desk.id, now).await.unwrap();
    let counts = store.outbox_counts().await.unwrap();
    assert_eq!((counts.pending, counts.sent, counts.dead), (0, 1, 1));
}

#[tokio::test]
async fn a_claimed_delivery_is_not_sent_by_a_second_process_until_the_claim_expires() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vigie.db");
    let run = SqliteStore::open(&path).await.unwrap();
    let once = SqliteStore::open(&path).await.unwrap();
    run.record_poll(poll_with(&["id:a"])).await.unwrap();
    let now = Utc::now();
    let id = run.due_deliveries("desk", None, 10).await.unwrap()[0]
        .id
        .clone();

    assert!(
        run.claim_delivery(&id, now, now + Duration::minutes(2))
            .await
            .unwrap()
    );
    assert!(
        !once
            .claim_delivery(&id, now, now + Duration::minutes(2))
            .await
            .unwrap()
    );
    assert!(
        once.due_deliveries("desk", None, 10)
            .await
            .unwrap()
            .is_empty(),
        "a claimed delivery is not offered"
    );
    assert!(run.next_delivery_due("desk").await.unwrap().unwrap() > now + Duration::minutes(1));

    // The first sender died: after its claim expires, another takes over.
    let later = now + Duration::minutes(3);
    assert!(
        once.claim_delivery(&id, later, later + Duration::minutes(2))
            .await
            .unwrap()
    );
    once.delivery_sent(&id, later).await.unwrap();
    assert!(
        !run.claim_delivery(&id, later, later).await.unwrap(),
        "a sent delivery cannot be claimed"
    );
    assert_eq!(
        run.pending_by_notifier().await.unwrap(),
        vec![("hook".to_string(), 1)]
    );
}

#[tokio::test]
async fn failures_count_up_and_a_success_resets_them() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("vigie.db"))
        .await
        .unwrap();
    assert_eq!(
        store
            .record_failure("un-news", "timeout", "timed out after 30s", Utc::now())
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .record_failure("un-news", "status", "HTTP status 503", Utc::now())
            .await
            .unwrap(),
        2
    );
    let state = store.source_state("un-news").await.unwrap().unwrap();
    assert_eq!(state.last_error_kind.as_deref(), Some("status"));
    assert_eq!(
        state.last_success, None,
        "never polled successfully: still a first poll"
    );
    store.record_poll(poll_with(&[])).await.unwrap();
    assert_eq!(
        store
            .source_state("un-news")
            .await
            .unwrap()
            .unwrap()
            .failures,
        0
    );
}

/// Polls finishing together are committed in one transaction; one write
/// that fails there (here a trigger refusing one key, as a full disk or a
/// broken row would) must fail its own caller only, and the others must be
/// on disk.
#[tokio::test]
async fn a_write_failing_among_others_committed_together_fails_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vigie.db");
    let store = SqliteStore::open(&path).await.unwrap();
    let admin = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    sqlx::query(
        "CREATE TRIGGER poison BEFORE INSERT ON article_keys WHEN NEW.key = 'id:poison'
         BEGIN SELECT RAISE(ABORT, 'poisoned key'); END",
    )
    .execute(&admin)
    .await
    .unwrap();
    let polls: Vec<PollRecord> = (0..40)
        .map(|i| {
            let key = if i == 17 {
                "id:poison".to_string()
            } else {
                format!("id:{i}")
            };
            PollRecord {
                source: format!("wire-{i}"),
                ..poll_with(&[&key])
            }
        })
        .collect();
    let results =
        futures_util::future::join_all(polls.iter().map(|p| store.record_poll(p.clone()))).await;
    for (i, result) in results.iter().enumerate() {
        let state = store.source_state(&format!("wire-{i}")).await.unwrap();
        if i == 17 {
            let error = result.as_ref().expect_err("the poisoned poll fails");
            assert!(error.to_string().contains("poisoned key"), "{error}");
            assert_eq!(state, None, "nothing of the failed poll is recorded");
        } else {
            let outcome = result.as_ref().expect("the other polls are recorded");
            assert_eq!((outcome.articles, outcome.alerts), (1, 1), "poll {i}");
            assert!(state.is_some_and(|s| s.last_success.is_some()), "poll {i}");
            let known = store
                .known_keys(&format!("wire-{i}"), &[format!("id:{i}")])
                .await
                .unwrap();
            assert_eq!(known.len(), 1, "poll {i}");
        }
    }
    assert_eq!(store.outbox_counts().await.unwrap().pending, 39 * 2);
}

/// Polls of several sources committed together, some of their articles
/// known and some new: each poll's outcome counts its own new articles,
/// alerts and deliveries, and a key is new for its own source only.
#[tokio::test]
async fn polls_committed_together_each_count_their_own_new_articles() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("vigie.db"))
        .await
        .unwrap();
    // Alerts and delivery ids of the source's own, as a real poll has.
    let named = |source: &str, keys: &[&str]| {
        let mut poll = PollRecord {
            source: source.into(),
            ..poll_with(keys)
        };
        for alert in poll.articles.iter_mut().flat_map(|a| a.alerts.iter_mut()) {
            alert.alert.source = source.into();
            for d in &mut alert.deliveries {
                d.id = delivery_id("minusma", source, &alert.alert.article.key, &d.notifier);
            }
        }
        poll
    };
    let first = [
        named("wire-a", &["id:1", "id:2"]),
        named("wire-b", &["id:1"]),
        named("wire-c", &[]),
    ];
    let outcomes =
        futures_util::future::join_all(first.iter().map(|p| store.record_poll(p.clone()))).await;
    let counts: Vec<(usize, usize, usize)> = outcomes
        .into_iter()
        .map(|o| o.unwrap())
        .map(|o| (o.articles, o.alerts, o.deliveries))
        .collect();
    assert_eq!(counts, [(2, 2, 4), (1, 1, 2), (0, 0, 0)]);

    // wire-a: one known, one new; wire-b: all known; wire-c: the key
    // wire-a and wire-b know, new to wire-c.
    let second = [
        named("wire-a", &["id:2", "id:3"]),
        named("wire-b", &["id:1"]),
        named("wire-c", &["id:1"]),
    ];
    let outcomes =
        futures_util::future::join_all(second.iter().map(|p| store.record_poll(p.clone()))).await;
    let counts: Vec<(usize, usize, usize)> = outcomes
        .into_iter()
        .map(|o| o.unwrap())
        .map(|o| (o.articles, o.alerts, o.deliveries))
        .collect();
    assert_eq!(counts, [(1, 1, 2), (0, 0, 0), (1, 1, 2)]);
    let seen: Vec<u64> = futures_util::future::join_all(
        ["wire-a", "wire-b", "wire-c"].map(|s| store.source_state(s)),
    )
    .await
    .into_iter()
    .map(|s| s.unwrap().unwrap().items_seen)
    .collect();
    assert_eq!(seen, [3, 1, 1]);
    // Five alerts, two notifiers each.
    assert_eq!(store.outbox_counts().await.unwrap().pending, 5 * 2);
}
