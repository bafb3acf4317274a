//! `FeedServer`: a small web server that serves feeds and pages the way a news
//! site does, with `ETag`, `Last-Modified` and conditional GET.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header::{self, HeaderName};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::Response;

use super::{ServerTask, lock, serve_axum};

/// Serves fixtures at paths the test chooses. Unknown paths get `404`.
///
/// A `2xx` resource carries a strong `ETag` (a hash of its body) and a
/// `Last-Modified` date; a request whose `If-None-Match` matches the `ETag`
/// (or, without `If-None-Match`, whose `If-Modified-Since` equals the
/// `Last-Modified` value) gets `304 Not Modified` with no body.
pub struct FeedServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: ServerTask,
}

#[derive(Default)]
struct Shared {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    resources: HashMap<String, Resource>,
    hits: HashMap<String, usize>,
    not_modified: HashMap<String, usize>,
    last_headers: HashMap<String, Vec<(String, String)>>,
    /// Seconds since the epoch of the last `Last-Modified` given out: each
    /// `set` gets a strictly later one, even within the same second.
    clock: u64,
}

#[derive(Clone)]
struct Resource {
    status: u16,
    content_type: String,
    body: Bytes,
    etag: String,
    last_modified: String,
    headers: Vec<(HeaderName, HeaderValue)>,
    delay: Duration,
}

impl FeedServer {
    /// Starts a server on `127.0.0.1` and a free port.
    pub async fn start() -> Self {
        Self::start_on(0).await
    }

    /// Starts a server on `127.0.0.1:port`, e.g. to bring a stopped source
    /// back at the same URL.
    pub async fn start_on(port: u16) -> Self {
        let shared = Arc::new(Shared::default());
        let router = Router::new().fallback(handle).with_state(shared.clone());
        let (addr, task) = serve_axum(port, router).await;
        Self { addr, shared, task }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `http://127.0.0.1:PORT/path` (a missing leading `/` is added).
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, key(path))
    }

    /// Serves `body` at `path` with status 200, replacing whatever was
    /// there (status, extra headers and delay included). `path` may carry a
    /// query string; a request whose exact path and query is not set falls
    /// back to its path alone.
    pub fn set(&self, path: &str, content_type: &str, body: impl Into<Vec<u8>>) {
        let body: Vec<u8> = body.into();
        let mut inner = lock(&self.shared.inner);
        let last_modified = inner.next_last_modified();
        let resource = Resource {
            status: 200,
            content_type: content_type.to_owned(),
            etag: etag(&body),
            body: Bytes::from(body),
            last_modified,
            headers: Vec::new(),
            delay: Duration::ZERO,
        };
        inner.resources.insert(key(path), resource);
    }

    /// Answers `path` with `status` from now on, keeping its body (an empty
    /// `text/plain` one if the path was not set).
    pub fn set_status(&self, path: &str, status: u16) {
        assert!((100..1000).contains(&status), "bad HTTP status {status}");
        self.modify(path, |r| r.status = status);
    }

    /// Adds a response header to `path` (replacing one of the same name),
    /// e.g. `Retry-After`, `Location` or `Content-Encoding`.
    pub fn set_header(&self, path: &str, name: &str, value: &str) {
        let name = HeaderName::from_bytes(name.as_bytes()).expect("valid header name");
        let value = HeaderValue::from_str(value).expect("valid header value");
        self.modify(path, |r| {
            r.headers.retain(|(n, _)| *n != name);
            r.headers.push((name, value));
        });
    }

    /// Waits `delay` before answering each request for `path`.
    pub fn set_delay(&self, path: &str, delay: Duration) {
        self.modify(path, |r| r.delay = delay);
    }

    /// Forgets `path`: it answers 404 again.
    pub fn remove(&self, path: &str) {
        lock(&self.shared.inner).resources.remove(&key(path));
    }

    /// Requests received for `path`, whatever their answer (304 and 404 too).
    pub fn hits(&self, path: &str) -> usize {
        let inner = lock(&self.shared.inner);
        inner.hits.get(&key(path)).copied().unwrap_or(0)
    }

    /// Requests for `path` answered `304 Not Modified`.
    pub fn not_modified(&self, path: &str) -> usize {
        let inner = lock(&self.shared.inner);
        inner.not_modified.get(&key(path)).copied().unwrap_or(0)
    }

    /// Headers of the last request for `path` (lowercase names, in order).
    pub fn last_request_headers(&self, path: &str) -> Option<Vec<(String, String)>> {
        lock(&self.shared.inner)
            .last_headers
            .get(&key(path))
            .cloned()
    }

    /// One header of the last request for `path` (name case-insensitive).
    pub fn last_request_header(&self, path: &str, name: &str) -> Option<String> {
        let headers = self.last_request_headers(path)?;
        headers
            .into_iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// The `ETag` currently sent for `path`, quotes included.
    pub fn etag(&self, path: &str) -> Option<String> {
        let inner = lock(&self.shared.inner);
        inner.resources.get(&key(path)).map(|r| r.etag.clone())
    }

    /// The `Last-Modified` value currently sent for `path`.
    pub fn last_modified(&self, path: &str) -> Option<String> {
        let inner = lock(&self.shared.inner);
        inner
            .resources
            .get(&key(path))
            .map(|r| r.last_modified.clone())
    }

    /// Stops the server and waits until its port and connections are closed.
    pub async fn stop(self) {
        self.task.stop().await;
    }

    fn modify(&self, path: &str, change: impl FnOnce(&mut Resource)) {
        let mut inner = lock(&self.shared.inner);
        let last_modified = inner.next_last_modified();
        let resource = inner
            .resources
            .entry(key(path))
            .or_insert_with(|| Resource {
                status: 200,
                content_type: "text/plain; charset=utf-8".to_owned(),
                etag: etag(b""),
                body: Bytes::new(),
                last_modified,
                headers: Vec::new(),
                delay: Duration::ZERO,
            });
        change(resource);
    }
}

impl Inner {
    fn next_last_modified(&mut self) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        self.clock = now.max(self.clock + 1);
        http_date(self.clock)
    }
}

fn key(path: &str) -> String {
    if path.starts_with('/') {
        path.to_owned()
    } else {
        format!("/{path}")
    }
}

fn etag(body: &[u8]) -> String {
    let mut hasher = DefaultHasher::new();
    body.hash(&mut hasher);
    format!("\"{:016x}\"", hasher.finish())
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let request_headers: Vec<(String, String)> = headers
        .iter()
        .map(|(n, v)| {
            let value = String::from_utf8_lossy(v.as_bytes()).into_owned();
            (n.as_str().to_owned(), value)
        })
        .collect();
    let full = uri
        .path_and_query()
        .map_or_else(|| uri.path().to_owned(), |pq| pq.as_str().to_owned());
    let (resource, counter) = {
        let mut inner = lock(&shared.inner);
        let key =
            if inner.resources.contains_key(&full) || !inner.resources.contains_key(uri.path()) {
                full
            } else {
                uri.path().to_owned()
            };
        *inner.hits.entry(key.clone()).or_default() += 1;
        inner.last_headers.insert(key.clone(), request_headers);
        (inner.resources.get(&key).cloned(), key)
    };
    let Some(resource) = resource else {
        return response(
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            "not found",
        );
    };
    if !resource.delay.is_zero() {
        tokio::time::sleep(resource.delay).await;
    }
    let cacheable = (200..300).contains(&resource.status);
    let conditional = method == Method::GET || method == Method::HEAD;
    if cacheable && conditional && is_fresh(&headers, &resource) {
        *lock(&shared.inner).not_modified.entry(counter).or_default() += 1;
        let mut response = Response::new(Body::empty());
        *response.status_mut() = StatusCode::NOT_MODIFIED;
        add_headers(response.headers_mut(), &resource, true);
        return response;
    }
    let status = StatusCode::from_u16(resource.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = response(status, &resource.content_type, resource.body.clone());
    add_headers(response.headers_mut(), &resource, cacheable);
    response
}

fn response(status: StatusCode, content_type: &str, body: impl Into<Body>) -> Response {
    let mut response = Response::new(body.into());
    *response.status_mut() = status;
    if let Ok(value) = HeaderValue::from_str(content_type) {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    response
}

fn add_headers(headers: &mut HeaderMap, resource: &Resource, validators: bool) {
    if validators {
        for (name, value) in [
            (header::ETAG, &resource.etag),
            (header::LAST_MODIFIED, &resource.last_modified),
        ] {
            if let Ok(value) = HeaderValue::from_str(value) {
                headers.insert(name, value);
            }
        }
    }
    for (name, value) in &resource.headers {
        headers.insert(name.clone(), value.clone());
    }
}

/// Whether the client's cached copy is current (RFC 9110 §13.1.2: weak
/// comparison for `If-None-Match`; `If-Modified-Since` only without it).
fn is_fresh(headers: &HeaderMap, resource: &Resource) -> bool {
    if let Some(value) = headers.get(header::IF_NONE_MATCH) {
        let value = String::from_utf8_lossy(value.as_bytes());
        return value.trim() == "*"
            || value
                .split(',')
                .any(|tag| tag.trim().trim_start_matches("W/") == resource.etag);
    }
    headers
        .get(header::IF_MODIFIED_SINCE)
        .is_some_and(|value| value.as_bytes() == resource.last_modified.as_bytes())
}

/// IMF-fixdate, e.g. `Sat, 19 Aug 2023 10:32:00 GMT`.
fn http_date(secs: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = secs / 86_400;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} GMT",
        DAYS[(days % 7) as usize],
        day,
        MONTHS[(month - 1) as usize],
        year,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}
