//! `vigie test-rule` through the real binary (DESIGN.md §2, §4): a rule tried
//! on a feed file, a configured source, a URL serving an HTML page, and a
//! text file; matches carry their terms and snippets, misses say which part
//! of the rule failed; mistakes in the command are user errors.

mod common;

use std::path::Path;
use std::process::Output;

use common::FeedServer;
use serde_json::Value;

const RULE: &str = r#"minusma OR "casques bleus" OR (retrait AND (onu OR "nations unies"))"#;

fn config(dir: &Path, feed_url: &str) -> std::path::PathBuf {
    let text = format!(
        r#"[sources.un-news]
url = "{feed_url}"
tags = ["mali"]

[sources.autre]
url = "{feed_url}"

[rules.minusma]
query = '{RULE}'
notify = ["desk"]

[rules.mali-only]
query = "retrait"
tags = ["mali"]
notify = ["desk"]

[notifiers.desk]
type = "webhook"
url = "http://127.0.0.1:9/alerts"
"#
    );
    let path = dir.join("vigie.toml");
    std::fs::write(&path, text).unwrap();
    path
}

async fn vigie(config: &Path, args: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_vigie"))
        .args(args)
        .arg("--config")
        .arg(config)
        .env("RUST_LOG", "warn")
        .output()
        .await
        .unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn json(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test]
async fn a_feed_file_shows_matches_with_snippets_and_misses_with_the_failed_part() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), "http://127.0.0.1:9/feed.xml");
    let feed = common::fixture_path("un-fr.rss");
    let feed = feed.to_str().unwrap();

    let out = vigie(&config, &["test-rule", "minusma", "--file", feed]).await;
    assert!(out.status.success());
    let table = stdout(&out);
    assert!(table.starts_with("rule minusma on "), "{table}");
    assert!(table.contains("(feed, 3 articles): 1 matched"), "{table}");
    assert!(
        table.contains("minusma in title: Mali : un haut responsable de l’ONU à Bamako après la décision de retrait de la [Minusma]"),
        "{table}"
    );
    assert!(table.contains("✗ minusma  — not found"), "{table}");

    let report = json(
        &vigie(
            &config,
            &["test-rule", "minusma", "--file", feed, "--format", "json"],
        )
        .await,
    );
    assert_eq!(report["matched"], 1);
    assert_eq!(report["read_as"], "feed");
    let results = report["results"].as_array().unwrap();
    assert_eq!(results.len(), 3);
    let hit = &results[0]["explanation"]["hits"][0];
    assert_eq!(hit["term"], "minusma");
    assert_eq!(hit["field"], "title");
    let snippet = hit["snippet"].as_str().unwrap();
    let (start, end) = (
        hit["highlight"]["start"].as_u64().unwrap() as usize,
        hit["highlight"]["end"].as_u64().unwrap() as usize,
    );
    assert_eq!(&snippet[start..end], "Minusma");
    // The article about pension reform: `retraites` is not `retrait`, so
    // every branch fails, and the explanation says so branch by branch.
    let miss = &results[1];
    assert_eq!(miss["matched"], false);
    assert!(miss["article"]["body"].is_string() || miss["article"]["summary"].is_string());
    let root = &miss["explanation"]["root"];
    assert_eq!(root["kind"], "any");
    assert_eq!(root["holds"], false);
    let branches: Vec<&str> = root["children"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        branches,
        [
            "minusma",
            "\"casques bleus\"",
            "(retrait AND (onu OR \"nations unies\"))"
        ]
    );
}

#[tokio::test]
async fn a_source_is_fetched_with_its_scope_and_a_url_page_is_read_as_one_article() {
    let server = FeedServer::start().await;
    server.set(
        "/feed.xml",
        "application/rss+xml",
        common::fixture("un-fr.rss"),
    );
    server.set(
        "/article.html",
        "text/html; charset=utf-8",
        r#"<!doctype html><html lang="fr"><head><title>Mali | Actualités</title></head>
<body><nav>Accueil · Politique · Sport</nav>
<h1>Les Casques bleus quittent Tombouctou</h1>
<p>Le dernier contingent de la mission onusienne a remis le camp aux autorités maliennes.</p>
</body></html>"#,
    );
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), &server.url("/feed.xml"));

    // In scope: the source has the tag.
    let report = json(
        &vigie(
            &config,
            &[
                "test-rule",
                "mali-only",
                "--source",
                "un-news",
                "--format",
                "json",
            ],
        )
        .await,
    );
    assert_eq!(report["source"], "un-news");
    assert_eq!(report["matched"], 1);
    // Out of scope: the same feed under a source without the tag.
    let out = vigie(&config, &["test-rule", "mali-only", "--source", "autre"]).await;
    let table = stdout(&out);
    assert!(table.contains(": 0 matched"), "{table}");
    assert!(table.contains("does not apply to source autre"), "{table}");

    // A URL: scope does not apply, and the page is one article.
    let url = server.url("/article.html");
    let report = json(
        &vigie(
            &config,
            &["test-rule", "minusma", "--url", &url, "--format", "json"],
        )
        .await,
    );
    assert_eq!(report["read_as"], "page");
    assert_eq!(report["matched"], 1);
    let article = &report["results"][0]["article"];
    assert_eq!(article["title"], "Les Casques bleus quittent Tombouctou");
    assert_eq!(article["language"], "fr");
    let out = vigie(&config, &["test-rule", "mali-only", "--url", &url]).await;
    assert!(
        stdout(&out).contains(
            "note: the rule only applies to sources tagged mali; here it is tried anyway"
        )
    );
    server.stop().await;
}

#[tokio::test]
async fn a_text_file_is_one_article_whose_first_line_is_the_title() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), "http://127.0.0.1:9/feed.xml");
    let text = dir.path().join("depeche.txt");
    std::fs::write(
        &text,
        "\nRetrait de la Minusma : l’ONU fixe le calendrier\n\nLes Nations unies ont confirmé mardi \
         le retrait progressif des Casques bleus du Mali d’ici au 31 décembre.\n",
    )
    .unwrap();
    let report = json(
        &vigie(
            &config,
            &[
                "test-rule",
                "minusma",
                "--file",
                text.to_str().unwrap(),
                "--format",
                "json",
            ],
        )
        .await,
    );
    assert_eq!(report["read_as"], "page");
    let result = &report["results"][0];
    assert_eq!(
        result["article"]["title"],
        "Retrait de la Minusma : l’ONU fixe le calendrier"
    );
    let fields: Vec<(&str, &str)> = result["explanation"]["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| (h["term"].as_str().unwrap(), h["field"].as_str().unwrap()))
        .collect();
    assert!(fields.contains(&("minusma", "title")), "{fields:?}");
    assert!(fields.contains(&("casques bleus", "body")), "{fields:?}");
}

#[tokio::test]
async fn mistakes_are_user_errors() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), "http://127.0.0.1:9/feed.xml");
    let feed = common::fixture_path("un-fr.rss");
    let cases: &[(&[&str], &str)] = &[
        (
            &["test-rule", "minusmaa", "--file", feed.to_str().unwrap()],
            "unknown rule \"minusmaa\" (did you mean \"minusma\"?)",
        ),
        (
            &["test-rule", "minusma", "--source", "un-new"],
            "unknown source \"un-new\" (did you mean \"un-news\"?)",
        ),
        (
            &["test-rule", "minusma", "--url", "file:///etc/passwd"],
            "only http and https URLs can be fetched",
        ),
        (
            &["test-rule", "minusma", "--file", "/nonexistent/feed.xml"],
            "cannot read /nonexistent/feed.xml",
        ),
    ];
    for (args, message) in cases {
        let out = vigie(&config, args).await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
    // No input at all: a bad argument, a user error too.
    let out = vigie(&config, &["test-rule", "minusma"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--url"));
}
