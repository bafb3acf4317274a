//! `vigie test-rule`: receives one rule's name and a URL, a file or a configured source; hands on each article found there with whether the rule matches it and why. Nothing is recorded or sent.

use std::path::PathBuf;

use chrono::Utc;
use serde::Serialize;
use url::Url;

use crate::config::{Config, Source, SourceKind};
use crate::fetch::guard::Trusted;
use crate::fetch::{Fetcher, Outcome, Validators};
use crate::model::Article;
use crate::parse::{self, ParseError};
use crate::rules::Explanation;

/// Article pages `test-rule --source` reads from an HTML source's listing.
pub const SOURCE_PAGES: usize = 10;

/// Where `test-rule` reads articles from.
#[derive(Debug, Clone)]
pub enum Input {
    Url(String),
    File(PathBuf),
    Source(String),
}

#[derive(Debug, thiserror::Error)]
pub enum InspectError {
    #[error("unknown rule \"{name}\"{}", did_you_mean(hint))]
    UnknownRule { name: String, hint: Option<String> },
    #[error("unknown source \"{name}\"{}", did_you_mean(hint))]
    UnknownSource { name: String, hint: Option<String> },
    #[error("invalid URL \"{url}\": {reason}")]
    BadUrl { url: String, reason: String },
    #[error("cannot read {}: {error}", path.display())]
    File {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("fetch failed: {0}")]
    Fetch(#[from] crate::fetch::FetchError),
    #[error("{0}")]
    Parse(#[from] ParseError),
}

impl InspectError {
    /// A user error (1) or a runtime failure (2), as DESIGN.md §2 says.
    pub fn exit_code(&self) -> u8 {
        match self {
            InspectError::Fetch(_) | InspectError::Parse(_) => 2,
            _ => 1,
        }
    }
}

fn did_you_mean(hint: &Option<String>) -> String {
    hint.as_ref()
        .map(|h| format!(" (did you mean \"{h}\"?)"))
        .unwrap_or_default()
}

/// One rule tried on every article of one document.
#[derive(Debug, Serialize)]
pub struct RuleTest {
    pub rule: String,
    /// What was read: the URL, the file or the source name.
    pub input: String,
    /// The source the articles count as coming from, for scoping and for
    /// `source:`/`tag:` terms.
    pub source: String,
    /// For a URL or a file, a rule scoped to other sources is tried anyway;
    /// this says so.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// How the document was read: `"feed"`; `"html"` for a configured HTML
    /// source, its listing's first article pages (at most [`SOURCE_PAGES`]);
    /// or `"page"` for an HTML page or a text file read as one article.
    pub read_as: &'static str,
    pub articles: Vec<TestedArticle>,
}

#[derive(Debug, Serialize)]
pub struct TestedArticle {
    pub article: Article,
    pub matched: bool,
    pub explanation: Explanation,
}

impl RuleTest {
    pub fn matched(&self) -> usize {
        self.articles.iter().filter(|a| a.matched).count()
    }
}

/// Runs `rule` over the articles of `input`.
pub async fn test_rule(
    config: &Config,
    rule: &str,
    input: Input,
) -> Result<RuleTest, InspectError> {
    let index = config
        .rules
        .iter()
        .position(|r| r.name == rule)
        .ok_or_else(|| InspectError::UnknownRule {
            name: rule.to_string(),
            hint: crate::config::diag::nearest(rule, config.rules.iter().map(|r| r.name.as_str()))
                .map(str::to_string),
        })?;
    let (source, adhoc, label) = match &input {
        Input::Source(name) => {
            let source = config
                .source(name)
                .ok_or_else(|| InspectError::UnknownSource {
                    name: name.clone(),
                    hint: crate::config::diag::nearest(
                        name,
                        config.sources.iter().map(|s| s.name.as_str()),
                    )
                    .map(str::to_string),
                })?
                .clone();
            (source, false, name.clone())
        }
        Input::Url(url) => {
            let parsed = Url::parse(url).map_err(|e| InspectError::BadUrl {
                url: url.clone(),
                reason: e.to_string(),
            })?;
            if !matches!(parsed.scheme(), "http" | "https") {
                return Err(InspectError::BadUrl {
                    url: url.clone(),
                    reason: "only http and https URLs can be fetched".into(),
                });
            }
            (adhoc_source(parsed), true, url.clone())
        }
        Input::File(path) => {
            let absolute = std::path::absolute(path).unwrap_or_else(|_| path.clone());
            let url = Url::from_file_path(&absolute)
                .unwrap_or_else(|_| Url::parse("file:///").expect("a valid URL"));
            (adhoc_source(url), true, path.display().to_string())
        }
    };

    let (articles, read_as) = match &input {
        // A configured source is read as its polls read it: a portal's
        // listing gives its first article pages, a page announcing a feed
        // gives that feed's articles.
        Input::Source(_) if source.kind != SourceKind::Feed => {
            let trusted: Vec<Url> = config.sources.iter().map(|s| s.url.clone()).collect();
            let preview = crate::preview::preview(
                &config.daemon,
                &trusted,
                Some(&source),
                source.url.as_str(),
                false,
                SOURCE_PAGES,
            )
            .await
            .map_err(|e| match e {
                crate::preview::PreviewError::Fetch(e) => InspectError::Fetch(e),
                crate::preview::PreviewError::Parse(e) => InspectError::Parse(e),
                other => InspectError::Parse(ParseError::Malformed(other.to_string())),
            })?;
            let read_as = if preview.read_as == "html" {
                "html"
            } else {
                "feed"
            };
            (preview.articles, read_as)
        }
        _ => {
            let (bytes, content_type, base) = match &input {
                Input::File(path) => {
                    let bytes =
                        tokio::fs::read(path)
                            .await
                            .map_err(|error| InspectError::File {
                                path: path.clone(),
                                error,
                            })?;
                    (bytes, None, source.url.clone())
                }
                Input::Url(_) | Input::Source(_) => {
                    // A URL typed on the command line is the admin's choice, as a
                    // configured one is: both may be on a private address.
                    let trusted = config
                        .sources
                        .iter()
                        .map(|s| &s.url)
                        .chain(std::iter::once(&source.url));
                    let fetcher = Fetcher::new(&config.daemon, Trusted::new(trusted))?;
                    match fetcher.get(&source.url, &Validators::default()).await? {
                        Outcome::Fetched(r) => (r.body, r.content_type, r.url),
                        // Without validators a server has nothing to compare with.
                        Outcome::NotModified { .. } => (Vec::new(), None, source.url.clone()),
                    }
                }
            };

            let src = source.clone();
            let text_file = matches!(&input, Input::File(p) if !looks_like_markup(p, &bytes));
            let (articles, read_as) = crate::work::cpu(move || {
                read_articles(&bytes, content_type.as_deref(), &base, &src, text_file)
            })
            .await
            .map_err(|e| ParseError::Malformed(format!("reading the document panicked: {e}")))??;
            (articles, read_as)
        }
    };

    let spec = &config.matcher.rules()[index];
    let note = (adhoc && !(spec.sources.is_empty() && spec.tags.is_empty())).then(|| {
        format!(
            "the rule only applies to {}; here it is tried anyway",
            scope_words(&spec.sources, &spec.tags)
        )
    });
    let articles = articles
        .into_iter()
        .map(|article| {
            let doc = crate::poll::document(&article, &source);
            let explanation = config
                .matcher
                .explain(index, &doc, &source.name, &source.tags)
                .expect("the rule exists");
            let matched = if adhoc {
                explanation.root.holds
            } else {
                explanation.matched
            };
            TestedArticle {
                article,
                matched,
                explanation,
            }
        })
        .collect();
    Ok(RuleTest {
        rule: rule.to_string(),
        input: label,
        source: source.name.clone(),
        note,
        read_as,
        articles,
    })
}

fn scope_words(sources: &[String], tags: &[String]) -> String {
    let mut parts = Vec::new();
    if !sources.is_empty() {
        parts.push(format!("sources {}", sources.join(", ")));
    }
    if !tags.is_empty() {
        parts.push(format!("sources tagged {}", tags.join(", ")));
    }
    parts.join(" and ")
}

fn adhoc_source(url: Url) -> Source {
    Source {
        name: "test-rule".into(),
        url,
        kind: SourceKind::Auto,
        interval: std::time::Duration::from_secs(600),
        tags: Vec::new(),
        language: None,
        timezone: None,
        html: Default::default(),
    }
}

/// Whether a file is a feed or a page rather than plain text: by its
/// extension, else by its first non-blank byte.
fn looks_like_markup(path: &std::path::Path, bytes: &[u8]) -> bool {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("txt" | "text" | "md") => false,
        Some("xml" | "rss" | "atom" | "rdf" | "json" | "html" | "htm" | "xhtml") => true,
        _ => {
            let start = bytes
                .iter()
                .position(|b| !b.is_ascii_whitespace() && !matches!(b, 0xEF | 0xBB | 0xBF));
            start.is_some_and(|i| matches!(bytes[i], b'<' | b'{'))
        }
    }
}

/// A feed's articles; an HTML page or a text file as one article.
fn read_articles(
    bytes: &[u8],
    content_type: Option<&str>,
    base: &Url,
    source: &Source,
    text_file: bool,
) -> Result<(Vec<Article>, &'static str), ParseError> {
    let now = Utc::now();
    if text_file {
        let (text, _) = crate::fetch::charset::decode(bytes, content_type);
        let mut lines = text.lines().skip_while(|l| l.trim().is_empty());
        let title = lines.next().unwrap_or_default().trim().to_string();
        let body: String = lines.collect::<Vec<_>>().join("\n").trim().to_string();
        return Ok((vec![page_article(title, body, None, source, base)], "page"));
    }
    match parse::feed::parse(bytes, content_type, base, source.timezone) {
        Ok(doc) => Ok((crate::normalize::articles(&doc, source, now), "feed")),
        Err(ParseError::Html) => {
            let (html, _) = crate::fetch::charset::decode(bytes, content_type);
            let page =
                parse::extract::article(&html, base, &source.html.article, source.timezone, now)
                    .map_err(|e| ParseError::Malformed(e.to_string()))?;
            let mut article = crate::normalize::page_article(page, base, source, now);
            if !matches!(base.scheme(), "http" | "https") {
                article.url = None;
            }
            Ok((vec![article], "page"))
        }
        Err(e) => Err(e),
    }
}

fn page_article(
    title: String,
    body: String,
    language: Option<String>,
    source: &Source,
    base: &Url,
) -> Article {
    let url = matches!(base.scheme(), "http" | "https").then(|| base.to_string());
    Article {
        key: crate::normalize::short_hash(&[&title, &body]),
        aliases: Vec::new(),
        url,
        summary: crate::normalize::truncate_chars(&body, 400),
        title,
        body: Some(body),
        published: None,
        updated: None,
        authors: Vec::new(),
        language,
        tags: source.tags.clone(),
        source: source.name.clone(),
    }
}
