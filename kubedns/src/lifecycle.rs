//! Process lifecycle: signals and graceful shutdown (house style A6.9, threat B4 row 27).
//!
//! SIGTERM or SIGINT cancels one [`CancellationToken`]. `run` then:
//! 1. reports not-ready at once (`/readiness` → 503) so endpoints controllers drop the pod;
//! 2. keeps answering DNS for the lame-duck period (`--lame-duck`, default 5 s), because clients
//!    and kube-proxy still send traffic while the removal propagates;
//! 3. stops accepting and drains in-flight DNS work within `--drain-timeout`;
//! 4. exits 0.
//!
//! Legacy kube-dns ignored SIGTERM and was SIGKILLed at the end of the grace period.

use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::http::Readiness;

/// Resolves on the first SIGTERM or SIGINT, returning its name.
pub async fn shutdown_signal() -> std::io::Result<&'static str> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    })
}

/// Outcome of [`graceful_shutdown`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drain {
    /// In-flight work finished within the deadline.
    Complete,
    /// The deadline passed first; remaining work was abandoned.
    TimedOut,
}

/// Run the shutdown sequence: not-ready now, serve for `lame_duck`, then cancel `serving` and
/// wait for `drained` at most `drain_timeout`.
pub async fn graceful_shutdown<F: Future>(
    readiness: &Readiness,
    lame_duck: Duration,
    serving: &CancellationToken,
    drained: F,
    drain_timeout: Duration,
) -> Drain {
    readiness.start_draining();
    if !lame_duck.is_zero() {
        tracing::info!(
            ?lame_duck,
            "shutting down: not ready, still answering DNS during lame-duck period"
        );
        tokio::time::sleep(lame_duck).await;
    }
    tracing::info!(
        ?drain_timeout,
        "lame-duck period over: stopping DNS listeners and draining"
    );
    serving.cancel();
    match tokio::time::timeout(drain_timeout, drained).await {
        Ok(_) => Drain::Complete,
        Err(_) => {
            tracing::warn!(
                ?drain_timeout,
                "drain deadline passed; exiting with work in flight"
            );
            Drain::TimedOut
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    #[tokio::test(start_paused = true)]
    async fn sequence_not_ready_then_lame_duck_then_drain() {
        let store = Store::new("cluster.local.");
        store.set_synced();
        let readiness = Readiness::new(store);
        assert!(readiness.is_ready());
        let serving = CancellationToken::new();
        let start = tokio::time::Instant::now();
        let watcher = {
            let serving = serving.clone();
            let readiness = readiness.clone();
            tokio::spawn(async move {
                // Observed during the lame-duck period: not ready, still serving.
                tokio::time::sleep(Duration::from_secs(1)).await;
                assert!(!readiness.is_ready());
                assert!(!serving.is_cancelled());
                serving.cancelled().await;
                tokio::time::Instant::now()
            })
        };
        let drained = {
            let serving = serving.clone();
            async move { serving.cancelled().await }
        };
        let r = graceful_shutdown(
            &readiness,
            Duration::from_secs(5),
            &serving,
            drained,
            Duration::from_secs(5),
        )
        .await;
        assert_eq!(r, Drain::Complete);
        let cancelled_at = watcher.await.unwrap();
        assert_eq!(cancelled_at - start, Duration::from_secs(5));
    }

    #[tokio::test(start_paused = true)]
    async fn drain_deadline() {
        let readiness = Readiness::new(Store::new("cluster.local."));
        let serving = CancellationToken::new();
        let r = graceful_shutdown(
            &readiness,
            Duration::ZERO,
            &serving,
            std::future::pending::<()>(),
            Duration::from_secs(2),
        )
        .await;
        assert_eq!(r, Drain::TimedOut);
        assert!(serving.is_cancelled());
    }
}
