//! `vigie once` over 100 local feeds of 20 articles each: prints how long a
//! first poll (everything new, alerts recorded and delivered), a poll where
//! every server answers 304, and a poll of changed documents whose articles
//! are all known take. A figure printer, not a timed test:
//!
//!     cargo bench --bench once_feeds

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::{FeedServer, WebhookReceiver};

const FEEDS: usize = 100;
const ARTICLES: usize = 20;
const ROUNDS: usize = 3;

fn feed(n: usize, generation: usize) -> String {
    let mut items = String::new();
    for i in 0..ARTICLES {
        // One article in ten is about the Minusma; the rest is other news.
        let (title, text) = if (n + i).is_multiple_of(10) {
            (
                format!("Mali : étape {i} du retrait des Casques bleus de la Minusma"),
                "Le convoi a quitté la base de Tessalit ; l’ONU confirme le calendrier du retrait.",
            )
        } else {
            (
                format!("Chronique {i} : la saison des pluies et les récoltes au Sahel"),
                "Les agriculteurs de la région de Ségou attendent les semences promises par la FAO.",
            )
        };
        items.push_str(&format!(
            "<item><title>{title}</title><link>https://news{n}.example.org/fr/story/{i}</link>\
             <guid isPermaLink=\"false\">news{n}-{i}</guid>\
             <pubDate>Sat, 19 Aug 2023 10:{:02}:00 GMT</pubDate>\
             <description>&lt;p&gt;{text} {}&lt;/p&gt;</description></item>",
            i % 60,
            "Texte de remplissage pour donner au résumé la longueur d’une vraie dépêche. "
                .repeat(4)
        ));
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><rss version=\"2.0\"><channel><title>Feed {n}</title>\
         <link>https://news{n}.example.org/</link><description>generation {generation}</description>\
         <language>fr</language>{items}</channel></rss>"
    )
}

async fn timed_once(config: &str) -> (Duration, vigie::app::OnceReport) {
    let config = vigie::config::parse(config, std::path::Path::new("bench.toml")).expect("config");
    let start = Instant::now();
    let report = vigie::app::once(config, None, false).await.expect("once");
    (start.elapsed(), report)
}

fn ms(d: Duration) -> String {
    format!("{:>8.1} ms", d.as_secs_f64() * 1000.0)
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let mut first = Vec::new();
    let mut unchanged = Vec::new();
    let mut known = Vec::new();
    let mut alerts = 0;
    for _ in 0..ROUNDS {
        let dir = tempfile::tempdir().expect("tempdir");
        let feeds = FeedServer::start().await;
        let hook = WebhookReceiver::start().await;
        let mut config = format!(
            "[daemon]\nstate = \"{}\"\nfirst_run = \"alert\"\nconcurrency = 16\nper_host = 16\n\n\
             [notifiers.hook]\ntype = \"webhook\"\nurl = \"{}\"\n\n\
             [rules.minusma]\nkeywords = [\"Minusma\", \"Casques bleus\"]\nnotify = [\"hook\"]\n\n\
             [rules.sahel]\nkeywords = [\"Tombouctou\", \"Kidal\"]\nexclude = [\"football\"]\nnotify = [\"hook\"]\n\n",
            dir.path().join("vigie.db").display(),
            hook.url()
        );
        for n in 0..FEEDS {
            let path = format!("/feed/{n}.xml");
            feeds.set(&path, "application/rss+xml", feed(n, 0));
            config.push_str(&format!(
                "[sources.feed-{n}]\nurl = \"{}\"\n\n",
                feeds.url(&path)
            ));
        }
        let (t, report) = timed_once(&config).await;
        assert!(report.all_ok());
        alerts = report.alerts().count();
        first.push(t);
        let (t, _) = timed_once(&config).await;
        unchanged.push(t);
        for n in 0..FEEDS {
            feeds.set(&format!("/feed/{n}.xml"), "application/rss+xml", feed(n, 1));
        }
        let (t, _) = timed_once(&config).await;
        known.push(t);
        assert_eq!(hook.delivered().len(), alerts, "every alert delivered once");
    }
    let median = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    println!(
        "vigie once over {FEEDS} local feeds of {ARTICLES} articles ({ROUNDS} rounds, median):"
    );
    println!(
        "  first poll, {} articles new, {alerts} alerts recorded and delivered: {}",
        FEEDS * ARTICLES,
        ms(median(&mut first))
    );
    println!(
        "  every feed answers 304 Not Modified:                          {}",
        ms(median(&mut unchanged))
    );
    println!(
        "  every feed changed, every article already known:              {}",
        ms(median(&mut known))
    );
}
