//! HTML portals without a feed: receives a source's listing page, takes
//! its article links (the `html.links` selector, or found automatically),
//! fetches the page of each link never recorded before — once: its key is
//! the link's canonical URL — and extracts it; hands `poll` the articles
//! and the keys of the links it recorded without a page.

use chrono::{DateTime, Utc};
use url::Url;

use crate::config::{Source, defaults};
use crate::fetch::{Fetcher, Outcome, Response};
use crate::model::Article;
use crate::parse::extract::{self, NoMatch};
use crate::poll::PollError;
use crate::store::{NewArticle, Store};

/// Article pages fetched in one poll at most; further new links wait for
/// the next poll, so a first poll of a busy portal (or a listing that
/// suddenly links a whole archive) cannot hammer the site.
pub const MAX_PAGES_PER_POLL: usize = 20;

/// Which new links get their page fetched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// A first poll under `first_run = "baseline"`: every link is recorded
    /// as seen, no page fetched (nothing would alert).
    Baseline,
    /// A first poll under `latest:N`: the N first links of the listing
    /// (newest first, as portals list them); the others recorded unread.
    Latest(usize),
    /// Every new link, [`MAX_PAGES_PER_POLL`] a poll.
    All,
}

/// What one listing gave.
#[derive(Debug, Default)]
pub struct PortalRead {
    /// Article links on the listing.
    pub found: usize,
    /// Links never recorded before.
    pub new: usize,
    /// The new links' pages, extracted.
    pub articles: Vec<Article>,
    /// Keys recorded without an article: baseline links, and pages that
    /// failed for good (a `404`, a refused address).
    pub unread: Vec<NewArticle>,
    /// False when some new link is left for the next poll (a temporary
    /// failure, or more than [`MAX_PAGES_PER_POLL`]): the listing must be
    /// read again even if its bytes do not change.
    pub complete: bool,
}

/// The key an article of a portal is recorded by: its link's canonical
/// URL, known before its page is fetched.
pub fn link_key(url: &Url) -> String {
    let canonical =
        crate::normalize::canonical_url(url.as_str()).unwrap_or_else(|| url.to_string());
    format!("url:{canonical}")
}

/// The article links of `page`, or the error that says the layout
/// changed.
pub async fn listing_links(source: &Source, page: &Response) -> Result<Vec<Url>, PollError> {
    let (body, content_type, url) = (
        page.body.clone(),
        page.content_type.clone(),
        page.url.clone(),
    );
    let selector = source.html.links.clone();
    let links = crate::work::cpu(move || {
        let (html, _) = crate::fetch::charset::decode(&body, content_type.as_deref());
        crate::parse::html::links(&html, &url, selector.as_deref())
    })
    .await
    .map_err(|e| PollError::Internal(e.to_string()))?
    .map_err(PollError::Layout)?;
    if links.is_empty() {
        return Err(PollError::NoLinks(page.url.to_string()));
    }
    Ok(links)
}

/// Reads the listing `page` of `source`: the new links' pages fetched
/// and extracted as `plan` says.
pub async fn read(
    store: &dyn Store,
    fetcher: &Fetcher,
    source: &Source,
    page: &Response,
    plan: Plan,
    now: DateTime<Utc>,
) -> Result<PortalRead, PollError> {
    let mut links = listing_links(source, page).await?;
    // Two links to one article (a tracking parameter, a fragment) are one.
    let mut seen = std::collections::HashSet::new();
    links.retain(|l| seen.insert(link_key(l)));
    let keys: Vec<String> = links.iter().map(link_key).collect();
    let known = store.known_keys(&source.name, &keys).await?;
    let new: Vec<(Url, String)> = links
        .into_iter()
        .zip(keys)
        .filter(|(_, k)| !known.contains(k))
        .collect();
    let mut read = PortalRead {
        found: known.len() + new.len(),
        new: new.len(),
        complete: true,
        ..PortalRead::default()
    };
    let to_fetch = match plan {
        Plan::Baseline => 0,
        Plan::Latest(n) => n,
        Plan::All => MAX_PAGES_PER_POLL,
    };
    let mut fetched = 0;
    for (url, key) in new {
        if fetched >= to_fetch {
            if plan == Plan::All {
                // Left for the next poll.
                read.complete = false;
            } else {
                read.unread.push(NewArticle {
                    keys: vec![key],
                    known: false,
                    alerts: Vec::new(),
                });
            }
            continue;
        }
        if fetched > 0 && !crate::fetch::guard::is_local(&url) {
            // One request a second to a site, as between polls.
            tokio::time::sleep(defaults::HOST_SPACING).await;
        }
        fetched += 1;
        match article_page(fetcher, source, &url, now).await {
            Ok(mut article) => {
                article.key = key;
                read.articles.push(article);
            }
            Err(PageError::Layout(e)) => return Err(PollError::Layout(e)),
            Err(PageError::Fetch(e)) if e.is_temporary() => {
                tracing::info!(source = %source.name, url = %url, error = %e, "article page failed; tried again next poll");
                read.complete = false;
            }
            Err(e) => {
                tracing::warn!(source = %source.name, url = %url, error = %e, "article page skipped for good");
                read.unread.push(NewArticle {
                    keys: vec![key],
                    known: true,
                    alerts: Vec::new(),
                });
            }
        }
    }
    Ok(read)
}

/// Why one article page gave no article.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    #[error("{0}")]
    Fetch(#[from] crate::fetch::FetchError),
    #[error("{0}")]
    Layout(NoMatch),
    #[error("not a web page: {0}")]
    NotHtml(String),
    #[error("internal error: {0}")]
    Internal(String),
}

/// Fetches and extracts one article page of `source`.
pub async fn article_page(
    fetcher: &Fetcher,
    source: &Source,
    url: &Url,
    now: DateTime<Utc>,
) -> Result<Article, PageError> {
    let response = match fetcher.get_link(url).await? {
        Outcome::Fetched(r) => r,
        // Without validators a server has nothing to compare with.
        Outcome::NotModified { .. } => {
            return Err(PageError::NotHtml("an empty 304 answer".into()));
        }
    };
    extract_response(response, source, now).await
}

/// Extracts a fetched page as an article of `source` (key: its URL's).
pub async fn extract_response(
    response: Response,
    source: &Source,
    now: DateTime<Utc>,
) -> Result<Article, PageError> {
    if let Some(kind) = response.content_type.as_deref() {
        let mime = kind
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        let page_like = mime.is_empty()
            || mime.contains("html")
            || mime.starts_with("text/")
            || mime == "application/xml";
        if !page_like {
            return Err(PageError::NotHtml(format!("the server sent {mime}")));
        }
    }
    let src = source.clone();
    crate::work::cpu(move || {
        let (html, _) =
            crate::fetch::charset::decode(&response.body, response.content_type.as_deref());
        let page = extract::article(&html, &response.url, &src.html.article, src.timezone, now)
            .map_err(PageError::Layout)?;
        let mut article = crate::normalize::page_article(page, &response.url, &src, now);
        article.key = link_key(&response.url);
        Ok(article)
    })
    .await
    .map_err(|e| PageError::Internal(e.to_string()))?
}
