//! The daemon path for one fetched document: bytes from the network →
//! `parse::feed::parse` → `normalize::articles` → the rule matcher.
//!
//! Input: one selector byte, then the document. The selector's low 3 bits
//! pick the Content-Type header, the next 3 bits the source's time zone
//! (`None` or a zone with DST gaps, half-hour offsets or a date-line jump).
//!
//! `parse` contains panics of feed-rs with `catch_unwind` (they become
//! `Malformed`), so this target replaces libfuzzer-sys's aborting panic hook:
//! a contained panic is then not a crash, an escaping one still aborts. Set
//! `VIGIE_FUZZ_STRICT=1` to treat contained panics as crashes too.
#![no_main]

use std::sync::{LazyLock, Once};

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;
use libfuzzer_sys::fuzz_target;
use url::Url;
use vigie::config::{Source, SourceKind};
use vigie::rules::{Matcher, RuleSpec};

const CONTENT_TYPES: [Option<&str>; 8] = [
    None,
    Some("application/rss+xml"),
    Some("application/xml; charset=utf-8"),
    Some("text/xml; charset=ISO-8859-1"),
    Some("application/atom+xml; charset=\"windows-1252\""),
    Some("application/feed+json"),
    Some("text/xml; charset=utf-16"),
    Some("text/html; charset=shift_jis"),
];

const ZONES: [Option<&str>; 8] = [
    None,
    Some("Europe/Paris"),
    Some("Africa/Bamako"),
    Some("America/New_York"),
    Some("Australia/Lord_Howe"),
    Some("Asia/Kathmandu"),
    Some("Pacific/Apia"),
    Some("America/St_Johns"),
];

static BASE: LazyLock<Url> =
    LazyLock::new(|| Url::parse("https://news.example.org/fr/feed/rss.xml").unwrap());

static NOW: LazyLock<DateTime<Utc>> =
    LazyLock::new(|| Utc.with_ymd_and_hms(2024, 6, 1, 12, 0, 0).unwrap());

/// A few rules of every fold option, with short keywords the fuzzer hits.
static MATCHER: LazyLock<Matcher> = LazyLock::new(|| {
    let rule = |name: &str, keywords: &[&str], case: bool, accent: bool| RuleSpec {
        name: name.into(),
        keywords: keywords.iter().map(|k| k.to_string()).collect(),
        exclude: vec!["zzz".into()],
        case_sensitive: case,
        accent_sensitive: accent,
        ..RuleSpec::default()
    };
    Matcher::new(vec![
        rule("default", &["Mali", "casques bleus", "a", "1"], false, false),
        rule("case", &["ONU", "a b"], true, false),
        rule("accent", &["été", "e"], false, true),
        rule("both", &["É a"], true, true),
    ])
    .unwrap()
});

fn source(timezone: Option<Tz>) -> Source {
    Source {
        name: "fuzz".into(),
        url: BASE.clone(),
        kind: SourceKind::Feed,
        interval: std::time::Duration::from_secs(600),
        tags: vec!["mali".into()],
        language: Some("fr".into()),
        timezone,
    }
}

fuzz_target!(|data: &[u8]| {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        if std::env::var_os("VIGIE_FUZZ_STRICT").is_none() {
            // One line per panic, no abort: libfuzzer-sys's own
            // catch_unwind still aborts on a panic that escapes `parse`.
            std::panic::set_hook(Box::new(|info| eprintln!("panic: {info}")));
        }
    });
    let Some((&selector, bytes)) = data.split_first() else {
        return;
    };
    let content_type = CONTENT_TYPES[usize::from(selector & 7)];
    let timezone = ZONES[usize::from((selector >> 3) & 7)].map(|z| z.parse::<Tz>().unwrap());

    let doc = match vigie::parse::feed::parse(bytes, content_type, &BASE, timezone) {
        Ok(doc) => doc,
        Err(e) => {
            if std::env::var_os("VIGIE_FUZZ_STRICT").is_some() {
                assert!(
                    !e.to_string().contains("the feed parser failed"),
                    "contained panic: {e}"
                );
            }
            return;
        }
    };
    let source = source(timezone);
    let articles = vigie::normalize::articles(&doc, &source, *NOW);
    assert_eq!(articles.len(), doc.entries.len());
    for article in &articles {
        assert!(!article.key.is_empty());
        let doc = vigie::poll::document(article, &source);
        for m in MATCHER.match_document(&doc, &source.name, &source.tags) {
            for hit in m.hits {
                assert!(
                    hit.snippet.get(hit.highlight.clone()).is_some(),
                    "highlight {:?} not in {:?}",
                    hit.highlight,
                    hit.snippet
                );
            }
        }
    }
});
