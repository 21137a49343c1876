//! `healthz`: the kube-dns health sidecar. Speaks two legacy dialects, chosen from the
//! command line ([`cli`], on the shared [`flags`] layer): the k8s-dns-sidecar ([`sidecar`]:
//! DNS probes, `/healthcheck/<label>`, dnsmasq statistics, Prometheus metrics) and exechealthz
//! ([`exec`]: command-backed health URLs, with `nslookup` commands run natively).
//!
//! [`run`] serves one configuration on a pre-bound listener until the cancellation
//! token fires. Nothing here talks to the API server or to upstream resolvers.

pub mod cli;
pub mod dns;
pub mod exec;
pub mod flags;
pub mod gotime;
pub mod metrics;
pub mod sidecar;

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use dns::{SharedExchanger, UdpExchanger};
pub use exec::ExecConfig;
pub use sidecar::SidecarConfig;

/// Version printed by `--version` / `-version`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// After shutdown is requested, in-flight HTTP requests and tasks get this long.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// What to serve.
#[derive(Clone, Debug)]
pub enum Config {
    /// k8s-dns-sidecar dialect.
    Sidecar(SidecarConfig),
    /// exechealthz dialect.
    Exec(ExecConfig),
}

/// Library error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The HTTP server failed.
    #[error("http server: {0}")]
    Serve(#[from] std::io::Error),
}

/// Serves `config` on `listener` with the real UDP transport until `shutdown`.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), Error> {
    run_with_exchanger(
        config,
        listener,
        shutdown,
        Arc::new(UdpExchanger::default()),
    )
    .await
}

/// [`run`] with an injected DNS transport (tests use in-process fakes).
pub async fn run_with_exchanger(
    config: Config,
    listener: TcpListener,
    shutdown: CancellationToken,
    exchanger: SharedExchanger,
) -> Result<(), Error> {
    let tracker = TaskTracker::new();
    let router = match config {
        Config::Sidecar(cfg) => {
            let state = Arc::new(sidecar::Sidecar::new(cfg));
            state.spawn_tasks(&tracker, &exchanger, &shutdown);
            state.router()
        }
        Config::Exec(cfg) => {
            let state = Arc::new(exec::ExecServer::new(cfg, shutdown.clone()));
            state.spawn_tasks(&tracker, &exchanger);
            state.router()
        }
    };
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "serving HTTP");
    }
    let serve = axum::serve(listener, router)
        .with_graceful_shutdown(shutdown.clone().cancelled_owned())
        .into_future();
    let grace = async {
        shutdown.cancelled().await;
        tokio::time::sleep(SHUTDOWN_GRACE).await;
    };
    let result = tokio::select! {
        r = serve => r,
        () = grace => {
            tracing::warn!("HTTP connections still open after the grace period; closing");
            Ok(())
        }
    };
    shutdown.cancel();
    tracker.close();
    if tokio::time::timeout(SHUTDOWN_GRACE, tracker.wait())
        .await
        .is_err()
    {
        tracing::warn!("background tasks did not stop within the grace period");
    }
    result.map_err(Error::Serve)
}
