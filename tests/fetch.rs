//! The fetcher against a local server: a real User-Agent, conditional GET
//! with the stored validators, and each limit (decoded size, time,
//! redirects) stopping a bad response with a typed error.

mod common;

use std::io::Write as _;
use std::path::Path;
use std::time::Duration;

use common::FeedServer;
use vigie::fetch::{FetchError, Fetcher, Outcome, Validators};

fn fetcher(daemon: &str) -> Fetcher {
    let text = format!("[daemon]\n{daemon}\n\n[sources.x]\nurl = \"https://example.org/\"\n");
    let config = vigie::config::parse(&text, Path::new("test.toml")).expect("config");
    Fetcher::for_config(&config).expect("fetcher")
}

fn url(server: &FeedServer, path: &str) -> url::Url {
    url::Url::parse(&server.url(path)).unwrap()
}

#[tokio::test]
async fn sends_a_user_agent_and_uses_the_stored_validators() {
    let server = FeedServer::start().await;
    server.set(
        "/rss.xml",
        "application/rss+xml",
        "<rss version=\"2.0\"><channel/></rss>",
    );
    let f = fetcher("user_agent = \"vigie-test/1 (+mailto:admin@example.org)\"");
    let Outcome::Fetched(first) = f
        .get(&url(&server, "/rss.xml"), &Validators::default())
        .await
        .unwrap()
    else {
        panic!("expected a body");
    };
    assert_eq!(
        server
            .last_request_header("/rss.xml", "user-agent")
            .as_deref(),
        Some("vigie-test/1 (+mailto:admin@example.org)")
    );
    assert!(first.validators.etag.is_some() && first.validators.last_modified.is_some());
    let second = f
        .get(&url(&server, "/rss.xml"), &first.validators)
        .await
        .unwrap();
    assert!(matches!(second, Outcome::NotModified { .. }));
    assert_eq!(
        server.last_request_header("/rss.xml", "if-none-match"),
        first.validators.etag
    );
    assert_eq!(server.not_modified("/rss.xml"), 1);
}

#[tokio::test]
async fn the_default_user_agent_names_vigie_and_its_version() {
    let server = FeedServer::start().await;
    server.set("/a", "text/xml", "<rss/>");
    fetcher("")
        .get(&url(&server, "/a"), &Validators::default())
        .await
        .unwrap();
    let ua = server.last_request_header("/a", "user-agent").unwrap();
    assert_eq!(
        ua,
        format!("vigie/{} (feed watcher)", env!("CARGO_PKG_VERSION"))
    );
}

#[tokio::test]
async fn a_body_past_max_body_is_refused() {
    let server = FeedServer::start().await;
    server.set("/big", "application/rss+xml", vec![b' '; 2 * 1024 * 1024]);
    let err = fetcher("max_body = \"1MiB\"")
        .get(&url(&server, "/big"), &Validators::default())
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::TooLarge(1_048_576)), "{err:?}");
}

#[tokio::test]
async fn a_gzip_bomb_is_stopped_at_max_body_decoded_bytes() {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    for _ in 0..64 {
        gz.write_all(&[b'A'; 1024 * 1024]).unwrap();
    }
    let bomb = gz.finish().unwrap();
    assert!(
        bomb.len() < 200 * 1024,
        "64 MiB compress to {} bytes",
        bomb.len()
    );
    let server = FeedServer::start().await;
    server.set("/bomb.xml", "application/rss+xml", bomb);
    server.set_header("/bomb.xml", "content-encoding", "gzip");
    let err = fetcher("max_body = \"1MiB\"")
        .get(&url(&server, "/bomb.xml"), &Validators::default())
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::TooLarge(_)), "{err:?}");
}

#[tokio::test]
async fn a_silent_server_is_stopped_by_the_timeout() {
    let server = FeedServer::start().await;
    server.set("/slow", "application/rss+xml", "<rss/>");
    server.set_delay("/slow", Duration::from_secs(5));
    let err = fetcher("timeout = \"1s\"")
        .get(&url(&server, "/slow"), &Validators::default())
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::Timeout(_)), "{err:?}");
    assert_eq!(err.kind(), "timeout");
}

#[tokio::test]
async fn a_redirect_loop_is_stopped() {
    let server = FeedServer::start().await;
    server.set("/loop", "text/plain", "");
    server.set_status("/loop", 302);
    server.set_header("/loop", "location", "/loop");
    let err = fetcher("")
        .get(&url(&server, "/loop"), &Validators::default())
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::RedirectLoop), "{err:?}");
    assert_eq!(err.kind(), "redirect_loop");
}

#[tokio::test]
async fn error_statuses_and_refused_connections_are_typed() {
    let server = FeedServer::start().await;
    let f = fetcher("");
    let err = f
        .get(&url(&server, "/missing"), &Validators::default())
        .await
        .unwrap_err();
    assert!(
        matches!(err, FetchError::Status { status, .. } if status.as_u16() == 404),
        "{err:?}"
    );
    let port = server.port();
    drop(server);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let closed = url::Url::parse(&format!("http://127.0.0.1:{port}/rss.xml")).unwrap();
    let err = f.get(&closed, &Validators::default()).await.unwrap_err();
    assert!(matches!(err, FetchError::Connect(_)), "{err:?}");
}
