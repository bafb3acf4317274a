//! HTML portals without a feed (issue 4), from config text to alerts: a small
//! French news portal served on loopback (`tests/fixtures/portal/`), its
//! listing read for article links, each new article page fetched once and
//! extracted field by field; layout drift as a source error; `kind = "auto"`
//! following the feed a page announces; `vigie preview`.

mod common;

use std::path::Path;

use chrono::{DateTime, Utc};
use common::{FeedServer, WebhookReceiver, fixture};
use vigie::app::OnceReport;
use vigie::model::Article;
use vigie::poll::{PollError, PollReport};
use vigie::store::Store as _;

const HTML: &str = "text/html; charset=utf-8";

const PAGES: &[(&str, &str)] = &[
    (
        "/politique/2023/08/19/un-haut-responsable-de-l-onu-a-bamako.html",
        "portal/visite-onu.html",
    ),
    (
        "/securite/2023/08/20/les-casques-bleus-quittent-tessalit.html",
        "portal/retrait-tessalit.html",
    ),
    (
        "/societe/2023/08/21/a-gao-les-commercants-s-inquietent.html",
        "portal/gao-commercants.html",
    ),
    (
        "/international/2023/08/22/le-conseil-de-securite-fixe-le-calendrier.html",
        "portal/conseil-securite.html",
    ),
];
const NEW_PAGE: &str = "/securite/2023/08/23/le-dernier-convoi-a-quitte-tombouctou.html";

struct Portal {
    server: FeedServer,
    hook: WebhookReceiver,
    dir: tempfile::TempDir,
}

impl Portal {
    async fn start() -> Portal {
        let server = FeedServer::start().await;
        server.set("/", HTML, fixture("portal/index.html"));
        for (path, file) in PAGES {
            // The Latin-1 page is served as many such sites do: no charset
            // in the header, only in its <meta>.
            let kind = if file.contains("tessalit") {
                "text/html"
            } else {
                HTML
            };
            server.set(path, kind, fixture(file));
        }
        server.set(NEW_PAGE, HTML, fixture("portal/dernier-convoi.html"));
        Portal {
            server,
            hook: WebhookReceiver::start().await,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// Config text: `daemon` lines in [daemon], `source` lines in
    /// [sources.sahel] (after its url).
    fn config(&self, daemon: &str, source: &str) -> vigie::config::Config {
        let text = format!(
            r#"[daemon]
state = "{state}"
timeout = "5s"
{daemon}

[sources.sahel]
url = "{url}"
timezone = "Africa/Bamako"
tags = ["mali"]
{source}

[rules.minusma]
query = 'minusma OR "casques bleus"'
notify = ["hook"]

[notifiers.hook]
type = "webhook"
url = "{hook}"
"#,
            state = self.dir.path().join("vigie.db").display(),
            url = self.server.url("/"),
            hook = self.hook.url(),
        );
        vigie::config::parse(&text, Path::new("vigie.toml")).unwrap()
    }

    async fn once(&self, daemon: &str, source: &str) -> OnceReport {
        vigie::app::once(self.config(daemon, source), None, false)
            .await
            .unwrap()
    }

    fn page_hits(&self) -> Vec<usize> {
        PAGES.iter().map(|(p, _)| self.server.hits(p)).collect()
    }

    async fn store(&self) -> vigie::store::SqliteStore {
        vigie::store::SqliteStore::open(&self.dir.path().join("vigie.db"))
            .await
            .unwrap()
    }
}

fn poll(report: &OnceReport) -> &Result<PollReport, PollError> {
    &report.polls[0].1
}

fn ok(report: &OnceReport) -> &PollReport {
    match poll(report) {
        Ok(r) => r,
        Err(e) => panic!("poll failed: {e}"),
    }
}

fn article<'a>(report: &'a OnceReport, path: &str) -> &'a Article {
    report
        .alerts()
        .map(|a| &a.article)
        .find(|a| a.url.as_deref().is_some_and(|u| u.ends_with(path)))
        .unwrap_or_else(|| panic!("no alert for {path}"))
}

/// The poll's error, which must be a layout error; its message.
fn layout_error(report: &OnceReport) -> String {
    let Err(e) = poll(report) else {
        panic!("layout drift went unnoticed")
    };
    assert_eq!(e.kind(), "layout");
    e.to_string()
}

fn utc(text: &str) -> Option<DateTime<Utc>> {
    Some(
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc),
    )
}

#[tokio::test]
async fn a_portal_is_read_page_by_page_with_every_field() {
    let p = Portal::start().await;
    let report = p.once("first_run = \"alert\"", "kind = \"html\"").await;
    let r = ok(&report);
    assert_eq!((r.found, r.new, r.alerts.len()), (4, 4, 4), "{r:?}");
    assert_eq!(r.read_as, "html");
    // The menu's dossier, tags, pagination and footer links are not
    // articles: never fetched.
    assert_eq!(p.page_hits(), [1, 1, 1, 1]);
    assert_eq!(
        p.server
            .hits("/politique/2023/08/dossier-special-minusma-en-dix-questions"),
        0
    );

    // JSON-LD NewsArticle.
    let a = article(&report, PAGES[0].0);
    assert_eq!(
        a.title,
        "Un haut responsable de l’ONU à Bamako après la décision de retrait de la Minusma"
    );
    assert_eq!(a.published, utc("2023-08-19T10:32:00Z"));
    assert_eq!(a.authors, ["Aminata Traoré"]);
    assert_eq!(a.language.as_deref(), Some("fr"));
    assert_eq!(a.tags, ["mali"]);
    assert_eq!(
        a.summary,
        "Le secrétaire général adjoint aux opérations de paix a rencontré les autorités de la transition à Bamako."
    );
    let body = a.body.as_deref().unwrap();
    assert!(
        body.starts_with("Le secrétaire général adjoint des Nations unies"),
        "{body}"
    );
    assert!(body.contains("arrêter les dates de fermeture de chaque base."));
    for boilerplate in [
        "Les plus lus",
        "prix du riz",
        "Tous droits réservés",
        "Politique",
    ] {
        assert!(!body.contains(boilerplate), "{boilerplate:?} in {body}");
    }
    assert_eq!(body.lines().count(), 5, "one line per paragraph: {body}");

    // ISO-8859-1 with only a <meta http-equiv> charset; a naive <time>
    // read in the source's time zone; a byline.
    let a = article(&report, PAGES[1].0);
    assert_eq!(a.title, "Les Casques bleus quittent le camp de Tessalit");
    assert_eq!(a.published, utc("2023-08-20T09:15:00Z"));
    assert_eq!(a.authors, ["Moussa Keïta"]);
    assert_eq!(a.language.as_deref(), Some("fr"));
    let body = a.body.as_deref().unwrap();
    assert!(
        body.contains("Les derniers soldats de la Minusma ont quitté dimanche matin"),
        "{body}"
    );
    assert!(body.contains("après celle d'Ogossagou au centre du pays."));

    // Only a text date line, no metadata at all, no lang attribute.
    let a = article(&report, PAGES[2].0);
    assert_eq!(
        a.title,
        "À Gao, les commerçants s’inquiètent du départ de la mission"
    );
    assert_eq!(a.published, utc("2023-08-21T16:40:00Z"));
    assert_eq!(a.authors, ["Boubacar Sidibé"]);
    assert_eq!(a.language.as_deref(), Some("fr"));
    assert!(
        a.body
            .as_deref()
            .unwrap()
            .contains("le départ annoncé de la Minusma occupe toutes les conversations")
    );

    // An agency credit on the date line ("Publié le samedi 19 aout 2023 | AFP").
    let a = article(&report, PAGES[3].0);
    assert_eq!(
        a.title,
        "Le Conseil de sécurité fixe le calendrier du retrait"
    );
    assert_eq!(a.published, utc("2023-08-19T00:00:00Z"));
    assert_eq!(a.authors, ["AFP"]);
    let body = a.body.as_deref().unwrap();
    assert!(
        body.starts_with("New York (AFP) - Le Conseil de sécurité"),
        "{body}"
    );

    // Each alert reached the webhook, keyed by the page's URL.
    assert_eq!(p.hook.received().len(), 4);
}

#[tokio::test]
async fn each_article_page_is_fetched_once_and_a_new_link_alerts_once() {
    let p = Portal::start().await;
    let first = p.once("first_run = \"alert\"", "").await;
    assert_eq!(ok(&first).alerts.len(), 4);
    assert_eq!(
        ok(&first).read_as,
        "html",
        "kind = \"auto\" reads it as HTML"
    );

    // The same listing: no article page again.
    let second = p.once("first_run = \"alert\"", "").await;
    assert!(ok(&second).alerts.is_empty());
    assert_eq!(p.page_hits(), [1, 1, 1, 1]);

    // One new link on top of the listing: its page only, one alert.
    p.server
        .set("/", HTML, fixture("portal/index-plus-one.html"));
    let third = p.once("first_run = \"alert\"", "").await;
    let r = ok(&third);
    assert_eq!((r.found, r.new), (5, 1), "{r:?}");
    assert_eq!(r.alerts.len(), 1);
    assert_eq!(p.page_hits(), [1, 1, 1, 1]);
    assert_eq!(p.server.hits(NEW_PAGE), 1);
    let a = &r.alerts[0].article;
    assert_eq!(a.title, "Minusma : le dernier convoi a quitté Tombouctou");
    assert_eq!(a.published, utc("2023-08-23T08:00:00Z"));
    assert_eq!(a.authors, ["Fatoumata Coulibaly"]);
    assert_eq!(p.hook.received().len(), 5);

    // And never again.
    let fourth = p.once("first_run = \"alert\"", "").await;
    assert!(ok(&fourth).alerts.is_empty());
    assert_eq!(p.server.hits(NEW_PAGE), 1);
    assert_eq!(p.hook.received().len(), 5);
}

#[tokio::test]
async fn a_baseline_first_poll_fetches_no_article_page() {
    let p = Portal::start().await;
    let report = p.once("", "kind = \"html\"").await;
    let r = ok(&report);
    assert_eq!((r.found, r.new, r.alerts.len()), (4, 4, 0));
    assert_eq!(p.page_hits(), [0, 0, 0, 0]);
    // The links are remembered: a new one later is the only page fetched.
    p.server
        .set("/", HTML, fixture("portal/index-plus-one.html"));
    let report = p.once("", "kind = \"html\"").await;
    assert_eq!(ok(&report).alerts.len(), 1);
    assert_eq!(p.page_hits(), [0, 0, 0, 0]);
    assert_eq!(p.server.hits(NEW_PAGE), 1);
}

#[tokio::test]
async fn configured_selectors_pick_each_field() {
    let p = Portal::start().await;
    let report = p
        .once(
            "first_run = \"alert\"",
            "kind = \"html\"\n  [sources.sahel.html]\n  links = \"div.news h2 a\"\n  title = \"h1\"\n  date = \".infos time, p.meta, p.chapeau, h1\"\n  body = \"div.article-body p, div.texte p, .colonne-principale > p:not(.chapeau), div.corps p\"\n  author = \".signature, .author, .byline, p.meta\"",
        )
        .await;
    let r = ok(&report);
    assert_eq!(r.alerts.len(), 4);
    let a = article(&report, PAGES[1].0);
    assert_eq!(a.published, utc("2023-08-20T09:15:00Z"));
    assert_eq!(a.authors, ["Moussa Keïta"]);
    let a = article(&report, PAGES[0].0);
    assert_eq!(a.authors, ["Aminata Traoré"]);
    assert_eq!(a.body.as_deref().unwrap().lines().count(), 5);
}

#[tokio::test]
async fn a_listing_selector_that_matches_nothing_is_a_source_error() {
    let p = Portal::start().await;
    let source = "kind = \"html\"\n  [sources.sahel.html]\n  links = \"div.actualites a\"";
    let report = p.once("first_run = \"alert\"", source).await;
    let message = layout_error(&report);
    assert!(
        message.contains("\"div.actualites a\"")
            && message.contains(&p.server.url("/"))
            && message.contains("layout may have changed"),
        "{message}"
    );
    // Recorded on the source like a fetch failure, and counted towards
    // "failing".
    let state = p
        .store()
        .await
        .source_state("sahel")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(state.failures, 1);
    assert_eq!(state.last_error_kind.as_deref(), Some("layout"));
    assert_eq!(p.page_hits(), [0, 0, 0, 0]);
}

#[tokio::test]
async fn an_article_selector_that_matches_nothing_is_a_source_error_and_loses_nothing() {
    let p = Portal::start().await;
    let drifted = "kind = \"html\"\n  [sources.sahel.html]\n  body = \"div.contenu-article\"";
    let report = p.once("first_run = \"alert\"", drifted).await;
    let message = layout_error(&report);
    assert!(
        message.contains("body selector \"div.contenu-article\"") && message.contains(PAGES[0].0),
        "{message}"
    );
    assert!(p.hook.received().is_empty());
    // Once the selector is fixed, every article alerts: nothing was
    // recorded as seen meanwhile.
    let fixed = "kind = \"html\"\n  [sources.sahel.html]\n  body = \"div.article-body, div.texte, div.corps, div.colonne-principale\"";
    let report = p.once("first_run = \"alert\"", fixed).await;
    assert_eq!(ok(&report).alerts.len(), 4);
}

#[tokio::test]
async fn links_to_non_public_addresses_are_never_followed() {
    let p = Portal::start().await;
    let port = p.server.port();
    let listing = format!(
        r#"<html><body><div class="news">
        <a href="http://10.20.30.40/politique/2023/08/19/minusma-retrait.html">Minusma : un article sur une adresse privée</a>
        <a href="http://169.254.169.254/latest/meta-data/minusma-retrait-2023">Minusma : les métadonnées du nuage</a>
        <a href="http://intranet.localhost:{port}{page}">Minusma : un nom qui mène en boucle locale</a>
        <a href="{page}">Minusma : la même page, sur le site lui-même</a>
        <a href="{page}?utm_source=une#haut">Minusma : la même page, avec un traceur</a>
        </div></body></html>"#,
        page = PAGES[0].0
    );
    p.server.set("/", HTML, listing.into_bytes());
    let source = "kind = \"html\"\n  [sources.sahel.html]\n  links = \"div.news a\"";
    let report = p.once("first_run = \"alert\"", source).await;
    let r = ok(&report);
    assert_eq!(r.found, 4);
    // Only the site's own page was read, once for its two links; the
    // refused ones are remembered as seen and not tried again.
    assert_eq!(r.alerts.len(), 1);
    assert_eq!(p.server.hits(PAGES[0].0), 1);
    let again = p.once("first_run = \"alert\"", source).await;
    assert!(ok(&again).alerts.is_empty());
}

#[tokio::test]
async fn a_page_announcing_a_feed_is_watched_through_it() {
    let p = Portal::start().await;
    p.server.set("/", HTML, fixture("portal/avec-flux.html"));
    p.server.set(
        "/afrique/flux.xml",
        "application/rss+xml; charset=utf-8",
        fixture("un-fr.rss"),
    );
    let report = p.once("first_run = \"alert\"", "").await;
    let r = ok(&report);
    let feed = p.server.url("/afrique/flux.xml");
    assert_eq!(r.via_feed.as_deref(), Some(feed.as_str()));
    assert_eq!(r.read_as, "feed");
    assert_eq!(r.found, 3);
    assert_eq!(
        p.server.hits("/commentaires.xml"),
        0,
        "comment feeds are never watched"
    );
    let state = p
        .store()
        .await
        .source_state("sahel")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(state.via_feed.as_deref(), Some(feed.as_str()));

    // The next poll goes to the feed directly.
    p.once("first_run = \"alert\"", "").await;
    assert_eq!(p.server.hits("/"), 1);
    assert_eq!(p.server.hits("/afrique/flux.xml"), 2);

    // A feed that disappears sends it back to the page.
    p.server.remove("/afrique/flux.xml");
    p.server.set("/", HTML, fixture("portal/index.html"));
    let report = p.once("first_run = \"alert\"", "").await;
    let r = ok(&report);
    assert_eq!((r.read_as, r.via_feed.as_deref()), ("html", None));
    let state = p
        .store()
        .await
        .source_state("sahel")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(state.via_feed, None);
}

#[tokio::test]
async fn a_feed_of_comments_is_never_watched_in_place_of_the_page() {
    let p = Portal::start().await;
    let listing = String::from_utf8(fixture("portal/index.html")).unwrap().replace(
        "<head>",
        "<head>\n<link rel=\"alternate\" type=\"application/rss+xml\" title=\"Sahel Actu » Flux des commentaires\" href=\"/comments/feed/\">",
    );
    p.server.set("/", HTML, listing.into_bytes());
    p.server.set(
        "/comments/feed/",
        "application/rss+xml; charset=utf-8",
        fixture("un-fr.rss"),
    );
    let report = p.once("first_run = \"alert\"", "").await;
    let r = ok(&report);
    assert_eq!((r.read_as, r.via_feed.as_deref()), ("html", None));
    assert_eq!(r.alerts.len(), 4);
    assert_eq!(p.server.hits("/comments/feed/"), 0);
}

#[tokio::test]
async fn kind_feed_refuses_an_html_page() {
    let p = Portal::start().await;
    let report = p.once("", "kind = \"feed\"").await;
    let Err(e) = poll(&report) else {
        panic!("an HTML page read as a feed")
    };
    assert_eq!(e.kind(), "html");
}

fn vigie(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_vigie"))
        .args(args)
        // No config file: preview works without one.
        .args(["--config", "/nonexistent/vigie.toml"])
        .env("RUST_LOG", "warn")
        .output()
        .unwrap()
}

#[tokio::test]
async fn preview_shows_the_articles_and_a_ready_config_block() {
    let p = Portal::start().await;
    let url = p.server.url("/");
    let out = tokio::task::spawn_blocking(move || vigie(&["preview", &url, "--format", "json"]))
        .await
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["read_as"], "html");
    assert_eq!(json["links"].as_array().unwrap().len(), 4);
    let articles = json["articles"].as_array().unwrap();
    assert_eq!(articles.len(), 4);
    assert_eq!(articles[0]["published"], "2023-08-19T10:32:00Z");
    assert_eq!(articles[0]["authors"][0], "Aminata Traoré");
    assert!(
        articles[0]["body"]
            .as_str()
            .unwrap()
            .contains("douze mille Casques bleus")
    );
    let block = json["config"].as_str().unwrap();
    assert!(block.contains("kind = \"html\""), "{block}");
    assert!(block.contains("language = \"fr\""), "{block}");
    // The block is valid config.
    let config = format!(
        "{block}\n[rules.r]\nkeywords = [\"Minusma\"]\nnotify = [\"n\"]\n[notifiers.n]\ntype = \"webhook\"\nurl = \"http://127.0.0.1:9/\"\n"
    );
    vigie::config::parse(&config, Path::new("preview.toml")).unwrap();

    // One page as an article, in a table.
    let page = p.server.url(PAGES[3].0);
    let out = tokio::task::spawn_blocking(move || vigie(&["preview", "--article", &page]))
        .await
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let table = String::from_utf8(out.stdout).unwrap();
    for expected in [
        "Le Conseil de sécurité fixe le calendrier du retrait",
        "published: 2023-08-19 00:00 UTC",
        "authors:   AFP",
        "language:  fr",
        "[sources.",
    ] {
        assert!(
            table.contains(expected),
            "{expected:?} missing from\n{table}"
        );
    }

    // A page announcing a feed says so.
    p.server
        .set("/flux", HTML, fixture("portal/avec-flux.html"));
    p.server.set(
        "/afrique/flux.xml",
        "application/rss+xml; charset=utf-8",
        fixture("un-fr.rss"),
    );
    let url = p.server.url("/flux");
    let out = tokio::task::spawn_blocking(move || vigie(&["preview", &url, "--format", "json"]))
        .await
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["read_as"], "feed");
    assert_eq!(json["via_feed"], p.server.url("/afrique/flux.xml"));
    assert_eq!(json["feeds"].as_array().unwrap().len(), 2);
    assert_eq!(json["articles"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn test_rule_on_a_portal_reads_its_article_pages() {
    let p = Portal::start().await;
    let config = p.config("", "kind = \"html\"");
    let report = vigie::inspect::test_rule(
        &config,
        "minusma",
        vigie::inspect::Input::Source("sahel".into()),
    )
    .await
    .unwrap();
    assert_eq!(report.read_as, "html");
    assert_eq!(report.articles.len(), 4);
    assert_eq!(report.matched(), 4);
    // Nothing recorded: a real poll afterwards still finds four new links.
    let polled = p.once("", "kind = \"html\"").await;
    assert_eq!(ok(&polled).new, 4);
}
