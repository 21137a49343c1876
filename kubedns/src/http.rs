//! HTTP surface of kubedns (legacy shared Go default mux: every listener serves every route).
//!
//! | route | answer |
//! |---|---|
//! | `GET /readiness` | `200 ok\n` once Services and endpoints completed their first list; `503` before that and from the moment shutdown starts |
//! | `GET /cache` | JSON view of the served records (`Store::cache_json`), tab-indented like legacy |
//! | `GET /healthz` | `200 ok\n` while the process serves (liveness; never depends on the API server) |
//! | `GET $PROMETHEUS_PATH` | metrics (only when `PROMETHEUS_PORT` is set) |
//!
//! Listeners: `:--healthz-port` and, when set, `:$PROMETHEUS_PORT`; both are opened at start
//! (legacy opened 8081 only after the sync, see docs for the difference).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::metrics::{CONTENT_TYPE, Metrics};
use crate::store::Store;

/// Readiness state: synced and not shutting down.
#[derive(Debug)]
pub struct Readiness {
    store: Store,
    draining: AtomicBool,
}

impl Readiness {
    /// Readiness for `store`.
    pub fn new(store: Store) -> Arc<Self> {
        Arc::new(Self {
            store,
            draining: AtomicBool::new(false),
        })
    }

    /// Report not-ready from now on (shutdown started).
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Release);
    }

    /// Ready to receive traffic?
    pub fn is_ready(&self) -> bool {
        !self.draining.load(Ordering::Acquire) && self.store.is_synced()
    }
}

/// State shared by the handlers.
#[derive(Clone)]
pub struct HttpState {
    readiness: Arc<Readiness>,
    store: Store,
    metrics: Option<Metrics>,
}

/// Build the router. `metrics` is `Some((path, metrics))` when `PROMETHEUS_PORT` is set.
pub fn router(
    readiness: Arc<Readiness>,
    store: Store,
    metrics: Option<(String, Metrics)>,
) -> Router {
    let mut r = Router::new()
        .route("/readiness", get(readiness_handler))
        .route("/cache", get(cache_handler))
        .route("/healthz", get(healthz_handler));
    let (path, metrics) = match metrics {
        Some((p, m)) => (Some(p), Some(m)),
        None => (None, None),
    };
    if let Some(p) = path {
        r = r.route(&p, get(metrics_handler));
    }
    r.with_state(HttpState {
        readiness,
        store,
        metrics,
    })
}

async fn readiness_handler(State(s): State<HttpState>) -> Response {
    if s.readiness.is_ready() {
        (StatusCode::OK, "ok\n").into_response()
    } else if s.store.is_synced() {
        (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "waiting for initial sync of services and endpoints\n",
        )
            .into_response()
    }
}

async fn healthz_handler() -> &'static str {
    "ok\n"
}

async fn cache_handler(State(s): State<HttpState>) -> Response {
    let value = s.store.cache_json();
    let mut out = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(
        &mut out,
        serde_json::ser::PrettyFormatter::with_indent(b"\t"),
    );
    match value.serialize(&mut ser) {
        Ok(()) => ([(header::CONTENT_TYPE, "application/json")], out).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
    }
}

async fn metrics_handler(State(s): State<HttpState>) -> Response {
    let Some(m) = s.metrics else {
        return StatusCode::NOT_FOUND.into_response();
    };
    match m.encode() {
        Ok(text) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
    }
}

/// Serve `router` on `listener` until `shutdown`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn get_text(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await.unwrap();
        let mut buf = String::new();
        s.read_to_string(&mut buf).await.unwrap();
        let code = buf
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let body = buf
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        (code, body)
    }

    #[tokio::test]
    async fn routes() {
        let store = crate::store::Standalone::new("cluster.local.");
        let readiness = Readiness::new(store.reader());
        let metrics = Metrics::new(|_| {});
        let app = router(
            readiness.clone(),
            store.reader(),
            Some(("/metrics".into(), metrics)),
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let token = CancellationToken::new();
        let server = tokio::spawn(serve(listener, app, token.clone()));

        assert_eq!(get_text(addr, "/readiness").await.0, 503);
        assert_eq!(get_text(addr, "/healthz").await, (200, "ok\n".into()));
        store.set_synced();
        assert_eq!(get_text(addr, "/readiness").await, (200, "ok\n".into()));
        let (code, body) = get_text(addr, "/cache").await;
        assert_eq!(code, 200);
        assert!(
            serde_json::from_str::<serde_json::Value>(&body).is_ok(),
            "{body}"
        );
        let (code, body) = get_text(addr, "/metrics").await;
        assert_eq!(code, 200);
        assert!(
            body.contains("kubedns_dns_programming_latency_seconds"),
            "{body}"
        );
        readiness.start_draining();
        assert_eq!(get_text(addr, "/readiness").await.0, 503);
        assert_eq!(get_text(addr, "/healthz").await.0, 200);
        assert_eq!(get_text(addr, "/nope").await.0, 404);
        token.cancel();
        server.await.unwrap().unwrap();
    }
}
