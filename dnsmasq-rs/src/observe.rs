//! Observability endpoints: statistics logged on SIGUSR1 and every `-logInterval` (as
//! dnsmasq does), and the optional Prometheus `/metrics` endpoint.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::engine::Engine;

/// Logs statistics on SIGUSR1 and every `log_interval` (if non-zero).
pub async fn stats_logger(engine: Arc<Engine>, log_interval: Duration, cancel: CancellationToken) {
    let mut usr1 =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::user_defined1()).ok();
    loop {
        let tick = async {
            if log_interval.is_zero() {
                std::future::pending::<()>().await
            } else {
                tokio::time::sleep(log_interval).await
            }
        };
        let sig = async {
            match usr1.as_mut() {
                Some(s) => {
                    s.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tick => {}
            _ = sig => {}
        }
        let cfg = engine.config();
        tracing::info!(
            "{}",
            engine
                .stats()
                .log_line(engine.cache().capacity(), &cfg.all_upstreams())
        );
    }
}

/// Serves `/metrics` (Prometheus text) on a pre-bound listener.
pub async fn serve_metrics(engine: Arc<Engine>, listener: TcpListener, cancel: CancellationToken) {
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let engine = Arc::clone(&engine);
            async move { engine.stats().prometheus(engine.cache().capacity()) }
        }),
    );
    let _ = axum::serve(listener, app)
        .with_graceful_shutdown(async move { cancel.cancelled().await })
        .await;
}
