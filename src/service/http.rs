//! The listener of `daemon.listen`: `GET /healthz` (200 when the scheduler
//! loop beats and the state answers, 503 with the reasons otherwise) and
//! `GET /metrics` (Prometheus text format). Reads the loop's
//! [`Heartbeat`], the store and the config in force; writes nothing.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::Heartbeat;
use super::telemetry;
use crate::config::Config;
use crate::store::Store;

/// How long `/healthz` waits for the state to answer a query.
const STATE_WAIT: Duration = Duration::from_secs(5);

/// What the handlers read.
pub struct Probe {
    pub store: Arc<dyn Store>,
    /// The SQLite file: a file deleted or moved under a running daemon is
    /// still written through its open descriptors, and lost at the next
    /// start, so its path is checked too.
    pub state_path: PathBuf,
    pub heartbeat: Heartbeat,
    pub metrics: Option<PrometheusHandle>,
    /// The config in force, replaced at each reload.
    pub config: watch::Receiver<Arc<Config>>,
}

/// Binds `addr`; the caller logs the address really bound (port 0 picks
/// one).
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

/// Serves `/healthz` and `/metrics` on `listener` until `stop`.
pub fn serve(listener: TcpListener, probe: Probe, stop: CancellationToken) -> JoinHandle<()> {
    let app = Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .with_state(Arc::new(probe));
    tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "the health and metrics listener failed");
        }
    })
}

async fn healthz(State(probe): State<Arc<Probe>>) -> Response {
    let mut problems = Vec::new();
    if probe.heartbeat.is_stopping() {
        problems.push("vigie is stopping".to_string());
    }
    let age = probe.heartbeat.age();
    if age > probe.heartbeat.limit() {
        problems.push(format!(
            "the scheduler loop has not run for {} s",
            age.as_secs()
        ));
    }
    let state = match state_reachable(&probe).await {
        Ok(()) => "reachable",
        Err(problem) => {
            problems.push(problem);
            "unreachable"
        }
    };
    let body = serde_json::json!({
        "status": if problems.is_empty() { "ok" } else { "unhealthy" },
        "loop": if age > probe.heartbeat.limit() { "stalled" } else { "alive" },
        "state": state,
        "problems": problems,
    });
    let status = if problems.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        [(header::CACHE_CONTROL, "no-store")],
        axum::Json(body),
    )
        .into_response()
}

/// The state file is where the config says and answers a query.
async fn state_reachable(probe: &Probe) -> Result<(), String> {
    let path = &probe.state_path;
    match tokio::fs::metadata(path).await {
        Ok(m) if m.is_file() => {}
        Ok(_) => return Err(format!("state {} is not a file", path.display())),
        Err(e) => return Err(format!("cannot reach the state {}: {e}", path.display())),
    }
    match tokio::time::timeout(STATE_WAIT, probe.store.outbox_counts()).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(format!("the state does not answer: {e}")),
        Err(_) => Err(format!(
            "the state did not answer within {} s",
            STATE_WAIT.as_secs()
        )),
    }
}

async fn metrics(State(probe): State<Arc<Probe>>) -> Response {
    let Some(handle) = &probe.metrics else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "metrics are unavailable: another metrics recorder was installed first\n",
        )
            .into_response();
    };
    let config = probe.config.borrow().clone();
    let text = telemetry::render(handle, probe.store.as_ref(), &config).await;
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}
