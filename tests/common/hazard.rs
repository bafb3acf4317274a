//! `HazardServer`: a fault-injecting web server written on a raw
//! `TcpListener`, so it can misbehave below HTTP: drip bytes, never answer,
//! cut a body short, stream forever. One route per hazard (see
//! [`HazardServer::ROUTES`]); any other path serves the feed set for it with
//! [`HazardServer::set_feed`]. It also counts the requests in flight per
//! `Host` header, to prove the fetch limits hold.

use std::collections::HashMap;
use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

use super::{ServerTask, bind, fixture, lock, stopped};

pub struct HazardServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    _task: ServerTask,
}

#[derive(Default)]
struct Shared {
    feeds: Mutex<HashMap<String, Vec<u8>>>,
    /// Each request to a served feed waits this long (to make requests
    /// overlap in the concurrency tests).
    delay: Mutex<Duration>,
    counts: Mutex<Counts>,
}

#[derive(Default)]
struct Counts {
    in_flight: HashMap<String, usize>,
    max_per_host: HashMap<String, usize>,
    total: usize,
    max_total: usize,
    hits: HashMap<String, usize>,
}

impl HazardServer {
    /// Every hazard route, for documentation and the tests' own checks.
    pub const ROUTES: &[&str] = &[
        "/drip",
        "/silent",
        "/endless",
        "/truncated",
        "/gzip-bomb",
        "/brotli-bomb",
        "/loop",
        "/chain/0",
        "/to-loopback",
        "/to-localhost",
        "/to-metadata",
        "/to-private",
        "/to-file",
        "/empty",
        "/html",
        "/image",
        "/billion-laughs",
        "/xxe",
        "/latin1-no-charset",
        "/nbsp",
        "/too-many-requests",
        "/unavailable",
    ];

    pub async fn start() -> Self {
        let listener = bind(0).await;
        let addr = listener.local_addr().expect("local_addr");
        let shared = Arc::new(Shared::default());
        let (stop, rx) = watch::channel(false);
        let state = shared.clone();
        let accept = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                let (state, rx) = (state.clone(), rx.clone());
                tokio::spawn(async move {
                    tokio::select! {
                        _ = serve(stream, addr, state) => {}
                        _ = stopped(rx) => {}
                    }
                });
            }
        });
        Self {
            addr,
            shared,
            _task: ServerTask::new(accept, stop),
        }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `http://127.0.0.1:PORT/path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// `http://HOST:PORT/path`: `HOST` may be any `*.localhost` name, which
    /// vigie resolves to loopback itself — a distinct host for its limits.
    pub fn url_on(&self, host: &str, path: &str) -> String {
        format!("http://{host}:{}{path}", self.addr.port())
    }

    pub fn set_feed(&self, path: &str, body: impl Into<Vec<u8>>) {
        lock(&self.shared.feeds).insert(path.to_string(), body.into());
    }

    pub fn set_delay(&self, delay: Duration) {
        *lock(&self.shared.delay) = delay;
    }

    /// The most requests ever in flight at once to `host` (as its `Host`
    /// header names it, port excluded).
    pub fn max_in_flight(&self, host: &str) -> usize {
        let counts = lock(&self.shared.counts);
        counts.max_per_host.get(host).copied().unwrap_or(0)
    }

    /// The most requests ever in flight at once, all hosts together.
    pub fn max_in_flight_total(&self) -> usize {
        lock(&self.shared.counts).max_total
    }

    /// Requests received for `path`.
    pub fn hits(&self, path: &str) -> usize {
        lock(&self.shared.counts)
            .hits
            .get(path)
            .copied()
            .unwrap_or(0)
    }
}

/// Counts a request in flight for as long as it lives.
struct InFlight {
    shared: Arc<Shared>,
    host: String,
}

impl InFlight {
    fn new(shared: Arc<Shared>, host: &str, path: &str) -> Self {
        {
            let mut c = lock(&shared.counts);
            *c.hits.entry(path.to_string()).or_default() += 1;
            let n = c.in_flight.entry(host.to_string()).or_default();
            *n += 1;
            let n = *n;
            let max = c.max_per_host.entry(host.to_string()).or_default();
            *max = (*max).max(n);
            c.total += 1;
            c.max_total = c.max_total.max(c.total);
        }
        Self {
            shared,
            host: host.to_string(),
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut c = lock(&self.shared.counts);
        if let Some(n) = c.in_flight.get_mut(&self.host) {
            *n -= 1;
        }
        c.total -= 1;
    }
}

/// Reads the request head: (path, host without port).
async fn read_head(stream: &mut TcpStream) -> Option<(String, String)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 || buf.len() > 64 * 1024 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let head = String::from_utf8_lossy(&buf);
    let mut lines = head.lines();
    let path = lines.next()?.split_whitespace().nth(1)?.to_string();
    let host = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("host"))
        .map(|(_, v)| {
            v.trim()
                .rsplit_once(':')
                .map_or(v.trim(), |(h, _)| h)
                .to_string()
        })
        .unwrap_or_default();
    Some((path, host))
}

fn head(status: &str, headers: &[(&str, String)]) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status}\r\nConnection: close\r\n");
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str("\r\n");
    out.into_bytes()
}

fn ok(content_type: &str, body: &[u8], extra: &[(&str, String)]) -> Vec<u8> {
    let mut headers = vec![
        ("Content-Type", content_type.to_string()),
        ("Content-Length", body.len().to_string()),
    ];
    headers.extend(extra.iter().cloned());
    let mut out = head("200 OK", &headers);
    out.extend_from_slice(body);
    out
}

fn redirect(location: String) -> Vec<u8> {
    head(
        "302 Found",
        &[("Location", location), ("Content-Length", "0".into())],
    )
}

const RSS: &str = "application/rss+xml";

/// 32 MiB of one byte, compressed to a few dozen KiB; made once, off the
/// async workers (call it before a timed fetch: making it takes a moment).
pub async fn bomb(gzip: bool) -> Vec<u8> {
    static GZIP: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    static BROTLI: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    let cell = if gzip { &GZIP } else { &BROTLI };
    if let Some(bytes) = cell.get() {
        return bytes.clone();
    }
    let bytes = tokio::task::spawn_blocking(move || make_bomb(gzip))
        .await
        .expect("bomb");
    cell.get_or_init(|| bytes).clone()
}

fn make_bomb(gzip: bool) -> Vec<u8> {
    let block = vec![b' '; 1024 * 1024];
    if gzip {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        for _ in 0..32 {
            gz.write_all(&block).unwrap();
        }
        gz.finish().unwrap()
    } else {
        let mut out = Vec::new();
        {
            let mut br = brotli::CompressorWriter::new(&mut out, 4096, 1, 22);
            for _ in 0..32 {
                br.write_all(&block).unwrap();
            }
        }
        out
    }
}

async fn serve(mut stream: TcpStream, addr: SocketAddr, shared: Arc<Shared>) {
    let Some((path, host)) = read_head(&mut stream).await else {
        return;
    };
    let _counted = InFlight::new(shared.clone(), &host, &path);
    let port = addr.port();
    let response = match path.as_str() {
        "/drip" => {
            // Headers at once, then one byte of a feed every 300 ms.
            let body = fixture("un-fr.rss");
            let _ = stream
                .write_all(&head(
                    "200 OK",
                    &[
                        ("Content-Type", RSS.into()),
                        ("Content-Length", body.len().to_string()),
                    ],
                ))
                .await;
            for byte in body {
                if stream.write_all(&[byte]).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            return;
        }
        "/silent" => {
            // Accepts, reads the request, never answers.
            std::future::pending::<()>().await;
            return;
        }
        "/endless" => {
            let _ = stream
                .write_all(&head(
                    "200 OK",
                    &[
                        ("Content-Type", RSS.into()),
                        ("Transfer-Encoding", "chunked".into()),
                    ],
                ))
                .await;
            let open = b"<?xml version=\"1.0\"?><rss version=\"2.0\"><channel>";
            let first = [format!("{:x}\r\n", open.len()).as_bytes(), open, b"\r\n"].concat();
            let _ = stream.write_all(&first).await;
            let item = b"<item><title>Minusma encore et encore</title></item>\n".repeat(1000);
            let chunk = [
                format!("{:x}\r\n", item.len()).into_bytes(),
                item,
                b"\r\n".to_vec(),
            ]
            .concat();
            while stream.write_all(&chunk).await.is_ok() {}
            return;
        }
        "/truncated" => {
            // Announces the whole feed, sends a third of it, hangs up.
            let body = fixture("un-fr.rss");
            let mut out = head(
                "200 OK",
                &[
                    ("Content-Type", RSS.into()),
                    ("Content-Length", body.len().to_string()),
                ],
            );
            out.extend_from_slice(&body[..body.len() / 3]);
            out
        }
        "/gzip-bomb" | "/brotli-bomb" => {
            let gzip = path == "/gzip-bomb";
            let encoding = if gzip { "gzip" } else { "br" };
            ok(
                RSS,
                &bomb(gzip).await,
                &[("Content-Encoding", encoding.to_string())],
            )
        }
        "/loop" => redirect("/loop".into()),
        p if p.starts_with("/chain/") => {
            let n: usize = p["/chain/".len()..].parse().unwrap_or(0);
            redirect(format!("/chain/{}", n + 1))
        }
        // 127.0.0.2 is loopback too, but no config names it.
        "/to-loopback" => redirect(format!("http://127.0.0.2:{port}/feed")),
        "/to-localhost" => redirect(format!("http://localhost:{port}/feed")),
        "/to-metadata" => redirect("http://169.254.169.254/latest/meta-data/".into()),
        "/to-private" => redirect("http://10.20.30.40/feed.xml".into()),
        "/to-file" => redirect("file:///etc/passwd".into()),
        "/empty" => ok(RSS, b"", &[]),
        "/html" => ok("text/html; charset=utf-8", &fixture("page.html"), &[]),
        "/image" => ok("image/png", &fixture("pixel.png"), &[]),
        "/billion-laughs" => ok(RSS, &fixture("billion-laughs.rss"), &[]),
        "/xxe" => ok(RSS, &fixture("xxe.rss"), &[]),
        // ISO-8859-1 bytes, no charset anywhere.
        "/latin1-no-charset" => ok(RSS, &fixture("latin1-no-charset.rss"), &[]),
        "/nbsp" => ok(RSS, &fixture("nbsp-amp.rss"), &[]),
        "/too-many-requests" => head(
            "429 Too Many Requests",
            &[
                ("Retry-After", "7200".into()),
                ("Content-Length", "0".into()),
            ],
        ),
        "/unavailable" => head(
            "503 Service Unavailable",
            &[
                ("Retry-After", "Fri, 31 Dec 2100 23:59:59 GMT".into()),
                ("Content-Length", "0".into()),
            ],
        ),
        other => {
            let delay = *lock(&shared.delay);
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            let feed = lock(&shared.feeds).get(other).cloned();
            match feed {
                Some(body) => ok(RSS, &body, &[]),
                None => head("404 Not Found", &[("Content-Length", "0".into())]),
            }
        }
    };
    let _ = stream.write_all(&response).await;
    let _ = stream.shutdown().await;
}
