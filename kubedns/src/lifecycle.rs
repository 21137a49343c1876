//! Graceful shutdown of kubedns (house style A6.9, threat B4 row 27), built on the shared
//! [`serverkit::lifecycle`] (signals, lame duck, drain).
//!
//! The first SIGTERM or SIGINT requests a [`Shutdown`]. `run` then:
//! 1. reports not-ready at once (`/readiness` → 503) so endpoints controllers drop the pod;
//! 2. keeps answering DNS for the lame-duck period (`--lame-duck`, default 5 s), because clients
//!    and kube-proxy still send traffic while the removal propagates (a second signal ends it);
//! 3. stops accepting and drains in-flight DNS work within `--drain-timeout`;
//! 4. exits 0.
//!
//! Legacy kube-dns ignored SIGTERM and was SIGKILLed at the end of the grace period.

use std::future::Future;
use std::time::Duration;

use serverkit::lifecycle;
pub use serverkit::lifecycle::{Drain, Shutdown};
use tokio_util::sync::CancellationToken;

use crate::http::Readiness;

/// Run the shutdown sequence once `shutdown` is requested: not-ready now, serve for
/// `lame_duck` (cut short by a second signal), then cancel `serving` and wait for `drained`
/// at most `drain_timeout`.
pub async fn graceful_shutdown<F: Future>(
    shutdown: &Shutdown,
    readiness: &Readiness,
    lame_duck: Duration,
    serving: &CancellationToken,
    drained: F,
    drain_timeout: Duration,
) -> Drain {
    readiness.start_draining();
    lifecycle::lame_duck(shutdown, lame_duck).await;
    tracing::info!("lame-duck period over: stopping DNS listeners");
    serving.cancel();
    lifecycle::drain(drained, drain_timeout).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Standalone;

    #[tokio::test(start_paused = true)]
    async fn sequence_not_ready_then_lame_duck_then_drain() {
        let store = Standalone::new("cluster.local.");
        store.set_synced();
        let readiness = Readiness::new(store.reader());
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
            &Shutdown::new(),
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
        let readiness = Readiness::new(Standalone::new("cluster.local.").reader());
        let serving = CancellationToken::new();
        let r = graceful_shutdown(
            &Shutdown::new(),
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
