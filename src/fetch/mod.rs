//! The one HTTP client: conditional GET with the stored validators, a total
//! deadline, a cap on decoded body bytes and on redirects. Hands raw bytes
//! and the response's content type on to `parse`; [`charset`] turns them
//! into UTF-8.

pub mod charset;
pub mod guard;

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{
    CACHE_CONTROL, CONTENT_TYPE, ETAG, HeaderMap, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED,
    RETRY_AFTER,
};
use url::Url;

use crate::config::{Config, Daemon, defaults};
pub use guard::{Refusal, Trusted};

/// Cache validators of the last successful fetch of a source.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Validators {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

#[derive(Debug)]
pub enum Outcome {
    /// `304`: nothing changed since the validators were stored.
    NotModified {
        /// `Cache-Control: max-age` of the answer, a polling hint.
        max_age: Option<Duration>,
    },
    Fetched(Response),
}

#[derive(Debug)]
pub struct Response {
    /// After redirects: relative links resolve against it.
    pub url: Url,
    pub content_type: Option<String>,
    pub validators: Validators,
    /// `Cache-Control: max-age`: how long the server says the document
    /// stays fresh, a hint that may lengthen the source's interval.
    pub max_age: Option<Duration>,
    /// Decoded (decompressed) bytes, at most `max_body`.
    pub body: Vec<u8>,
}

/// Why a fetch failed. Messages never carry the URL's query (it may hold a
/// token); the source name says where.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    #[error("cannot connect: {0}")]
    Connect(String),
    #[error("too many redirects (more than {0})")]
    TooManyRedirects(usize),
    #[error("redirect loop")]
    RedirectLoop,
    /// A redirect to a non-public address or a non-HTTP scheme.
    #[error("{0}")]
    Refused(Refusal),
    #[error("HTTP status {status}{}", retry_after.map(|d| format!(" (retry after {}s)", d.as_secs())).unwrap_or_default())]
    Status {
        status: StatusCode,
        /// The server's `Retry-After` (on `429` and `503`).
        retry_after: Option<Duration>,
    },
    #[error("body larger than {0} bytes (max_body)")]
    TooLarge(u64),
    #[error("truncated body: the connection closed before the announced end ({0})")]
    Truncated(String),
    #[error("error reading the body: {0}")]
    Body(String),
    #[error("request failed: {0}")]
    Other(String),
}

impl FetchError {
    /// A short stable name for logs, status and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            FetchError::Timeout(_) => "timeout",
            FetchError::Connect(_) => "connect",
            FetchError::TooManyRedirects(_) => "redirects",
            FetchError::RedirectLoop => "redirect_loop",
            FetchError::Refused(_) => "refused",
            FetchError::Status { .. } => "status",
            FetchError::TooLarge(_) => "too_large",
            FetchError::Truncated(_) => "truncated",
            FetchError::Body(_) => "body",
            FetchError::Other(_) => "other",
        }
    }

    /// Whether trying again later may succeed: timeouts, lost
    /// connections, `408`, `429` and `5xx`. A refusal, a `4xx` or a body
    /// too large will fail the same way again.
    pub fn is_temporary(&self) -> bool {
        match self {
            FetchError::Timeout(_)
            | FetchError::Connect(_)
            | FetchError::Truncated(_)
            | FetchError::Body(_)
            | FetchError::Other(_) => true,
            // The same judgement as for a webhook's answer.
            FetchError::Status { status, .. } => !crate::notify::classify(*status, None).permanent,
            FetchError::TooManyRedirects(_)
            | FetchError::RedirectLoop
            | FetchError::Refused(_)
            | FetchError::TooLarge(_) => false,
        }
    }

    /// How long the server asked us to wait, when it did.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            FetchError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// Shared by every poll; cheap to clone.
#[derive(Debug, Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    timeout: Duration,
    max_body: u64,
    /// The hosts the config names, for the links pages lead to.
    trusted: Trusted,
}

impl Fetcher {
    /// The fetcher of `config`: the hosts its sources name are trusted
    /// (see [`guard`]).
    pub fn for_config(config: &Config) -> Result<Fetcher, FetchError> {
        Fetcher::new(
            &config.daemon,
            Trusted::new(config.sources.iter().map(|s| &s.url)),
        )
    }

    /// A fetcher trusting `trusted` hosts to be on private addresses.
    pub fn new(daemon: &Daemon, trusted: Trusted) -> Result<Fetcher, FetchError> {
        let client = reqwest::Client::builder()
            .user_agent(daemon.user_agent.clone())
            .timeout(daemon.timeout)
            .connect_timeout(daemon.timeout.min(Duration::from_secs(10)))
            .redirect(guard::redirect_policy(
                defaults::MAX_REDIRECTS,
                trusted.clone(),
            ))
            .dns_resolver(guard::GuardedResolver {
                trusted: trusted.clone(),
            })
            .build()
            .map_err(|e| FetchError::Other(e.without_url().to_string()))?;
        Ok(Fetcher {
            client,
            timeout: daemon.timeout,
            max_body: daemon.max_body,
            trusted,
        })
    }

    /// A GET of a link a page led to (an article page, an announced
    /// feed): refused before any connection when it names a non-public
    /// IP the config does not; names are checked as they resolve.
    pub async fn get_link(&self, url: &Url) -> Result<Outcome, FetchError> {
        guard::check_link(url, &self.trusted).map_err(FetchError::Refused)?;
        self.get(url, &Validators::default()).await
    }

    /// One conditional GET, bounded by `timeout` from the first byte sent to
    /// the last byte read, whatever the server does.
    pub async fn get(&self, url: &Url, validators: &Validators) -> Result<Outcome, FetchError> {
        // reqwest's own timeout covers the body too; this one also bounds
        // what happens around it (resolver, redirects), as a last resort.
        match tokio::time::timeout(self.timeout, self.get_inner(url, validators)).await {
            Ok(result) => result,
            Err(_) => Err(FetchError::Timeout(self.timeout)),
        }
    }

    async fn get_inner(&self, url: &Url, validators: &Validators) -> Result<Outcome, FetchError> {
        let mut request = self.client.get(url.clone()).header(
            reqwest::header::ACCEPT,
            "application/rss+xml, application/atom+xml, application/feed+json, application/json;q=0.9, \
             application/xml;q=0.9, text/xml;q=0.9, text/html;q=0.8, */*;q=0.5",
        );
        if let Some(etag) = &validators.etag {
            request = request.header(IF_NONE_MATCH, etag);
        }
        if let Some(lm) = &validators.last_modified {
            request = request.header(IF_MODIFIED_SINCE, lm);
        }
        let mut response = request.send().await.map_err(|e| self.classify(e))?;
        let status = response.status();
        let max_age = cache_max_age(response.headers());
        if status == StatusCode::NOT_MODIFIED {
            return Ok(Outcome::NotModified { max_age });
        }
        if status.is_redirection()
            && let Some(refusal) = unfollowed_redirect(response.url(), response.headers())
        {
            return Err(FetchError::Refused(refusal));
        }
        if !status.is_success() {
            let retry_after = (status == StatusCode::TOO_MANY_REQUESTS
                || status == StatusCode::SERVICE_UNAVAILABLE)
                .then(|| response.headers().get(RETRY_AFTER))
                .flatten()
                .and_then(|v| v.to_str().ok())
                .and_then(|v| crate::schedule::retry_after(v, chrono::Utc::now()));
            return Err(FetchError::Status {
                status,
                retry_after,
            });
        }
        let header = |name| {
            response
                .headers()
                .get(name)
                .and_then(|v: &reqwest::header::HeaderValue| v.to_str().ok())
                .map(str::to_string)
        };
        let content_type = header(CONTENT_TYPE);
        let validators = Validators {
            etag: header(ETAG),
            last_modified: header(LAST_MODIFIED),
        };
        let final_url = response.url().clone();
        // Content-Length is the compressed size when the body is encoded, so
        // it can only reject early, never prove a body small enough.
        if let Some(len) = response.content_length()
            && len > self.max_body
            && response
                .headers()
                .get(reqwest::header::CONTENT_ENCODING)
                .is_none()
        {
            return Err(FetchError::TooLarge(self.max_body));
        }
        let mut body = Vec::new();
        // Chunks arrive already decompressed, so counting them also stops
        // gzip and brotli bombs at max_body.
        while let Some(chunk) = response.chunk().await.map_err(|e| self.classify(e))? {
            if (body.len() + chunk.len()) as u64 > self.max_body {
                return Err(FetchError::TooLarge(self.max_body));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Outcome::Fetched(Response {
            url: final_url,
            content_type,
            validators,
            max_age,
            body,
        }))
    }

    fn classify(&self, e: reqwest::Error) -> FetchError {
        let e = e.without_url();
        if let Some(refusal) = find_refusal(&e) {
            return match refusal {
                Refusal::Loop => FetchError::RedirectLoop,
                Refusal::TooMany(n) => FetchError::TooManyRedirects(n),
                other => FetchError::Refused(other),
            };
        }
        if e.is_timeout() {
            FetchError::Timeout(self.timeout)
        } else if e.is_redirect() {
            FetchError::TooManyRedirects(defaults::MAX_REDIRECTS)
        } else if e.is_connect() {
            FetchError::Connect(root_cause(&e))
        } else if e.is_body() || e.is_decode() {
            let cause = root_cause(&e);
            // hyper's words for a connection closed before Content-Length
            // or the last chunk.
            if cause.contains("before message length reached")
                || cause.contains("incomplete")
                || cause.contains("unexpected EOF")
            {
                FetchError::Truncated(cause)
            } else {
                FetchError::Body(cause)
            }
        } else {
            FetchError::Other(error_chain(&e))
        }
    }
}

/// The guard's refusal, wherever reqwest and hyper wrapped it.
fn find_refusal(e: &(dyn std::error::Error + 'static)) -> Option<Refusal> {
    let mut cause = Some(e);
    while let Some(c) = cause {
        if let Some(refusal) = c.downcast_ref::<Refusal>() {
            return Some(refusal.clone());
        }
        cause = c.source();
    }
    None
}

/// A redirect reqwest did not follow because its target is not HTTP
/// (`file:`, `ftp:`, `javascript:`): named as refused, not as a bare 3xx.
fn unfollowed_redirect(base: &Url, headers: &HeaderMap) -> Option<Refusal> {
    let location = headers.get(reqwest::header::LOCATION)?.to_str().ok()?;
    let target = base.join(location).ok()?;
    (!matches!(target.scheme(), "http" | "https")).then(|| Refusal::Scheme(target.scheme().into()))
}

/// `Cache-Control: max-age=N` (`s-maxage` is for shared caches, and
/// `no-cache`/`no-store` give no hint).
fn cache_max_age(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get_all(CACHE_CONTROL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|directive| {
            let (name, value) = directive.split_once('=')?;
            name.trim()
                .eq_ignore_ascii_case("max-age")
                .then(|| value.trim().trim_matches('"').parse::<u64>().ok())
                .flatten()
                .map(Duration::from_secs)
        })
}

/// The innermost cause: "failed to lookup address information: Name or
/// service not known" says more than reqwest's "error sending request".
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

/// reqwest's Display stops at the outermost error; the cause says more.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let part = s.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    text
}
