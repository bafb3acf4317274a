//! Delivery through the real binary: SMTP failures of every kind, webhook
//! answers, every chat channel's payload parsed back, signatures, dead
//! deliveries and `vigie retry`, `vigie alerts` and `vigie notify-test`.

mod common;

use std::path::PathBuf;
use std::process::Output;
use std::time::Duration;

use common::{Fault, FeedServer, SmtpServer, WebhookReceiver};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;
use sha2::Sha256;

const RSS: &str = "application/rss+xml; charset=utf-8";

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

    /// A config alerting on the UN feed from the first poll, the minusma
    /// rule sending to `notify`; `hook` and `desk` point at this world's
    /// receivers, `extra` adds notifiers.
    fn config(&self, fixture: &str, notify: &str, extra: &str) -> PathBuf {
        self.feeds.set("/feed.xml", RSS, common::fixture(fixture));
        let path = self.dir.path().join("vigie.toml");
        let text = format!(
            r#"[daemon]
state = "{state}"
timeout = "2s"
first_run = "alert"

[sources.veille]
url = "{feed}"

[rules.minusma]
keywords = ["Minusma"]
notify = [{notify}]

[notifiers.hook]
type = "webhook"
url = "{hook}"

[notifiers.desk]
type = "email"
to = ["Desk <desk@example.org>"]
from = "vigie <vigie@example.org>"
  [notifiers.desk.smtp]
  host = "127.0.0.1"
  port = {smtp}
  security = "none"

{extra}
"#,
            state = self.dir.path().join("vigie.db").display(),
            feed = self.feeds.url("/feed.xml"),
            hook = self.hook.url(),
            smtp = self.smtp.port(),
        );
        std::fs::write(&path, text).expect("write config");
        path
    }

    fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut c = tokio::process::Command::new(env!("CARGO_BIN_EXE_vigie"));
        c.args(args)
            .arg("--config")
            .arg(self.dir.path().join("vigie.toml"))
            .env("RUST_LOG", "warn");
        c
    }

    async fn vigie(&self, args: &[&str]) -> Output {
        self.command(args).output().await.expect("run vigie")
    }

    async fn alerts(&self) -> Value {
        let out = self.vigie(&["alerts", "--format", "json"]).await;
        assert!(out.status.success(), "{}", explain(&out));
        serde_json::from_slice(&out.stdout).expect("alerts json")
    }

    /// Every delivery of every alert, as `vigie alerts` lists them.
    async fn deliveries(&self, notifier: &str) -> Vec<Value> {
        let alerts = self.alerts().await;
        alerts["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|a| a["deliveries"].as_array().unwrap().clone())
            .filter(|d| d["notifier"] == notifier)
            .collect()
    }
}

fn explain(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn message_id(data: &[u8]) -> String {
    let text = String::from_utf8_lossy(data);
    text.lines()
        .find_map(|l| {
            l.strip_prefix("Message-ID: ")
                .or(l.strip_prefix("Message-Id: "))
        })
        .expect("a Message-ID header")
        .trim()
        .to_string()
}

/// A recoverable SMTP failure: nothing arrives, the webhook beside it is
/// not delayed, and the next run delivers exactly one mail whose
/// Message-ID is the delivery's id, the same as in the failed attempt.
async fn recoverable(fault: Fault) {
    let w = World::new().await;
    w.config("un-fr.rss", r#""desk", "hook""#, "");
    w.smtp.fault(fault.clone());
    let run = tokio::spawn({
        let mut c = w.command(&["once"]);
        async move { c.output().await.expect("run vigie") }
    });
    // The webhook is served while SMTP fails (a stall lasts the 4 s deadline).
    assert!(
        w.hook.wait_for(1, Duration::from_secs(3)).await,
        "{fault:?}: the webhook waited for the failing SMTP server"
    );
    let first = run.await.unwrap();
    assert_eq!(
        first.status.code(),
        Some(2),
        "{fault:?}\n{}",
        explain(&first)
    );
    assert!(w.smtp.messages().is_empty(), "{fault:?}");
    let desk = w.deliveries("desk").await;
    assert_eq!(desk.len(), 1);
    assert_eq!(desk[0]["state"], "pending", "{fault:?}: {desk:?}");
    assert!(desk[0]["last_error"].as_str().unwrap().contains("SMTP"));

    let second = w.vigie(&["once"]).await;
    assert!(second.status.success(), "{fault:?}\n{}", explain(&second));
    let third = w.vigie(&["once"]).await;
    assert!(third.status.success());
    let mails = w.smtp.messages();
    assert_eq!(mails.len(), 1, "{fault:?}: exactly once");
    let id = desk[0]["id"].as_str().unwrap();
    assert_eq!(message_id(&mails[0].data), format!("<{id}@example.org>"));
    for attempt in w.smtp.attempts() {
        assert_eq!(message_id(&attempt), format!("<{id}@example.org>"));
    }
    assert_eq!(w.deliveries("desk").await[0]["state"], "sent");
    assert_eq!(w.hook.received().len(), 1, "the webhook got it once");
}

#[tokio::test(flavor = "multi_thread")]
async fn smtp_421_on_connect_is_retried() {
    recoverable(Fault::Greeting("421 4.3.2 service not available".into())).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn smtp_451_after_rcpt_is_retried() {
    recoverable(Fault::Rcpt("451 4.3.0 try again later".into())).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn smtp_452_after_rcpt_is_retried() {
    recoverable(Fault::Rcpt("452 4.2.2 mailbox full".into())).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn smtp_dropped_after_the_final_dot_is_retried() {
    recoverable(Fault::DropAfterData).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn smtp_stalled_after_the_final_dot_is_retried() {
    recoverable(Fault::StallAfterData).await;
}

/// A permanent refusal: dead with the server's reason, visible in `alerts`
/// and `status`, never retried by itself; `vigie retry` sends it again.
async fn permanent(reply: &str) {
    let w = World::new().await;
    w.config("un-fr.rss", r#""desk", "hook""#, "");
    w.smtp.fail_next_data(reply);
    let first = w.vigie(&["once"]).await;
    assert_eq!(first.status.code(), Some(2), "{}", explain(&first));
    let desk = w.deliveries("desk").await;
    assert_eq!(desk[0]["state"], "dead", "{reply}: {desk:?}");
    let code = &reply[..3];
    assert!(
        desk[0]["last_error"].as_str().unwrap().contains(code),
        "{desk:?}"
    );
    let status = w.vigie(&["status", "--format", "json"]).await;
    let status: Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status["outbox"]["dead"], 1);
    assert_eq!(w.hook.delivered().len(), 1, "the webhook is not affected");

    assert!(w.vigie(&["once"]).await.status.success());
    assert_eq!(w.smtp.attempts().len(), 1, "a dead delivery is not retried");

    let id = desk[0]["id"].as_str().unwrap();
    let retry = w.vigie(&["retry", id]).await;
    assert!(retry.status.success(), "{}", explain(&retry));
    assert!(w.vigie(&["once"]).await.status.success());
    assert_eq!(w.smtp.messages().len(), 1);
    assert_eq!(
        message_id(&w.smtp.messages()[0].data),
        format!("<{id}@example.org>")
    );
    assert_eq!(w.deliveries("desk").await[0]["state"], "sent");
    // Nothing dead is left to retry.
    assert_eq!(w.vigie(&["retry", id]).await.status.code(), Some(1));
}

#[tokio::test(flavor = "multi_thread")]
async fn smtp_550_after_data_is_dead_until_retried() {
    permanent("550 5.7.1 message refused").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn smtp_554_after_data_is_dead_until_retried() {
    permanent("554 5.7.1 transaction failed").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn webhook_retries_honour_retry_after_and_keep_the_idempotency_key() {
    let w = World::new().await;
    w.config("un-fr.rss", r#""hook""#, "");
    w.hook.script_response(429, &[("Retry-After", "120")]);
    let first = w.vigie(&["once"]).await;
    assert_eq!(first.status.code(), Some(2));
    let hook = w.deliveries("hook").await;
    assert_eq!(hook[0]["state"], "pending");
    let next =
        chrono::DateTime::parse_from_rfc3339(hook[0]["next_attempt"].as_str().unwrap()).unwrap();
    let wait = next.signed_duration_since(chrono::Utc::now()).num_seconds();
    assert!((100..=125).contains(&wait), "Retry-After 120 gave {wait} s");

    // A timeout, then a 500, then success: one key throughout.
    w.hook.set_delay(Duration::from_secs(3));
    assert_eq!(w.vigie(&["once"]).await.status.code(), Some(2));
    w.hook.set_delay(Duration::ZERO);
    w.hook.script(&[500]);
    assert_eq!(w.vigie(&["once"]).await.status.code(), Some(2));
    assert!(w.vigie(&["once"]).await.status.success());
    assert!(w.vigie(&["once"]).await.status.success());
    // The timed-out request is cut before the receiver records it.
    let received = w.hook.received();
    assert_eq!(received.len(), 3, "429, 500, 200, then nothing");
    assert_eq!(w.deliveries("hook").await[0]["attempts"], 4);
    let keys: Vec<_> = received
        .iter()
        .map(|r| r.header("idempotency-key"))
        .collect();
    assert!(
        keys.iter().all(|k| *k == keys[0] && k.is_some()),
        "{keys:?}"
    );
    assert_eq!(w.hook.delivered().len(), 1);
    assert_eq!(received[2].body["id"], keys[0].unwrap());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dead_delivery_is_signalled_once_to_errors_to() {
    let w = World::new().await;
    // errors_to sits in [daemon]: rewrite the config with it.
    let path = w.config("script-title.rss", r#""hook""#, "");
    let text = std::fs::read_to_string(&path).unwrap().replace(
        "first_run = \"alert\"",
        "first_run = \"alert\"\nerrors_to = \"desk\"",
    );
    std::fs::write(&path, text).unwrap();
    w.hook.script(&[404, 404, 404]);
    let first = w.vigie(&["once"]).await;
    assert_eq!(first.status.code(), Some(2), "{}", explain(&first));
    assert!(w.vigie(&["once"]).await.status.success());
    // Three dead deliveries, one signal.
    assert_eq!(w.hook.received().len(), 3);
    let mails = w.smtp.messages();
    assert_eq!(mails.len(), 1, "one signal for the three");
    let parsed = mails[0].parsed();
    assert!(
        parsed
            .subject
            .as_deref()
            .unwrap()
            .contains("Deliveries through hook are failing"),
        "{:?}",
        parsed.subject
    );
    assert!(parsed.text.unwrap().contains("404"));
    let retried = w.vigie(&["retry", "--dead"]).await;
    assert!(String::from_utf8_lossy(&retried.stdout).contains("3 deliveries"));
    assert!(w.vigie(&["once"]).await.status.success());
    assert_eq!(w.hook.delivered().len(), 3);
}

fn hostile_title(received: &[common::Received]) -> &common::Received {
    received
        .iter()
        .find(|r| String::from_utf8_lossy(&r.raw).contains("phish"))
        .expect("the <!channel> article")
}

#[tokio::test(flavor = "multi_thread")]
async fn every_chat_payload_is_inert_and_within_its_limits() {
    let w = World::new().await;
    let hook = |path: &str| w.hook.url_for(path);
    let extra = format!(
        r#"[notifiers.slack]
type = "slack"
url = "{slack}"

[notifiers.discord]
type = "discord"
url = "{discord}"

[notifiers.mattermost]
type = "mattermost"
url = "{mattermost}"

[notifiers.teams]
type = "teams"
url = "{teams}"

[notifiers.ntfy]
type = "ntfy"
url = "{ntfy}"

[notifiers.telegram]
type = "telegram"
url = "{telegram}"
token = "123:secret-token"
chat_id = "-10042"

[notifiers.signed]
type = "webhook"
url = "{signed}"
secret = "clef-partagee"
"#,
        slack = hook("/slack"),
        discord = hook("/discord"),
        mattermost = hook("/mattermost"),
        teams = hook("/teams"),
        ntfy = hook("/topics/vigie-mali"),
        telegram = hook("/tg"),
        signed = hook("/signed"),
    );
    w.config(
        "chat-injection.rss",
        r#""slack", "discord", "mattermost", "teams", "ntfy", "telegram", "signed""#,
        &extra,
    );
    let out = w.vigie(&["once"]).await;
    assert!(out.status.success(), "{}", explain(&out));
    let all = w.hook.received();
    assert_eq!(all.len(), 2 * 7, "two alerts through seven notifiers");
    let on = |prefix: &str| -> Vec<common::Received> {
        all.iter()
            .filter(|r| r.path.starts_with(prefix))
            .cloned()
            .collect()
    };

    // Slack: `<!channel>` and the disguised link arrive escaped.
    let slack = on("/slack");
    let r = hostile_title(&slack);
    let text = r.body["blocks"][0]["text"]["text"].as_str().unwrap();
    assert!(
        !text.contains("<!channel>") && text.contains("&lt;!channel&gt;"),
        "{text}"
    );
    assert!(!text.contains("<https://phish"), "{text}");
    assert!(!r.body["text"].as_str().unwrap().contains("<!channel>"));
    assert!(
        text.starts_with(
            "*<https://fil-sahel.example.com/breves/2023/08/24/minusma-retrait-kidal|"
        )
    );

    // Discord: no mention is parsed, whatever the text.
    for r in on("/discord") {
        assert_eq!(r.body["allowed_mentions"]["parse"], serde_json::json!([]));
        assert!(r.body["content"].as_str().unwrap().chars().count() <= 2000);
    }
    let text = hostile_title(&on("/mattermost")).body["text"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        text.contains(r"\<https://phish.example.com/login\|"),
        "{text}"
    );

    let teams = hostile_title(&on("/teams")).body.clone();
    assert_eq!(
        teams["attachments"][0]["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );

    // ntfy: JSON publishing to the server root, naming the topic.
    let ntfy = on("/");
    let ntfy: Vec<_> = ntfy
        .iter()
        .filter(|r| r.body.get("topic").is_some())
        .collect();
    assert_eq!(ntfy.len(), 2);
    assert_eq!(ntfy[0].body["topic"], "vigie-mali");
    assert!(
        ntfy[0].body["click"]
            .as_str()
            .unwrap()
            .starts_with("https://fil-sahel")
    );

    // Telegram: the Bot API path, HTML with the feed's markup escaped.
    let tg = on("/tg");
    assert_eq!(tg[0].path, "/tg/bot123:secret-token/sendMessage");
    let r = tg
        .iter()
        .find(|r| r.body["text"].as_str().unwrap().contains("phish"))
        .unwrap();
    assert_eq!(r.body["parse_mode"], "HTML");
    assert_eq!(r.body["chat_id"], "-10042");
    let text = r.body["text"].as_str().unwrap();
    assert!(
        !text.contains("<!channel") && text.contains("&lt;!channel&gt;"),
        "{text}"
    );

    // The signed webhook: the receiver can check the HMAC over the raw body.
    for r in on("/signed") {
        let ts = r.header("x-vigie-timestamp").unwrap();
        let sig = r.header("x-vigie-signature").unwrap();
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(b"clef-partagee").unwrap();
        mac.update(ts.as_bytes());
        mac.update(b".");
        mac.update(&r.raw);
        let hex: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(sig, format!("sha256={hex}"));
        // The JSON carries the title as inert text.
        let title = r.body["article"]["title"].as_str().unwrap();
        assert!(!title.is_empty());
    }
    let signed = on("/signed");
    let r = hostile_title(&signed);
    assert_eq!(
        r.body["article"]["title"],
        r#"Minusma <!channel> <https://phish.example.com/login|votre banque> @everyone @here [lire](https://phish.example.com/x) **urgent** "guillemets" \ antislash"#
    );
    // The token never shows in what vigie prints.
    let alerts = w.vigie(&["alerts"]).await;
    assert!(!String::from_utf8_lossy(&alerts.stdout).contains("secret-token"));
}

#[tokio::test(flavor = "multi_thread")]
async fn notify_test_reports_what_the_server_answered() {
    let w = World::new().await;
    w.config("un-fr.rss", r#""hook""#, "");
    let ok = w.vigie(&["notify-test", "hook"]).await;
    assert!(ok.status.success(), "{}", explain(&ok));
    assert!(
        String::from_utf8_lossy(&ok.stdout).contains("HTTP 200 OK"),
        "{}",
        explain(&ok)
    );
    let sample = &w.hook.received()[0];
    assert_eq!(sample.body["rule"], "minusma");
    assert!(
        sample
            .header("idempotency-key")
            .unwrap()
            .starts_with("test-")
    );

    w.hook.script(&[403]);
    let refused = w.vigie(&["notify-test", "hook"]).await;
    assert_eq!(refused.status.code(), Some(2));
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("403") && said.contains("permanent"), "{said}");

    let mail = w.vigie(&["notify-test", "desk"]).await;
    assert!(mail.status.success(), "{}", explain(&mail));
    assert!(String::from_utf8_lossy(&mail.stdout).contains("SMTP 250"));

    let unknown = w.vigie(&["notify-test", "hok"]).await;
    assert_eq!(unknown.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("did you mean \"hook\""));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_body_template_error_is_a_config_error_with_its_position() {
    let w = World::new().await;
    w.config(
        "un-fr.rss",
        r#""hook""#,
        "[notifiers.chat]\ntype = \"slack\"\nurl = \"http://127.0.0.1:9/x\"\nbody = \"{{ article.titre }}\"\n",
    );
    let out = w.vigie(&["check"]).await;
    assert_eq!(out.status.code(), Some(1));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("notifiers.chat.body"), "{said}");
    assert!(said.contains("template error"), "{said}");
}

#[tokio::test(flavor = "multi_thread")]
async fn alerts_lists_each_delivery() {
    let w = World::new().await;
    w.config("script-title.rss", r#""desk""#, "");
    let out = w.vigie(&["once"]).await;
    assert!(out.status.success(), "{}", explain(&out));
    assert_eq!(w.smtp.messages().len(), 3);
    let table = w.vigie(&["alerts"]).await;
    let table = String::from_utf8_lossy(&table.stdout).into_owned();
    assert_eq!(table.matches("-> desk").count(), 3, "{table}");
    assert_eq!(table.matches(" sent ").count(), 3, "{table}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_html_template_file_replaces_the_html_part_escaped() {
    let w = World::new().await;
    std::fs::write(
        w.dir.path().join("mail.html.j2"),
        "<h1>{{ article.title }}</h1>\n<p>{{ matches | length }} terme(s) — {{ source }}</p>\n",
    )
    .unwrap();
    let path = w.config("script-title.rss", r#""desk""#, "");
    let text = std::fs::read_to_string(&path).unwrap().replace(
        "from = \"vigie <vigie@example.org>\"",
        "from = \"vigie <vigie@example.org>\"\ntemplate = \"mail.html.j2\"\nsubject = \"Veille : {{ article.title }}\"",
    );
    std::fs::write(&path, text).unwrap();
    let out = w.vigie(&["once"]).await;
    assert!(out.status.success(), "{}", explain(&out));
    let mails = w.smtp.messages();
    let literal = mails
        .iter()
        .map(|m| m.parsed())
        .find(|p| p.subject.as_deref().is_some_and(|s| s.contains("alert(3)")))
        .expect("the double-escaped title");
    let html = literal.html.unwrap();
    assert!(html.starts_with("<h1>Minusma : &lt;script&gt;"), "{html}");
    assert!(
        literal.text.unwrap().contains("Rule: minusma"),
        "the default text part stays"
    );

    // A mistake in the file is reported with the file and the line.
    std::fs::write(
        w.dir.path().join("mail.html.j2"),
        "<h1>{{ article.title }}</h1>\n<p>{{ article.auteur }}</p>\n",
    )
    .unwrap();
    let check = w.vigie(&["check"]).await;
    assert_eq!(check.status.code(), Some(1));
    let said = String::from_utf8_lossy(&check.stderr);
    assert!(said.contains("notifiers.desk.template"), "{said}");
    assert!(said.contains("mail.html.j2 line 2"), "{said}");
}

#[tokio::test(flavor = "multi_thread")]
async fn sendmail_gets_the_message_and_a_failing_one_is_retried() {
    let w = World::new().await;
    let spool = w.dir.path().join("spool");
    std::fs::create_dir(&spool).unwrap();
    let script = w.dir.path().join("sendmail");
    let fail_flag = w.dir.path().join("fail");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nif [ -e {fail} ]; then cat > /dev/null; echo 'queue full' >&2; exit 75; fi\n\
             n=$(ls {spool} | wc -l)\necho \"$@\" > {spool}/$n.args\ncat > {spool}/$n.eml\n",
            fail = fail_flag.display(),
            spool = spool.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    w.config(
        "un-fr.rss",
        r#""local""#,
        &format!(
            "[notifiers.local]\ntype = \"email\"\nto = [\"desk@example.org\"]\nfrom = \"vigie@example.org\"\ntransport = \"sendmail\"\ncommand = \"{}\"\n",
            script.display()
        ),
    );
    std::fs::write(&fail_flag, "").unwrap();
    let first = w.vigie(&["once"]).await;
    assert_eq!(first.status.code(), Some(2), "{}", explain(&first));
    let local = w.deliveries("local").await;
    assert_eq!(local[0]["state"], "pending");
    assert!(
        local[0]["last_error"]
            .as_str()
            .unwrap()
            .contains("queue full"),
        "{local:?}"
    );
    std::fs::remove_file(&fail_flag).unwrap();
    let second = w.vigie(&["once"]).await;
    assert!(second.status.success(), "{}", explain(&second));
    let args = std::fs::read_to_string(spool.join("0.args")).unwrap();
    assert!(args.contains("desk@example.org"), "{args}");
    let mail = std::fs::read_to_string(spool.join("0.eml")).unwrap();
    let id = local[0]["id"].as_str().unwrap();
    assert!(
        mail.contains(&format!("Message-ID: <{id}@example.org>")),
        "{mail}"
    );
    assert!(mail.contains("Auto-Submitted: auto-generated"));
}
