//! Local fixture servers and fixture files for the integration tests.
//!
//! Every server listens on `127.0.0.1`, on a port chosen by the system unless
//! the test asks for one (`start_on`, to bring a "down" server back on the
//! same address). A server is stopped when it is dropped: its listener is
//! closed and its open connections are cut, so a client's pooled keep-alive
//! connection cannot reach a server the test has stopped. `stop().await` does
//! the same and waits until it is done.
//!
//! Each integration test uses only a part of this module.
#![allow(dead_code)]

pub mod hazard;
pub mod http;
pub mod smtp;
pub mod webhook;

// Re-exports a given test does not use would otherwise warn.
#[allow(unused_imports)]
pub use self::hazard::HazardServer;
#[allow(unused_imports)]
pub use self::http::FeedServer;
#[allow(unused_imports)]
pub use self::smtp::{Fault, ParsedMail, SmtpMessage, SmtpServer, parse};
#[allow(unused_imports)]
pub use self::webhook::{Received, WebhookReceiver};

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Path of `tests/fixtures/NAME`.
pub fn fixture_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("fixtures")
        .join(name)
}

/// Bytes of `tests/fixtures/NAME`, exactly as stored (some are not UTF-8).
pub fn fixture(name: &str) -> Vec<u8> {
    let path = fixture_path(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read fixture {}: {e}", path.display()))
}

/// Text of `tests/fixtures/NAME`; panics if the file is not UTF-8.
pub fn fixture_str(name: &str) -> String {
    String::from_utf8(fixture(name)).unwrap_or_else(|_| panic!("fixture {name} is not UTF-8"))
}

/// Locks a mutex, ignoring poisoning: a panicking test must not turn every
/// later request into a second panic inside the server.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Binds `127.0.0.1:port` (0 = any free port). A fixed port may still be
/// held for a moment by a server that was just dropped, so retry briefly.
async fn bind(port: u16) -> TcpListener {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut tries = 0;
    loop {
        match TcpListener::bind(addr).await {
            Ok(listener) => return listener,
            Err(_) if port != 0 && tries < 100 => {
                tries += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => panic!("cannot bind {addr}: {e}"),
        }
    }
}

/// A running server: its accept loop, and the signal that stops the
/// connections it accepted. Dropped = stopped.
struct ServerTask {
    accept: JoinHandle<()>,
    stop: watch::Sender<bool>,
}

impl ServerTask {
    fn new(accept: JoinHandle<()>, stop: watch::Sender<bool>) -> Self {
        Self { accept, stop }
    }

    /// Stops accepting, cuts open connections, and waits (at most a few
    /// seconds) until the listener and every connection are closed.
    async fn stop(mut self) {
        self.stop.send_replace(true);
        self.accept.abort();
        let _ = (&mut self.accept).await;
        let _ = tokio::time::timeout(Duration::from_secs(5), self.stop.closed()).await;
    }
}

impl Drop for ServerTask {
    fn drop(&mut self) {
        self.stop.send_replace(true);
        self.accept.abort();
    }
}

/// A future that completes when the server is stopped (or dropped).
async fn stopped(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|stop| *stop).await;
}

/// A TCP connection that reads EOF and fails writes once its server is
/// stopped, so that axum's connection task ends and closes the socket.
struct StoppableStream {
    inner: TcpStream,
    stop: Pin<Box<dyn Future<Output = ()> + Send>>,
    stopped: bool,
}

impl StoppableStream {
    fn new(inner: TcpStream, rx: watch::Receiver<bool>) -> Self {
        Self {
            inner,
            stop: Box::pin(stopped(rx)),
            stopped: false,
        }
    }

    fn is_stopped(&mut self, cx: &mut Context<'_>) -> bool {
        if !self.stopped && self.stop.as_mut().poll(cx).is_ready() {
            self.stopped = true;
            // Drop the receiver now, so `ServerTask::stop` sees it closed.
            self.stop = Box::pin(std::future::ready(()));
        }
        self.stopped
    }
}

impl AsyncRead for StoppableStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.is_stopped(cx) {
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for StoppableStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.is_stopped(cx) {
            return Poll::Ready(Err(io::ErrorKind::ConnectionAborted.into()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// An axum listener whose connections are cut when the server stops.
struct StoppableListener {
    inner: TcpListener,
    stop: watch::Receiver<bool>,
}

impl axum::serve::Listener for StoppableListener {
    type Io = StoppableStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.inner.accept().await {
                Ok((stream, addr)) => {
                    return (StoppableStream::new(stream, self.stop.clone()), addr);
                }
                // Out of file descriptors and the like: wait, never print.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// Serves `router` on `127.0.0.1:port` (0 = any free port).
async fn serve_axum(port: u16, router: axum::Router) -> (SocketAddr, ServerTask) {
    let listener = bind(port).await;
    let addr = listener.local_addr().expect("local_addr");
    let (stop, rx) = watch::channel(false);
    let listener = StoppableListener {
        inner: listener,
        stop: rx,
    };
    let accept = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    (addr, ServerTask::new(accept, stop))
}
