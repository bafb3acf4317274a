//! `vigie preview URL`: receives a URL (and the config's source for it, if
//! one names it); fetches and reads it as a source would — a feed, a page
//! watched through the feed it announces, or an HTML listing whose first
//! article pages are fetched and extracted — and hands on the articles with
//! their fields, the feeds discovered, and a ready `[sources.NAME]` block.
//! With `--article`, the page itself is extracted as one article. Nothing
//! is recorded or sent.

use chrono::Utc;
use serde::Serialize;
use url::Url;

use crate::config::{Daemon, Source, SourceKind};
use crate::fetch::guard::Trusted;
use crate::fetch::{FetchError, Fetcher, Outcome, Response, Validators};
use crate::model::Article;
use crate::parse::ParseError;
use crate::parse::html::FeedLink;
use crate::portal::{self, PageError};

/// Article pages `preview` fetches from a listing by default.
pub const DEFAULT_LIMIT: usize = 5;

#[derive(Debug, thiserror::Error)]
pub enum PreviewError {
    #[error("invalid URL \"{url}\": {reason}")]
    BadUrl { url: String, reason: String },
    #[error("fetch failed: {0}")]
    Fetch(#[from] FetchError),
    #[error("{0}")]
    Parse(#[from] ParseError),
    #[error("{0}")]
    Page(#[from] PageError),
    #[error("{0}")]
    Poll(#[from] crate::poll::PollError),
}

impl PreviewError {
    /// A user error (1) or a runtime failure (2), as DESIGN.md §2 says.
    pub fn exit_code(&self) -> u8 {
        match self {
            PreviewError::BadUrl { .. } => 1,
            _ => 2,
        }
    }
}

/// What a source at this URL would produce.
#[derive(Debug, Serialize)]
pub struct Preview {
    pub url: String,
    /// `"feed"`, `"html"` (a listing), or `"article"` (`--article`).
    pub read_as: &'static str,
    /// The feed the page announces and a `kind = "auto"` source would
    /// watch in its place.
    pub via_feed: Option<String>,
    /// Feeds the page announces (`<link rel="alternate">`).
    pub feeds: Vec<FeedLink>,
    /// Article links on a listing.
    pub links: Vec<String>,
    /// Articles read, with their body (at most `limit` pages of a listing).
    pub articles: Vec<Article>,
    /// Article pages that could not be read, with why.
    pub failed: Vec<PageFailure>,
    /// The name the block gives the source.
    pub name: String,
    /// A `[sources.NAME]` block ready to paste into the config.
    pub config: String,
}

#[derive(Debug, Serialize)]
pub struct PageFailure {
    pub url: String,
    pub error: String,
}

/// Previews `url`; `configured` is the config's source at that URL, whose
/// kind and selectors are then used.
pub async fn preview(
    daemon: &Daemon,
    trusted_urls: &[Url],
    configured: Option<&Source>,
    url: &str,
    article: bool,
    limit: usize,
) -> Result<Preview, PreviewError> {
    let parsed = Url::parse(url).map_err(|e| PreviewError::BadUrl {
        url: url.to_string(),
        reason: e.to_string(),
    })?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
        return Err(PreviewError::BadUrl {
            url: url.to_string(),
            reason: "only http and https URLs can be fetched".into(),
        });
    }
    let source = configured.cloned().unwrap_or_else(|| Source {
        name: source_name(&parsed),
        url: parsed.clone(),
        kind: SourceKind::Auto,
        interval: daemon.interval,
        tags: Vec::new(),
        language: None,
        timezone: None,
        html: Default::default(),
    });
    // A URL typed on the command line is the admin's choice, as a
    // configured one is: both may be on a private address.
    let trusted = Trusted::new(trusted_urls.iter().chain(std::iter::once(&parsed)));
    let fetcher = Fetcher::new(daemon, trusted)?;
    let now = Utc::now();
    let page = match fetcher.get(&parsed, &Validators::default()).await? {
        Outcome::Fetched(r) => r,
        Outcome::NotModified { .. } => {
            return Err(ParseError::Empty.into());
        }
    };
    let mut out = Preview {
        url: page.url.to_string(),
        read_as: "feed",
        via_feed: None,
        feeds: Vec::new(),
        links: Vec::new(),
        articles: Vec::new(),
        failed: Vec::new(),
        name: source.name.clone(),
        config: String::new(),
    };
    if article {
        out.feeds = announced(&page).await;
        out.articles
            .push(portal::extract_response(page, &source, now).await?);
        out.read_as = "article";
        out.config = block(&source, &out);
        return Ok(out);
    }
    if source.kind != SourceKind::Html {
        match feed_articles(&source, &page).await? {
            Ok(articles) => {
                out.articles = articles;
                out.config = block(&source, &out);
                return Ok(out);
            }
            Err(ParseError::Html) if source.kind == SourceKind::Auto => {}
            Err(e) => return Err(e.into()),
        }
        out.feeds = announced(&page).await;
        for feed in out.feeds.iter().filter(|f| !f.comments) {
            let Ok(feed_url) = Url::parse(&feed.url) else {
                continue;
            };
            if let Ok(Outcome::Fetched(answer)) = fetcher.get_link(&feed_url).await
                && let Ok(articles) = feed_articles(&source, &answer).await?
            {
                out.via_feed = Some(feed.url.clone());
                out.articles = articles;
                out.config = block(&source, &out);
                return Ok(out);
            }
        }
    } else {
        out.feeds = announced(&page).await;
    }
    out.read_as = "html";
    let links = portal::listing_links(&source, &page).await?;
    out.links = links.iter().map(Url::to_string).collect();
    for link in links.iter().take(limit) {
        match portal::article_page(&fetcher, &source, link, now).await {
            Ok(article) => out.articles.push(article),
            Err(e) => out.failed.push(PageFailure {
                url: link.to_string(),
                error: e.to_string(),
            }),
        }
    }
    out.config = block(&source, &out);
    Ok(out)
}

async fn feed_articles(
    source: &Source,
    response: &Response,
) -> Result<Result<Vec<Article>, ParseError>, PreviewError> {
    let (body, content_type, url) = (
        response.body.clone(),
        response.content_type.clone(),
        response.url.clone(),
    );
    let src = source.clone();
    let now = Utc::now();
    crate::work::cpu(move || {
        crate::parse::feed::parse(&body, content_type.as_deref(), &url, src.timezone)
            .map(|doc| crate::normalize::articles(&doc, &src, now))
    })
    .await
    .map_err(|e| PreviewError::Parse(ParseError::Malformed(e.to_string())))
}

async fn announced(page: &Response) -> Vec<FeedLink> {
    let (body, content_type, url) = (
        page.body.clone(),
        page.content_type.clone(),
        page.url.clone(),
    );
    crate::work::cpu(move || {
        let (html, _) = crate::fetch::charset::decode(&body, content_type.as_deref());
        crate::parse::html::feeds(&html, &url)
    })
    .await
    .unwrap_or_default()
}

/// A source name from a host: `www.abamako.com` → `abamako`.
pub fn source_name(url: &Url) -> String {
    let host = url.host_str().unwrap_or("source");
    let host = host.trim_start_matches("www.");
    let labels: Vec<&str> = host.split('.').collect();
    // The label before the public suffix, roughly: `news.un.org` → `un`
    // would lose "news", so keep all but the last label.
    let name = match labels.len() {
        0 | 1 => host.to_string(),
        n => labels[..n - 1].join("-"),
    };
    let name: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let name = name.trim_matches('-').to_string();
    if name.is_empty() {
        "source".into()
    } else {
        name
    }
}

/// The `[sources.NAME]` block that watches the URL as previewed.
fn block(source: &Source, preview: &Preview) -> String {
    let mut b = format!(
        "[sources.{}]\nurl = {}\n",
        source.name,
        toml_string(source.url.as_str())
    );
    match (preview.read_as, &preview.via_feed) {
        (_, Some(feed)) => b.push_str(&format!(
            "# kind = \"auto\" (the default) watches this page through the feed it announces:\n# {feed}\n"
        )),
        ("html", None) | ("article", None) => b.push_str("kind = \"html\"\n"),
        _ => {}
    }
    // The language most articles are in, as a hint.
    let mut langs: Vec<&str> = preview
        .articles
        .iter()
        .filter_map(|a| a.language.as_deref())
        .collect();
    langs.sort_unstable();
    let top = langs
        .chunk_by(|a, b| a == b)
        .max_by_key(|run| run.len())
        .map(|run| run[0]);
    match (&source.language, top) {
        (Some(l), _) => b.push_str(&format!("language = {}\n", toml_string(l))),
        (None, Some(l)) => b.push_str(&format!("language = {}\n", toml_string(l))),
        _ => {}
    }
    match source.timezone {
        Some(tz) => b.push_str(&format!("timezone = {}\n", toml_string(tz.name()))),
        None => b.push_str(
            "# timezone = \"Africa/Bamako\"   # how to read dates the site writes without an offset (default UTC)\n",
        ),
    }
    if preview.read_as == "html" || preview.read_as == "article" {
        let html = &source.html;
        b.push_str(&format!("  [sources.{}.html]\n", source.name));
        let line = |key: &str, value: &Option<String>, auto: &str| match value {
            Some(css) => format!("  {key} = {}\n", toml_string(css)),
            None => format!("  # {key} = \"…\"   # {auto}\n"),
        };
        let links_note = format!("automatic now: {} article links found", preview.links.len());
        b.push_str(&line("links", &html.links, &links_note));
        b.push_str(&line(
            "title",
            &html.article.title,
            "automatic: page metadata, then the headline",
        ));
        b.push_str(&line(
            "date",
            &html.article.date,
            "automatic: metadata, <time>, a \"Publié le …\" line",
        ));
        b.push_str(&line(
            "body",
            &html.article.body,
            "automatic: the main text",
        ));
        b.push_str(&line(
            "author",
            &html.article.author,
            "automatic: metadata, byline, agency credit",
        ));
    }
    b
}

/// A TOML basic string.
fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_the_host() {
        let name = |u: &str| source_name(&Url::parse(u).unwrap());
        assert_eq!(name("https://www.abamako.com/"), "abamako");
        assert_eq!(name("https://news.un.org/fr/"), "news-un");
        assert_eq!(name("http://127.0.0.1:8080/"), "127-0-0");
        assert_eq!(name("http://localhost:8080/"), "localhost");
    }
}
