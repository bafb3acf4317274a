//! vigie end to end, through the real binary: feeds served from a local
//! server, alerts received by a local webhook receiver and a real SMTP
//! server, state in a temporary directory. Each test starts from config text
//! and checks what arrived, byte for byte where it matters.

mod common;

use std::path::PathBuf;
use std::process::Output;
use std::time::Duration;

use common::{FeedServer, Received, SmtpServer, WebhookReceiver, fixture};
use serde_json::Value;

const RSS: &str = "application/rss+xml; charset=utf-8";
const MINUSMA_TITLE: &str =
    "Mali : un haut responsable de l’ONU à Bamako après la décision de retrait de la Minusma";

/// One test's world: servers, a state directory, a config file.
struct World {
    dir: tempfile::TempDir,
    feeds: FeedServer,
    hook: WebhookReceiver,
    smtp: SmtpServer,
}

impl World {
    async fn new() -> World {
        World {
            dir: tempfile::tempdir().expect("tempdir"),
            feeds: FeedServer::start().await,
            hook: WebhookReceiver::start().await,
            smtp: SmtpServer::start().await,
        }
    }

    /// Writes `vigie.toml`: `daemon` is the body of the [daemon] table,
    /// `rest` the sources and rules; the notifiers `hook` and `desk` point
    /// at this world's receivers.
    fn config(&self, daemon: &str, rest: &str) -> PathBuf {
        let path = self.dir.path().join("vigie.toml");
        let text = format!(
            r#"[daemon]
state = "{state}"
timeout = "10s"
{daemon}

{rest}

[notifiers.hook]
type = "webhook"
url = "{hook}"
headers = {{ Authorization = "Bearer test-token" }}

[notifiers.desk]
type = "email"
to = ["Desk <desk@example.org>"]
from = "vigie <vigie@example.org>"
subject = "[vigie] {{{{ rule }}}}: {{{{ article.title }}}}"
  [notifiers.desk.smtp]
  host = "127.0.0.1"
  port = {smtp}
  security = "none"
"#,
            state = self.dir.path().join("vigie.db").display(),
            hook = self.hook.url(),
            smtp = self.smtp.port(),
        );
        std::fs::write(&path, text).expect("write config");
        path
    }

    fn serve(&self, path: &str, fixture_name: &str) -> String {
        self.feeds.set(path, RSS, fixture(fixture_name));
        self.feeds.url(path)
    }

    async fn vigie(&self, args: &[&str]) -> Output {
        let config = self.dir.path().join("vigie.toml");
        tokio::process::Command::new(env!("CARGO_BIN_EXE_vigie"))
            .args(args)
            .arg("--config")
            .arg(&config)
            .env("RUST_LOG", "warn")
            .output()
            .await
            .expect("run vigie")
    }

    async fn once(&self) -> Output {
        self.vigie(&["once"]).await
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn explain(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        stdout(o),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn assert_ok(o: &Output) {
    assert!(o.status.success(), "vigie failed\n{}", explain(o));
}

/// The titles that arrived, sorted: a webhook takes several deliveries at
/// once, so they may arrive in any order.
fn titles(received: &[Received]) -> Vec<String> {
    let mut titles: Vec<String> = received
        .iter()
        .map(|r| {
            r.body["article"]["title"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    titles.sort();
    titles
}

fn sorted<const N: usize>(titles: [&str; N]) -> Vec<String> {
    let mut titles: Vec<String> = titles.iter().map(|t| t.to_string()).collect();
    titles.sort();
    titles
}

fn minusma_rule(notify: &str) -> String {
    format!(
        r#"[rules.minusma]
keywords = ["Minusma", "Casques bleus"]
exclude = ["football"]
notify = [{notify}]"#
    )
}

/// The commonest world: the French UN feed, alerting from the first poll,
/// and the minusma rule sending to `notify`.
async fn un_news_alerting(notify: &str) -> World {
    let w = World::new().await;
    let url = w.serve("/fr/rss.xml", "un-fr.rss");
    w.config(
        r#"first_run = "alert""#,
        &format!(
            "[sources.un-news]\nurl = \"{url}\"\n\n{}",
            minusma_rule(notify)
        ),
    );
    w
}

#[tokio::test(flavor = "multi_thread")]
async fn a_minusma_article_sends_one_webhook_and_one_email() {
    let w = World::new().await;
    let url = w.serve("/fr/rss.xml", "un-fr.rss");
    w.config(
        r#"first_run = "alert""#,
        &format!(
            "[sources.un-news]\nurl = \"{url}\"\ntags = [\"mali\", \"un\"]\n\n{}",
            minusma_rule(r#""hook", "desk""#)
        ),
    );
    let out = w.once().await;
    assert_ok(&out);

    let posts = w.hook.delivered();
    assert_eq!(posts.len(), 1, "{:#?}", titles(&w.hook.received()));
    let post = &posts[0];
    assert_eq!(post.method, "POST");
    assert_eq!(post.header("content-type"), Some("application/json"));
    assert_eq!(post.header("authorization"), Some("Bearer test-token"));
    let body = &post.body;
    let id = body["id"].as_str().expect("id");
    assert_eq!(post.header("idempotency-key"), Some(id));
    assert_eq!(body["rule"], "minusma");
    assert_eq!(body["source"], "un-news");
    let article = &body["article"];
    assert_eq!(article["title"], MINUSMA_TITLE);
    assert_eq!(
        article["url"],
        "https://news.example.org/fr/story/2023/08/1141902"
    );
    assert_eq!(article["key"], "id:news.example.org/fr/1141902");
    assert_eq!(article["published"], "2023-08-19T10:32:00Z");
    assert_eq!(article["language"], "fr");
    assert_eq!(article["tags"], serde_json::json!(["mali", "un"]));
    assert_eq!(article["authors"], serde_json::json!(["Awa Diarra"]));
    assert!(article.get("body").is_none(), "alerts carry no body");
    let summary = article["summary"].as_str().unwrap();
    assert!(summary.starts_with(
        "Le Secrétaire général adjoint aux opérations de paix est arrivé samedi à Bamako"
    ));
    assert!(!summary.contains('<'), "HTML reduced to text: {summary}");
    let matches = body["matches"].as_array().expect("matches");
    let terms: Vec<&str> = matches
        .iter()
        .map(|m| m["term"].as_str().unwrap())
        .collect();
    assert!(
        terms.contains(&"Minusma") && terms.contains(&"Casques bleus"),
        "{terms:?}"
    );
    let title_hit = matches
        .iter()
        .find(|m| m["field"] == "title")
        .expect("a title hit");
    assert!(
        title_hit["snippet"]
            .as_str()
            .unwrap()
            .contains("retrait de la Minusma")
    );
    assert!(chrono::DateTime::parse_from_rfc3339(body["detected_at"].as_str().unwrap()).is_ok());

    assert!(w.smtp.wait_for(1, Duration::from_secs(5)).await);
    let mails = w.smtp.messages();
    assert_eq!(mails.len(), 1);
    let mail = &mails[0];
    assert_eq!(mail.from, "vigie@example.org");
    assert_eq!(mail.to, vec!["desk@example.org".to_string()]);
    let parsed = mail.parsed();
    assert_eq!(
        parsed.subject.as_deref(),
        Some(format!("[vigie] minusma: {MINUSMA_TITLE}").as_str())
    );
    // The email's delivery is another (alert, notifier) pair than the
    // webhook's: its own stable id, at the sender's domain.
    let message_id = parsed.header("message-id").expect("Message-ID");
    let local = message_id
        .trim_matches(['<', '>'])
        .strip_suffix("@example.org")
        .expect("id@domain");
    assert!(
        local.len() == 32 && local.chars().all(|c| c.is_ascii_hexdigit()),
        "{message_id}"
    );
    assert_ne!(local, id);
    assert_eq!(parsed.header("auto-submitted"), Some("auto-generated"));
    let text = parsed.text.expect("text part");
    assert!(
        text.contains(MINUSMA_TITLE)
            && text.contains("https://news.example.org/fr/story/2023/08/1141902")
    );
    assert!(text.contains("\"Casques bleus\" in summary"), "{text}");
    // minijinja escapes "/" as "&#x2f;" in HTML, which browsers read as "/".
    let html = parsed.html.expect("html part").replace("&#x2f;", "/");
    assert!(
        html.contains(r#"<a href="https://news.example.org/fr/story/2023/08/1141902">"#),
        "{html}"
    );
    assert!(html.contains("l’ONU à Bamako"));

    // The table output names the alert.
    let table = stdout(&out);
    assert!(
        table.contains("[minusma] Mali : un haut responsable"),
        "{table}"
    );
    assert!(
        table.contains("Deliveries: 2 sent, 0 to retry, 0 dead"),
        "{table}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn nothing_is_sent_twice_and_one_new_article_alerts_once() {
    let w = un_news_alerting(r#""hook", "desk""#).await;
    assert_ok(&w.once().await);
    assert_eq!(w.hook.delivered().len(), 1);
    assert!(w.smtp.wait_for(1, Duration::from_secs(5)).await);

    // A second run: the server answers 304 to the stored ETag; nothing sent.
    let second = w.once().await;
    assert_ok(&second);
    assert_eq!(
        w.feeds.not_modified("/fr/rss.xml"),
        1,
        "the stored ETag is sent back"
    );
    // The same items in a changed document (a new lastBuildDate, say): a
    // full 200, but every key is known, so still nothing.
    let mut touched = fixture("un-fr.rss");
    touched.extend_from_slice(b"\n");
    w.feeds.set("/fr/rss.xml", "application/rss+xml", touched);
    let third = w.once().await;
    assert_ok(&third);
    assert!(stdout(&third).contains("0  ok"), "{}", stdout(&third));
    assert_eq!(w.hook.received().len(), 1);
    assert_eq!(w.smtp.messages().len(), 1);

    // One article added on top: exactly one new alert per notifier.
    w.serve("/fr/rss.xml", "un-fr-plus-one.rss");
    let fourth = w.once().await;
    assert_ok(&fourth);
    let posts = w.hook.delivered();
    assert_eq!(posts.len(), 2);
    assert_eq!(
        posts[1].body["article"]["title"],
        "Mali : un premier convoi de Casques bleus quitte une base du nord du pays"
    );
    assert!(w.smtp.wait_for(2, Duration::from_secs(5)).await);
    assert_eq!(w.smtp.messages().len(), 2);
    assert_ne!(posts[0].body["id"], posts[1].body["id"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_source_is_baselined_by_default() {
    let w = World::new().await;
    let url = w.serve("/fr/rss.xml", "un-fr.rss");
    w.config(
        "",
        &format!(
            "[sources.un-news]\nurl = \"{url}\"\n\n{}",
            minusma_rule(r#""hook""#)
        ),
    );
    let first = w.once().await;
    assert_ok(&first);
    assert!(
        stdout(&first).contains("3      3       0  ok"),
        "{}",
        stdout(&first)
    );
    assert!(
        w.hook.received().is_empty(),
        "baseline: the first poll alerts on nothing"
    );

    w.serve("/fr/rss.xml", "un-fr-plus-one.rss");
    assert_ok(&w.once().await);
    assert_eq!(
        titles(&w.hook.delivered()),
        sorted(["Mali : un premier convoi de Casques bleus quitte une base du nord du pays"])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn latest_n_and_max_age_limit_the_first_poll() {
    let w = World::new().await;
    let url = w.serve("/fr/rss.xml", "un-fr-plus-one.rss");
    // The newest two of four items; both mention the Minusma or the
    // Casques bleus. max_age is generous: the fixtures date from 2023.
    w.config(
        "first_run = \"latest:2\"",
        &format!("[sources.un-news]\nurl = \"{url}\"\n\n[rules.any]\nkeywords = [\"Mali\", \"retraite\", \"Sahel\"]\nnotify = [\"hook\"]"),
    );
    assert_ok(&w.once().await);
    assert_eq!(
        titles(&w.hook.delivered()),
        sorted([
            "Mali : un premier convoi de Casques bleus quitte une base du nord du pays",
            MINUSMA_TITLE
        ])
    );

    let w = World::new().await;
    let url = w.serve("/fr/rss.xml", "un-fr.rss");
    w.config(
        "first_run = \"alert\"\nmax_age = \"7d\"",
        &format!(
            "[sources.un-news]\nurl = \"{url}\"\n\n{}",
            minusma_rule(r#""hook""#)
        ),
    );
    assert_ok(&w.once().await);
    assert!(
        w.hook.received().is_empty(),
        "articles from 2023 are older than max_age"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn words_match_whole_retrait_is_not_retraite() {
    let w = World::new().await;
    let url = w.serve("/fr/rss.xml", "un-fr.rss");
    w.config(
        r#"first_run = "alert""#,
        &format!("[sources.un-news]\nurl = \"{url}\"\n\n[rules.retrait]\nkeywords = [\"retrait\"]\nnotify = [\"hook\"]\n\n[rules.onu]\nkeywords = [\"ONU\"]\nnotify = [\"hook\"]"),
    );
    assert_ok(&w.once().await);
    let posts = w.hook.delivered();
    let pairs: Vec<(String, String)> = posts
        .iter()
        .map(|p| {
            (
                p.body["rule"].as_str().unwrap().to_string(),
                p.body["article"]["title"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    // "retraite(s)" in the pension story is another word; "ONU" is found in
    // "l’ONU" (curly apostrophe) in the Minusma title.
    assert!(
        pairs.contains(&("retrait".into(), MINUSMA_TITLE.into())),
        "{pairs:?}"
    );
    assert!(
        pairs.contains(&("onu".into(), MINUSMA_TITLE.into())),
        "{pairs:?}"
    );
    assert!(
        !pairs
            .iter()
            .any(|(r, t)| r == "retrait" && t.starts_with("Réforme")),
        "{pairs:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_query_rule_alerts_with_the_terms_that_made_it_hold() {
    let w = World::new().await;
    let url = w.serve("/fr/rss.xml", "un-fr.rss");
    w.config(
        r#"first_run = "alert""#,
        &format!(
            r#"[sources.un-news]
url = "{url}"
tags = ["mali"]

[rules.retrait-onu]
query = 'title:"retrait de la minusma" OR ("retrait onu"~10 tag:mali) -football -(niger OR burkina)'
notify = ["hook"]

[rules.pensions]
query = "retraite* AND NOT minusma"
notify = ["hook"]
"#
        ),
    );
    assert_ok(&w.once().await);
    let posts = w.hook.delivered();
    let by_rule = |rule: &str| -> Vec<&Received> {
        posts.iter().filter(|p| p.body["rule"] == rule).collect()
    };
    let minusma = by_rule("retrait-onu");
    assert_eq!(
        titles(&minusma.iter().map(|p| (*p).clone()).collect::<Vec<_>>()),
        [MINUSMA_TITLE]
    );
    let matches: Vec<(String, String)> = minusma[0].body["matches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["term"].as_str().unwrap().to_string(),
                m["field"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    // Both branches hold; the excluded terms are not reported.
    assert_eq!(
        matches,
        [
            ("retrait de la minusma".to_string(), "title".to_string()),
            ("retrait onu".to_string(), "title".to_string()),
            ("mali".to_string(), "tag".to_string()),
        ]
    );
    let pensions = by_rule("pensions");
    assert_eq!(pensions.len(), 1, "{:?}", titles(&posts));
    assert!(
        pensions[0].body["article"]["title"]
            .as_str()
            .unwrap()
            .starts_with("Réforme des retraites")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn latin1_and_lying_windows_1252_feeds_keep_their_accents() {
    let w = World::new().await;
    // Served with a header that agrees with nothing: the bytes decide.
    w.feeds
        .set("/latin1.xml", "text/xml", fixture("latin1.rss"));
    w.feeds.set(
        "/cp1252.xml",
        "application/rss+xml; charset=utf-8",
        fixture("cp1252-lying.rss"),
    );
    w.config(
        r#"first_run = "alert""#,
        &format!(
            "[sources.latin1]\nurl = \"{}\"\n\n[sources.cp1252]\nurl = \"{}\"\n\n[rules.casques]\nkeywords = [\"Casques bleus\"]\nnotify = [\"hook\", \"desk\"]",
            w.feeds.url("/latin1.xml"),
            w.feeds.url("/cp1252.xml")
        ),
    );
    assert_ok(&w.once().await);
    let mut got = titles(&w.hook.delivered());
    got.sort();
    assert_eq!(
        got,
        [
            "L’ONU confirme : le retrait des Casques bleus a été achevé…",
            "Mali : le retrait des Casques bleus a été accéléré"
        ]
    );
    for post in w.hook.delivered() {
        let summary = post.body["article"]["summary"].as_str().unwrap();
        assert!(
            !summary.contains('\u{FFFD}') && !summary.contains("Ã"),
            "mojibake: {summary}"
        );
    }
    assert!(w.smtp.wait_for(2, Duration::from_secs(5)).await);
    let mut subjects: Vec<String> = w
        .smtp
        .messages()
        .iter()
        .filter_map(|m| m.parsed().subject)
        .collect();
    subjects.sort();
    assert_eq!(
        subjects[0],
        "[vigie] casques: L’ONU confirme : le retrait des Casques bleus a été achevé…"
    );
    assert_eq!(
        subjects[1],
        "[vigie] casques: Mali : le retrait des Casques bleus a été accéléré"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn script_and_crlf_in_a_title_are_escaped_in_html_and_never_a_header() {
    let w = World::new().await;
    let url = w.serve("/veille.xml", "script-title.rss");
    w.config(
        r#"first_run = "alert""#,
        &format!("[sources.veille]\nurl = \"{url}\"\n\n[rules.minusma]\nkeywords = [\"Minusma\"]\nnotify = [\"desk\", \"hook\"]"),
    );
    assert_ok(&w.once().await);
    assert!(w.smtp.wait_for(3, Duration::from_secs(5)).await);
    let mails = w.smtp.messages();
    assert_eq!(mails.len(), 3);
    for mail in &mails {
        assert_eq!(
            mail.to,
            vec!["desk@example.org".to_string()],
            "a title cannot add a recipient"
        );
        let parsed = mail.parsed();
        for (name, value) in &parsed.headers {
            assert!(
                !name.eq_ignore_ascii_case("bcc"),
                "a Bcc header appeared: {value}"
            );
            assert!(!name.eq_ignore_ascii_case("x-injected"));
        }
        let subject = parsed.subject.clone().unwrap_or_default();
        assert!(!subject.contains(['\r', '\n']), "{subject:?}");
        let html = parsed.html.clone().expect("html part");
        assert!(!html.to_lowercase().contains("<script"), "{html}");
        assert!(!html.contains("onerror"), "{html}");
        assert!(!html.contains("javascript:"), "{html}");
        assert!(parsed.text.is_some());
    }
    let literal = mails
        .iter()
        .map(|m| m.parsed())
        .find(|p| p.subject.as_deref().is_some_and(|s| s.contains("alert(3)")))
        .expect("the double-escaped title");
    // Text that reads "<script>" is shown as text: escaped, not dropped.
    let html = literal.html.unwrap().replace("&#x2f;", "/");
    assert!(
        html.contains("&lt;script&gt;alert(3)&lt;/script&gt;"),
        "{html}"
    );
    assert!(literal.text.unwrap().contains("<script>alert(3)</script>"));
    // Markup in a title is reduced to its text; the CR/LF becomes a space.
    let marked_up = mails
        .iter()
        .filter_map(|m| m.parsed().subject)
        .find(|s| s.contains("Bcc"))
        .expect("the CR/LF title");
    assert_eq!(
        marked_up,
        "[vigie] minusma: Minusma: retrait Bcc: victim@example.com"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_webhook_answering_500_then_200_gets_the_alert_exactly_once() {
    let w = un_news_alerting(r#""hook""#).await;
    w.hook.script(&[500]);
    let first = w.once().await;
    assert_eq!(
        first.status.code(),
        Some(2),
        "undelivered alerts make once fail\n{}",
        explain(&first)
    );
    assert!(
        stdout(&first).contains("0 sent, 1 to retry"),
        "{}",
        stdout(&first)
    );
    assert_eq!(w.hook.received().len(), 1);
    assert!(w.hook.delivered().is_empty());

    let second = w.once().await;
    assert_ok(&second);
    let third = w.once().await;
    assert_ok(&third);
    let received = w.hook.received();
    assert_eq!(
        received.len(),
        2,
        "one failed attempt, one success, then nothing"
    );
    assert_eq!(w.hook.delivered().len(), 1);
    assert_eq!(
        received[0].header("idempotency-key"),
        received[1].header("idempotency-key"),
        "a retry reuses the delivery id"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_smtp_server_refusing_data_gets_the_mail_on_the_next_run() {
    let w = un_news_alerting(r#""desk""#).await;
    w.smtp.fail_next_data("451 4.3.0 try again later");
    let first = w.once().await;
    assert_eq!(first.status.code(), Some(2), "{}", explain(&first));
    assert!(w.smtp.messages().is_empty());
    assert_ok(&w.once().await);
    assert_ok(&w.once().await);
    assert_eq!(w.smtp.messages().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_webhook_answering_400_is_dead_not_retried() {
    let w = un_news_alerting(r#""hook""#).await;
    w.hook.script(&[400]);
    let first = w.once().await;
    assert_eq!(first.status.code(), Some(2));
    assert!(
        stdout(&first).contains("0 sent, 0 to retry, 1 dead"),
        "{}",
        stdout(&first)
    );
    assert_ok(&w.once().await);
    assert_eq!(
        w.hook.received().len(),
        1,
        "a dead delivery is not retried by itself"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn dry_run_prints_alerts_as_json_and_records_nothing() {
    let w = un_news_alerting(r#""hook", "desk""#).await;
    let out = w.vigie(&["once", "--dry-run", "--format", "json"]).await;
    assert_ok(&out);
    let doc: Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    assert_eq!(doc["sources"][0]["source"], "un-news");
    assert_eq!(doc["sources"][0]["found"], 3);
    let alerts = doc["alerts"].as_array().unwrap();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0]["article"]["title"], MINUSMA_TITLE);
    assert!(alerts[0]["article"]["body"].is_null() || alerts[0]["article"]["body"].is_string());
    assert!(w.hook.received().is_empty() && w.smtp.messages().is_empty());
    assert!(
        !w.dir.path().join("vigie.db").exists(),
        "a dry run on a fresh machine creates no state"
    );

    // Nothing was recorded: a real run still alerts.
    assert_ok(&w.once().await);
    assert_eq!(w.hook.delivered().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn atom_json_feed_broken_xml_and_guidless_feeds_are_read() {
    let w = World::new().await;
    w.feeds
        .set("/atom.xml", "application/atom+xml", fixture("atom-en.xml"));
    w.feeds.set(
        "/feed.json",
        "application/feed+json",
        fixture("jsonfeed.json"),
    );
    w.feeds.set(
        "/broken.xml",
        "application/rss+xml",
        fixture("nbsp-amp.rss"),
    );
    w.feeds
        .set("/noguid.xml", "application/rss+xml", fixture("no-guid.rss"));
    let sources: String = [
        ("atom", "/atom.xml"),
        ("json", "/feed.json"),
        ("broken", "/broken.xml"),
        ("noguid", "/noguid.xml"),
    ]
    .iter()
    .map(|(name, path)| format!("[sources.{name}]\nurl = \"{}\"\n\n", w.feeds.url(path)))
    .collect();
    w.config(
        r#"first_run = "alert""#,
        &format!("{sources}[rules.all]\nkeywords = [\"Mali\", \"Minusma\", \"peacekeepers\", \"Casques bleus\"]\nnotify = [\"hook\"]"),
    );
    let out = w.vigie(&["once", "--format", "json"]).await;
    assert_ok(&out);
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    for s in doc["sources"].as_array().unwrap() {
        assert_eq!(s["status"], "ok", "{s}");
    }
    let posts = w.hook.delivered();
    let by_source = |name: &str| {
        posts
            .iter()
            .filter(|p| p.body["source"] == name)
            .collect::<Vec<_>>()
    };
    let atom = by_source("atom");
    assert!(!atom.is_empty());
    let atom_url = atom[0].body["article"]["url"].as_str().unwrap();
    assert!(
        atom_url.starts_with("https://news.example.org/en/"),
        "relative link resolved: {atom_url}"
    );
    assert!(
        atom[0].body["article"]["key"]
            .as_str()
            .unwrap()
            .starts_with("id:tag:")
    );
    assert!(!by_source("json").is_empty());
    let broken = by_source("broken");
    assert!(
        !broken.is_empty(),
        "a feed with &nbsp; and a bare & is repaired and read"
    );
    assert!(
        titles(&posts).iter().any(|t| t.contains("Mali & ONU")),
        "{:?}",
        titles(&posts)
    );
    for p in by_source("noguid") {
        let key = p.body["article"]["key"].as_str().unwrap();
        assert!(
            key.starts_with("url:") && !key.contains("utm_") && !key.contains('#'),
            "{key}"
        );
    }

    // The guid-less feed again with other tracking parameters: same keys,
    // no new alert.
    let retagged = String::from_utf8(fixture("no-guid.rss"))
        .unwrap()
        .replace("utm_medium=feed", "utm_medium=email");
    w.feeds.set("/noguid.xml", "application/rss+xml", retagged);
    let before = w.hook.received().len();
    assert_ok(&w.once().await);
    assert_eq!(w.hook.received().len(), before);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_broken_source_does_not_stop_the_others() {
    let w = World::new().await;
    let good = w.serve("/fr/rss.xml", "un-fr.rss");
    w.feeds.set(
        "/page.html",
        "text/html",
        "<!DOCTYPE html><html><body><p>Accueil</p></body></html>",
    );
    w.config(
        r#"first_run = "alert""#,
        &format!(
            "[sources.html-page]\nurl = \"{}\"\n\n[sources.gone]\nurl = \"{}\"\n\n[sources.un-news]\nurl = \"{good}\"\n\n{}",
            w.feeds.url("/page.html"),
            w.feeds.url("/missing.xml"),
            minusma_rule(r#""hook""#)
        ),
    );
    let out = w.once().await;
    assert_eq!(out.status.code(), Some(2), "{}", explain(&out));
    let table = stdout(&out);
    assert!(table.contains("error (layout)"), "{table}");
    assert!(table.contains("HTTP status 404"), "{table}");
    assert_eq!(
        w.hook.delivered().len(),
        1,
        "the healthy source still alerted"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn run_polls_at_the_interval_and_stops_cleanly_on_sigterm() {
    let w = World::new().await;
    // The fixture's <ttl>15</ttl> would (rightly) stretch the 1 s interval.
    let without_ttl = |name: &str| {
        String::from_utf8(fixture(name))
            .unwrap()
            .replace("<ttl>15</ttl>", "")
    };
    w.feeds.set("/fr/rss.xml", RSS, without_ttl("un-fr.rss"));
    let url = w.feeds.url("/fr/rss.xml");
    w.config(
        "interval = \"1s\"",
        &format!(
            "[sources.un-news]\nurl = \"{url}\"\n\n{}",
            minusma_rule(r#""hook""#)
        ),
    );
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_vigie"))
        .arg("run")
        .arg("--config")
        .arg(w.dir.path().join("vigie.toml"))
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("start vigie run");

    // Baseline first, then the new article is found by a later poll.
    for _ in 0..100 {
        if w.feeds.hits("/fr/rss.xml") >= 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(w.feeds.hits("/fr/rss.xml") >= 1, "the first poll happened");
    tokio::time::sleep(Duration::from_millis(300)).await;
    w.feeds
        .set("/fr/rss.xml", RSS, without_ttl("un-fr-plus-one.rss"));
    assert!(
        w.hook.wait_for(1, Duration::from_secs(15)).await,
        "the new article was delivered"
    );
    assert!(w.feeds.hits("/fr/rss.xml") >= 2);

    let pid = child.id().expect("pid").to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("vigie stops within 30 s")
        .expect("wait");
    assert!(status.success(), "exit status {status:?}");
    assert_eq!(w.hook.delivered().len(), 1);
    assert_eq!(
        w.hook.delivered()[0].body["article"]["title"],
        "Mali : un premier convoi de Casques bleus quitte une base du nord du pays"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn once_source_polls_only_that_source() {
    let w = World::new().await;
    let un = w.serve("/fr/rss.xml", "un-fr.rss");
    let latin1 = w.serve("/latin1.xml", "latin1.rss");
    w.config(
        r#"first_run = "alert""#,
        &format!(
            "[sources.un-news]\nurl = \"{un}\"\n\n[sources.latin1]\nurl = \"{latin1}\"\n\n{}",
            minusma_rule(r#""hook""#)
        ),
    );
    assert_ok(&w.vigie(&["once", "--source", "latin1"]).await);
    assert_eq!(w.feeds.hits("/fr/rss.xml"), 0);
    assert_eq!(
        titles(&w.hook.delivered()),
        sorted(["Mali : le retrait des Casques bleus a été accéléré"])
    );

    let unknown = w.vigie(&["once", "--source", "un-new"]).await;
    assert_eq!(unknown.status.code(), Some(1), "{}", explain(&unknown));
    assert!(
        String::from_utf8_lossy(&unknown.stderr)
            .contains("unknown source \"un-new\" (did you mean \"un-news\"?)")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_absurd_retry_after_neither_crashes_nor_parks_the_alert() {
    let w = un_news_alerting(r#""hook""#).await;
    w.hook
        .script_response(429, &[("retry-after", "99999999999999")]);
    let first = w.once().await;
    assert_eq!(first.status.code(), Some(2), "{}", explain(&first));
    assert!(
        stdout(&first).contains("0 sent, 1 to retry"),
        "{}",
        stdout(&first)
    );
    // The retry is due within a day, not in thousands of years.
    let store = vigie::store::SqliteStore::open(&w.dir.path().join("vigie.db"))
        .await
        .unwrap();
    use vigie::store::Store as _;
    let next = store
        .next_delivery_due("hook")
        .await
        .unwrap()
        .expect("still pending");
    assert!(
        next <= chrono::Utc::now() + chrono::Duration::hours(24),
        "retry parked until {next}"
    );
    assert_ok(&w.once().await);
    assert_eq!(w.hook.delivered().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_slow_webhook_does_not_hold_back_the_email() {
    let w = World::new().await;
    let url = w.serve("/fr/rss.xml", "un-fr.rss");
    w.config(
        "interval = \"1h\"",
        &format!(
            "[sources.un-news]\nurl = \"{url}\"\n\n{}",
            minusma_rule(r#""hook", "desk""#)
        ),
    );
    // Baseline first, so that the daemon's own poll finds one new article.
    assert_ok(&w.once().await);
    w.serve("/fr/rss.xml", "un-fr-plus-one.rss");
    w.hook.set_delay(Duration::from_secs(6));
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_vigie"))
        .args(["run", "--config"])
        .arg(w.dir.path().join("vigie.toml"))
        .env("RUST_LOG", "warn")
        .spawn()
        .expect("start vigie run");
    assert!(
        w.smtp.wait_for(1, Duration::from_secs(20)).await,
        "the email went out"
    );
    assert!(
        w.hook.delivered().is_empty(),
        "the email did not wait for the webhook, still in flight"
    );
    assert!(
        w.hook.wait_for(1, Duration::from_secs(20)).await,
        "the webhook got it too"
    );
    let pid = child.id().expect("pid").to_string();
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("stops")
        .expect("wait");
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn changed_guids_do_not_realert_but_a_reused_url_with_a_new_story_does() {
    let w = un_news_alerting(r#""hook""#).await;
    assert_ok(&w.once().await);
    assert_eq!(w.hook.delivered().len(), 1);

    // The CMS regenerated every GUID: same URLs, same headlines.
    let regenerated = String::from_utf8(fixture("un-fr.rss"))
        .unwrap()
        .replace("news.example.org/fr/11", "cms2.example.org/item/11");
    w.feeds.set("/fr/rss.xml", RSS, regenerated.clone());
    assert_ok(&w.once().await);
    assert_eq!(
        w.hook.delivered().len(),
        1,
        "no second alert for a changed GUID"
    );

    // A "flash" item replaces the story under its URL: a new GUID and a new
    // headline at a URL already known (and unique in the document).
    let first_item = regenerated.find("<item>").expect("an item");
    let end =
        regenerated[first_item..].find("</item>").expect("its end") + first_item + "</item>".len();
    let flash = format!(
        "{}<item><title>Flash : nouveau retrait de Casques bleus à Kidal</title>\
         <link>https://news.example.org/fr/story/2023/08/1141902</link>\
         <guid isPermaLink=\"false\">flash-2023-08-20</guid>\
         <pubDate>Sun, 20 Aug 2023 08:00:00 GMT</pubDate></item>{}",
        &regenerated[..first_item],
        &regenerated[end..]
    );
    assert!(!flash.contains(MINUSMA_TITLE));
    w.feeds.set("/fr/rss.xml", RSS, flash);
    assert_ok(&w.once().await);
    assert_eq!(
        titles(&w.hook.delivered()),
        sorted([
            MINUSMA_TITLE,
            "Flash : nouveau retrait de Casques bleus à Kidal"
        ]),
        "a reused URL alone does not hide a new story"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_alert_recorded_before_a_kill_9_is_delivered_once_after_restart() {
    use vigie::store::Store as _;
    let w = World::new().await;
    let url = w.serve("/fr/rss.xml", "un-fr.rss");
    // The receiver is down: its port refuses connections.
    let port = w.hook.port();
    let World {
        dir,
        feeds,
        hook,
        smtp,
    } = w;
    hook.stop().await;
    let w = World {
        dir,
        feeds,
        hook: WebhookReceiver::start().await,
        smtp,
    };
    let path = w.config(
        "first_run = \"alert\"\ninterval = \"1h\"",
        &format!(
            "[sources.un-news]\nurl = \"{url}\"\n\n{}",
            minusma_rule(r#""hook""#)
        ),
    );
    // The notifier points at the dead address, not at the placeholder.
    let config = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        config.replace(&w.hook.url(), &format!("http://127.0.0.1:{port}/hook")),
    )
    .unwrap();

    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_vigie"))
        .args(["run", "--config"])
        .arg(w.dir.path().join("vigie.toml"))
        .env("RUST_LOG", "error")
        .spawn()
        .expect("start vigie run");
    // Wait until the alert is recorded and its first attempt has failed.
    let state = w.dir.path().join("vigie.db");
    let mut attempted = false;
    for _ in 0..200 {
        if state.exists() {
            let store = vigie::store::SqliteStore::open(&state).await.unwrap();
            let pending = store.due_deliveries("hook", None, 10).await.unwrap();
            if pending.iter().any(|d| d.attempts >= 1) {
                attempted = true;
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(attempted, "the alert was recorded and tried once");
    let pid = child.id().expect("pid").to_string();
    std::process::Command::new("kill")
        .args(["-KILL", &pid])
        .status()
        .expect("kill -9");

    // The receiver comes back on its address; the next run delivers.
    let back = WebhookReceiver::start_on(port).await;
    assert_ok(&w.once().await);
    assert_ok(&w.once().await);
    assert_eq!(
        titles(&back.delivered()),
        sorted([MINUSMA_TITLE]),
        "delivered exactly once"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn secrets_come_from_files_credentials_and_the_environment() {
    let w = World::new().await;
    let url = w.serve("/fr/rss.xml", "un-fr.rss");
    let secrets = w.dir.path().join("secrets");
    std::fs::create_dir_all(secrets.join("credentials")).unwrap();
    std::fs::write(secrets.join("hook-url"), format!("{}\n", w.hook.url())).unwrap();
    std::fs::write(
        secrets.join("credentials/hook-token"),
        "Bearer from-credential\n",
    )
    .unwrap();
    let config = format!(
        r#"[daemon]
state = "{state}"
first_run = "alert"

[sources.un-news]
url = "{url}"

{rule}

[notifiers.hook]
type = "webhook"
url = {{ file = "{file}" }}
headers = {{ Authorization = {{ credential = "hook-token" }}, X-Desk = {{ env = "VIGIE_TEST_DESK" }} }}
"#,
        state = w.dir.path().join("vigie.db").display(),
        rule = minusma_rule(r#""hook""#),
        file = secrets.join("hook-url").display(),
    );
    std::fs::write(w.dir.path().join("vigie.toml"), config).unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_vigie"))
        .args(["once", "--config"])
        .arg(w.dir.path().join("vigie.toml"))
        .env("CREDENTIALS_DIRECTORY", secrets.join("credentials"))
        .env("VIGIE_TEST_DESK", "sahel")
        .output()
        .await
        .unwrap();
    assert_ok(&out);
    let posts = w.hook.delivered();
    assert_eq!(posts.len(), 1);
    assert_eq!(
        posts[0].header("authorization"),
        Some("Bearer from-credential")
    );
    assert_eq!(posts[0].header("x-desk"), Some("sahel"));
    let printed = format!("{}{}", stdout(&out), String::from_utf8_lossy(&out.stderr));
    assert!(
        !printed.contains("from-credential") && !printed.contains(&w.hook.url()),
        "{printed}"
    );
}
