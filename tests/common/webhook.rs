//! `WebhookReceiver`: an HTTP endpoint that records every request and answers
//! with statuses the test scripts (200 when nothing is scripted).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header::HeaderName;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::Response;
use tokio::sync::watch;

use super::{ServerTask, lock, serve_axum};

/// One request as the receiver saw it.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    /// Path and query, e.g. `/hook`.
    pub path: String,
    /// The status the receiver answered with.
    pub status_sent: u16,
    /// Request headers in order, names lowercase.
    pub headers: Vec<(String, String)>,
    /// The body parsed as JSON, or `Value::Null` when it is not JSON.
    pub body: serde_json::Value,
    pub raw: Vec<u8>,
}

impl Received {
    /// First value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether the receiver answered 2xx.
    pub fn delivered(&self) -> bool {
        (200..300).contains(&self.status_sent)
    }
}

/// Accepts any method on any path; `url()` gives `/hook`.
pub struct WebhookReceiver {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: ServerTask,
}

struct Shared {
    script: Mutex<VecDeque<Scripted>>,
    received: Mutex<Vec<Received>>,
    delay: Mutex<Duration>,
    /// Counts of (requests received, requests answered 2xx).
    counts: watch::Sender<(usize, usize)>,
}

struct Scripted {
    status: u16,
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl WebhookReceiver {
    /// Starts a receiver on `127.0.0.1` and a free port.
    pub async fn start() -> Self {
        Self::start_on(0).await
    }

    /// Starts a receiver on `127.0.0.1:port`, e.g. to bring a "down"
    /// notifier back at the same URL.
    pub async fn start_on(port: u16) -> Self {
        let shared = Arc::new(Shared {
            script: Mutex::new(VecDeque::new()),
            received: Mutex::new(Vec::new()),
            delay: Mutex::new(Duration::ZERO),
            counts: watch::channel((0, 0)).0,
        });
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

    /// `http://127.0.0.1:PORT/hook`.
    pub fn url(&self) -> String {
        self.url_for("/hook")
    }

    /// `http://127.0.0.1:PORT/path`, for tests with several webhooks.
    pub fn url_for(&self, path: &str) -> String {
        let slash = if path.starts_with('/') { "" } else { "/" };
        format!("http://{}{slash}{path}", self.addr)
    }

    /// The next requests get these statuses, in order (after any scripted
    /// before); then 200 again.
    pub fn script(&self, statuses: &[u16]) {
        let mut script = lock(&self.shared.script);
        for &status in statuses {
            script.push_back(Scripted {
                status,
                headers: Vec::new(),
            });
        }
    }

    /// Like `script(&[status])`, with response headers, e.g.
    /// `script_response(429, &[("retry-after", "2")])`.
    pub fn script_response(&self, status: u16, headers: &[(&str, &str)]) {
        let headers = headers
            .iter()
            .map(|(n, v)| {
                let name = HeaderName::from_bytes(n.as_bytes()).expect("valid header name");
                (name, HeaderValue::from_str(v).expect("valid header value"))
            })
            .collect();
        lock(&self.shared.script).push_back(Scripted { status, headers });
    }

    /// Waits `delay` before answering each request (a slow notifier).
    pub fn set_delay(&self, delay: Duration) {
        *lock(&self.shared.delay) = delay;
    }

    /// Every request, in arrival order, including those answered with an error.
    pub fn received(&self) -> Vec<Received> {
        lock(&self.shared.received).clone()
    }

    /// Only the requests answered 2xx.
    pub fn delivered(&self) -> Vec<Received> {
        let received = lock(&self.shared.received);
        received.iter().filter(|r| r.delivered()).cloned().collect()
    }

    /// Waits until `n` requests have been answered 2xx; false on timeout.
    /// Uses tokio time: do not call it with the clock paused.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> bool {
        self.wait_until(timeout, |&(_, delivered)| delivered >= n)
            .await
    }

    /// Waits until `n` requests have been received, whatever the answer.
    pub async fn wait_for_received(&self, n: usize, timeout: Duration) -> bool {
        self.wait_until(timeout, |&(received, _)| received >= n)
            .await
    }

    /// Stops the receiver and waits until its port and connections are closed.
    pub async fn stop(self) {
        self.task.stop().await;
    }

    async fn wait_until(
        &self,
        timeout: Duration,
        done: impl FnMut(&(usize, usize)) -> bool,
    ) -> bool {
        let mut rx = self.shared.counts.subscribe();
        matches!(
            tokio::time::timeout(timeout, rx.wait_for(done)).await,
            Ok(Ok(_))
        )
    }
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let delay = *lock(&shared.delay);
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let scripted = lock(&shared.script).pop_front().unwrap_or(Scripted {
        status: 200,
        headers: Vec::new(),
    });
    let received = Received {
        method: method.as_str().to_owned(),
        path: uri
            .path_and_query()
            .map_or_else(|| uri.path().to_owned(), |pq| pq.as_str().to_owned()),
        status_sent: scripted.status,
        headers: headers
            .iter()
            .map(|(n, v)| {
                let value = String::from_utf8_lossy(v.as_bytes()).into_owned();
                (n.as_str().to_owned(), value)
            })
            .collect(),
        body: serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
        raw: body.to_vec(),
    };
    let ok = received.delivered();
    lock(&shared.received).push(received);
    shared.counts.send_modify(|(all, delivered)| {
        *all += 1;
        *delivered += usize::from(ok);
    });

    let text = if ok { "ok" } else { "scripted failure" };
    let mut response = Response::new(Body::from(text));
    *response.status_mut() =
        StatusCode::from_u16(scripted.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    for (name, value) in scripted.headers {
        response.headers_mut().insert(name, value);
    }
    response
}
