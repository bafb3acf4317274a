//! Parsed entries → [`Article`]: HTML reduced to text, canonical URLs,
//! dates checked, and the article keys of DESIGN.md §1 step 5 (GUID when
//! present and unique in the document → canonical URL → hash of title and
//! date).

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use sha2::{Digest, Sha256};
use url::Url;

use crate::config::Source;
use crate::model::Article;
use crate::parse::text::html_to_text;
use crate::parse::{Document, Entry};

/// Query parameters that only track the reader: two URLs differing in them
/// are the same article.
const TRACKING_PARAMS: &[&str] = &[
    "fbclid",
    "gclid",
    "dclid",
    "msclkid",
    "mc_cid",
    "mc_eid",
    "igshid",
    "xtor",
    "at_medium",
    "at_campaign",
    "at_source",
    "ns_source",
    "ns_mchannel",
    "ns_campaign",
    "cmpid",
    "ref_src",
    "_hsenc",
    "_hsmi",
];

/// Whether `article` is one of the articles whose keys are in `seen`: its
/// main key was seen, or — for an article known by its GUID — its URL and
/// its headline were both seen (the feed changed its GUIDs). A URL alone is
/// not enough: a "flash info" item may reuse one URL for every new story.
pub fn is_known(article: &Article, seen: &HashSet<String>) -> bool {
    if seen.contains(&article.key) {
        return true;
    }
    let alias = |prefix: &str| article.aliases.iter().find(|k| k.starts_with(prefix));
    match (alias("url:"), alias("title:")) {
        (Some(url), Some(title)) => seen.contains(url) && seen.contains(title),
        _ => false,
    }
}

/// Every article of a document, in document order, keys assigned.
pub fn articles(doc: &Document, source: &Source, now: DateTime<Utc>) -> Vec<Article> {
    let count = |values: Vec<String>| {
        let mut counts: HashMap<String, usize> = HashMap::new();
        for v in values {
            *counts.entry(v).or_default() += 1;
        }
        counts
    };
    let ids = count(doc.entries.iter().filter_map(|e| e.id.clone()).collect());
    let urls = count(
        doc.entries
            .iter()
            .filter_map(|e| e.link.as_deref().and_then(canonical_url))
            .collect(),
    );
    doc.entries
        .iter()
        .map(|entry| {
            let mut article = article(entry, doc, source, now);
            let id = entry.id.as_ref().filter(|id| ids.get(*id) == Some(&1));
            let url = article.url.as_ref().filter(|u| urls.get(*u) == Some(&1));
            let title = crate::rules::fold_words(&article.title, Default::default()).join(" ");
            let mut keys = Vec::new();
            if let Some(id) = id {
                keys.push(format!("id:{id}"));
            }
            if let Some(url) = url {
                keys.push(format!("url:{url}"));
            }
            if url.is_some() {
                // With the URL, recognises the article when its GUID
                // changes, appears, or stops being duplicated.
                keys.push(format!("title:{}", short_hash(&[&title])));
            }
            if keys.is_empty() {
                // The date as the feed gave it: a future date that later
                // stops being "implausible" must not change the key.
                let date = entry
                    .published
                    .or(entry.updated)
                    .map(|d| d.to_rfc3339())
                    .unwrap_or_default();
                keys.push(format!("hash:{}", short_hash(&[&title, &date])));
            }
            article.key = keys.remove(0);
            article.aliases = keys;
            article
        })
        .collect()
}

fn article(entry: &Entry, doc: &Document, source: &Source, now: DateTime<Utc>) -> Article {
    let body = entry
        .content
        .as_deref()
        .map(html_to_text)
        .filter(|b| !b.is_empty());
    let mut summary = entry
        .summary
        .as_deref()
        .map(html_to_text)
        .unwrap_or_default();
    if summary.is_empty()
        && let Some(body) = &body
    {
        summary = truncate_chars(body, 400);
    }
    Article {
        key: String::new(),
        aliases: Vec::new(),
        url: entry.link.as_deref().and_then(canonical_url),
        title: entry.title.as_deref().map(html_to_text).unwrap_or_default(),
        summary,
        body,
        published: plausible(entry.published.or(entry.updated), now),
        updated: plausible(entry.updated, now),
        authors: entry
            .authors
            .iter()
            .map(|a| one_line(&html_to_text(a)))
            .collect(),
        language: entry
            .language
            .clone()
            .or_else(|| doc.language.clone())
            .or_else(|| source.language.clone())
            .map(|l| l.trim().to_lowercase())
            .filter(|l| !l.is_empty()),
        tags: source.tags.clone(),
        source: source.name.clone(),
    }
}

/// An extracted article page → [`Article`], keyed by its canonical URL
/// (`poll` may give it the key of the link that led to it).
pub fn page_article(
    page: crate::parse::extract::Page,
    url: &Url,
    source: &Source,
    now: DateTime<Utc>,
) -> Article {
    let canonical = canonical_url(url.as_str());
    let summary = page
        .summary
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| truncate_chars(&page.body, 400));
    Article {
        key: format!("url:{}", canonical.as_deref().unwrap_or(url.as_str())),
        aliases: Vec::new(),
        url: canonical,
        title: page.title.map(|t| one_line(&t)).unwrap_or_default(),
        summary,
        body: Some(page.body).filter(|b| !b.is_empty()),
        published: plausible(page.published, now),
        updated: plausible(page.updated, now),
        authors: page.authors,
        language: page.language.or_else(|| source.language.clone()),
        tags: source.tags.clone(),
        source: source.name.clone(),
    }
}

/// A date more than a day in the future is garbage (or a time zone bug):
/// kept as unknown so it cannot hide later articles or dodge `max_age`.
fn plausible(date: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    date.filter(|d| *d <= now + Duration::days(1))
}

/// The URL an article is known by: no fragment, no tracking parameters.
pub fn canonical_url(link: &str) -> Option<String> {
    let mut url = Url::parse(link.trim()).ok()?;
    if !matches!(url.scheme(), "http" | "https") {
        return None;
    }
    url.set_fragment(None);
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| {
            let k = k.to_ascii_lowercase();
            !k.starts_with("utm_") && !TRACKING_PARAMS.contains(&k.as_str())
        })
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    if kept.is_empty() {
        url.set_query(None);
    } else if url
        .query()
        .is_some_and(|q| q.split('&').count() != kept.len())
    {
        url.query_pairs_mut().clear().extend_pairs(kept);
    }
    Some(url.to_string())
}

/// One line: for titles, authors and anything bound for a header.
pub fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

pub fn truncate_chars(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_string(),
        Some((at, _)) => {
            let cut = text[..at].rfind(' ').filter(|&i| i > at / 2).unwrap_or(at);
            format!("{}…", text[..cut].trim_end())
        }
    }
}

/// 32 hex digits of SHA-256 over the parts, each followed by a NUL so that
/// ("ab", "c") and ("a", "bc") differ.
pub fn short_hash(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    hasher.finalize()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_urls_drop_tracking_and_fragments() {
        assert_eq!(
            canonical_url(
                "https://News.example.org/fr/story/1?utm_source=rss&utm_medium=feed#comments"
            )
            .as_deref(),
            Some("https://news.example.org/fr/story/1")
        );
        assert_eq!(
            canonical_url("https://news.example.org/a?id=42&xtor=RSS-1").as_deref(),
            Some("https://news.example.org/a?id=42")
        );
        assert_eq!(canonical_url("javascript:alert(1)"), None);
    }

    #[test]
    fn html_becomes_text() {
        assert_eq!(
            html_to_text("<p>Le <b>retrait</b> de la&nbsp;Minusma</p><p>Suite</p>"),
            "Le retrait de la Minusma\nSuite"
        );
        assert_eq!(
            html_to_text("Minusma <script>alert(1)</script>retrait"),
            "Minusma retrait"
        );
        assert_eq!(html_to_text("A &lt;script&gt; tag"), "A <script> tag");
        assert_eq!(
            html_to_text("Titre\r\nBcc: x@example.com"),
            "Titre\nBcc: x@example.com"
        );
        assert_eq!(one_line("Titre\nBcc: x"), "Titre Bcc: x");
    }

    #[test]
    fn a_guid_article_is_known_by_its_guid_or_by_url_and_headline_together() {
        let article = Article {
            key: "id:g1".into(),
            aliases: vec!["url:https://news.example.org/a".into(), "title:t1".into()],
            url: None,
            title: String::new(),
            summary: String::new(),
            body: None,
            published: None,
            updated: None,
            authors: Vec::new(),
            language: None,
            tags: Vec::new(),
            source: String::new(),
        };
        let set = |keys: &[&str]| keys.iter().map(|k| k.to_string()).collect::<HashSet<_>>();
        assert!(is_known(&article, &set(&["id:g1"])));
        assert!(is_known(
            &article,
            &set(&["url:https://news.example.org/a", "title:t1"])
        ));
        assert!(
            !is_known(&article, &set(&["url:https://news.example.org/a"])),
            "a reused URL"
        );
        assert!(
            !is_known(&article, &set(&["title:t1"])),
            "a repeated headline"
        );
    }

    #[test]
    fn truncation_is_on_char_boundaries() {
        assert_eq!(truncate_chars("été été été", 5), "été…");
        assert_eq!(truncate_chars("court", 10), "court");
    }
}
