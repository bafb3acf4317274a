//! The one HTTP client: conditional GET with the stored validators, a total
//! deadline, a cap on decoded body bytes and on redirects. Hands raw bytes
//! and the response's content type on to `parse`; [`charset`] turns them
//! into UTF-8.

pub mod charset;

use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, ETAG, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED};
use reqwest::{StatusCode, redirect};
use url::Url;

use crate::config::{Daemon, defaults};

/// Cache validators of the last successful fetch of a source.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Validators {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

#[derive(Debug)]
pub enum Outcome {
    /// `304`: nothing changed since the validators were stored.
    NotModified,
    Fetched(Response),
}

#[derive(Debug)]
pub struct Response {
    /// After redirects: relative links resolve against it.
    pub url: Url,
    pub content_type: Option<String>,
    pub validators: Validators,
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
    #[error("HTTP status {0}")]
    Status(StatusCode),
    #[error("body larger than {0} bytes (max_body)")]
    TooLarge(u64),
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
            FetchError::Status(_) => "status",
            FetchError::TooLarge(_) => "too_large",
            FetchError::Body(_) => "body",
            FetchError::Other(_) => "other",
        }
    }
}

/// Shared by every poll; cheap to clone.
#[derive(Debug, Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    timeout: Duration,
    max_body: u64,
}

impl Fetcher {
    pub fn new(daemon: &Daemon) -> Result<Fetcher, FetchError> {
        let client = reqwest::Client::builder()
            .user_agent(daemon.user_agent.clone())
            .timeout(daemon.timeout)
            .connect_timeout(daemon.timeout.min(Duration::from_secs(10)))
            .redirect(redirect::Policy::limited(defaults::MAX_REDIRECTS))
            .build()
            .map_err(|e| FetchError::Other(e.without_url().to_string()))?;
        Ok(Fetcher {
            client,
            timeout: daemon.timeout,
            max_body: daemon.max_body,
        })
    }

    pub async fn get(&self, url: &Url, validators: &Validators) -> Result<Outcome, FetchError> {
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
        if status == StatusCode::NOT_MODIFIED {
            return Ok(Outcome::NotModified);
        }
        if !status.is_success() {
            return Err(FetchError::Status(status));
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
            body,
        }))
    }

    fn classify(&self, e: reqwest::Error) -> FetchError {
        let e = e.without_url();
        if e.is_timeout() {
            FetchError::Timeout(self.timeout)
        } else if e.is_redirect() {
            FetchError::TooManyRedirects(defaults::MAX_REDIRECTS)
        } else if e.is_connect() {
            FetchError::Connect(root_cause(&e))
        } else if e.is_body() || e.is_decode() {
            FetchError::Body(root_cause(&e))
        } else {
            FetchError::Other(error_chain(&e))
        }
    }
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
