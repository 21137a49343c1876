//! Process lifecycle shared by the servers: signals, the lame-duck period and the drain
//! (house style A6.9, threat B4 row 27).
//!
//! The sequence every binary follows:
//! 1. the first SIGTERM or SIGINT requests shutdown ([`Shutdown::requested`]); the binary
//!    turns not-ready where it has a readiness probe;
//! 2. it keeps answering for the lame-duck period ([`lame_duck`]), because clients and
//!    kube-proxy still send traffic while the endpoint removal propagates; a second signal
//!    ends the period at once (an operator's second Ctrl-C), the drain deadline still holds;
//! 3. it stops accepting and waits for in-flight work at most the drain timeout ([`drain`]);
//! 4. it exits 0.
//!
//! Kubernetes sends one SIGTERM and, after the grace period, SIGKILL; SIGINT is Ctrl-C.

use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// A shutdown request and its "hurry" (end the lame-duck period) escalation, shared by the
/// signal watcher and the serving code. Cloning shares the state.
#[derive(Debug, Clone, Default)]
pub struct Shutdown {
    requested: CancellationToken,
    hurry: CancellationToken,
}

impl From<CancellationToken> for Shutdown {
    /// A request driven by an existing token (tests, embedders); it never hurries.
    fn from(requested: CancellationToken) -> Self {
        Shutdown {
            requested,
            hurry: CancellationToken::new(),
        }
    }
}

impl Shutdown {
    /// Nothing requested yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// A signal arrived: the first requests shutdown, any later one ends the lame-duck period.
    pub fn signal(&self, name: &'static str) {
        if self.requested.is_cancelled() {
            tracing::info!(signal = name, "second signal: ending the lame-duck period");
            self.hurry.cancel();
        } else {
            tracing::info!(signal = name, "shutdown requested");
            self.requested.cancel();
        }
    }

    /// Request shutdown (as the first signal does).
    pub fn request(&self) {
        self.requested.cancel();
    }

    /// Whether shutdown was requested.
    pub fn is_requested(&self) -> bool {
        self.requested.is_cancelled()
    }

    /// Resolves once shutdown is requested.
    pub async fn requested(&self) {
        self.requested.cancelled().await;
    }

    /// Resolves once a second signal asked to end the lame-duck period.
    pub async fn hurried(&self) {
        self.hurry.cancelled().await;
    }
}

/// Installs SIGTERM and SIGINT handlers now (so a signal arriving at any later moment is
/// seen, even during startup) and feeds them into `shutdown` from a background task.
pub fn watch_signals(shutdown: &Shutdown) -> std::io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let shutdown = shutdown.clone();
    tokio::spawn(async move {
        loop {
            let name = tokio::select! {
                Some(()) = term.recv() => "SIGTERM",
                Some(()) = int.recv() => "SIGINT",
                else => return,
            };
            shutdown.signal(name);
        }
    });
    Ok(())
}

/// The lame-duck period: returns after `period`, or at once when `shutdown` is hurried
/// (a second signal). Call it once shutdown is requested.
pub async fn lame_duck(shutdown: &Shutdown, period: Duration) {
    if period.is_zero() {
        return;
    }
    tracing::info!(
        ?period,
        "shutting down: still answering during the lame-duck period"
    );
    tokio::select! {
        _ = tokio::time::sleep(period) => {}
        _ = shutdown.hurried() => {}
    }
}

/// Outcome of [`drain`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drain {
    /// In-flight work finished within the deadline.
    Complete,
    /// The deadline passed first; the remaining work is abandoned.
    TimedOut,
}

/// Waits for `drained` (in-flight work finishing) at most `timeout`.
pub async fn drain<F: Future>(drained: F, timeout: Duration) -> Drain {
    tracing::info!(?timeout, "stopped accepting queries; draining");
    match tokio::time::timeout(timeout, drained).await {
        Ok(_) => {
            tracing::info!("drained");
            Drain::Complete
        }
        Err(_) => {
            tracing::warn!(
                ?timeout,
                "drain deadline passed; exiting with work in flight"
            );
            Drain::TimedOut
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::time::Instant;

    #[tokio::test(start_paused = true)]
    async fn lame_duck_runs_its_period() {
        let s = Shutdown::new();
        s.signal("SIGTERM");
        assert!(s.is_requested());
        let start = Instant::now();
        lame_duck(&s, Duration::from_secs(5)).await;
        assert_eq!(start.elapsed(), Duration::from_secs(5));
    }

    #[tokio::test(start_paused = true)]
    async fn second_signal_or_zero_period_ends_it_at_once() {
        let s = Shutdown::new();
        s.signal("SIGTERM");
        let period = tokio::spawn({
            let s = s.clone();
            async move {
                let start = Instant::now();
                lame_duck(&s, Duration::from_secs(5)).await;
                start.elapsed()
            }
        });
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(!period.is_finished(), "still in the lame-duck period");
        s.signal("SIGINT");
        assert_eq!(period.await.unwrap(), Duration::from_secs(1));

        let start = Instant::now();
        lame_duck(&Shutdown::new(), Duration::ZERO).await;
        assert_eq!(start.elapsed(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn token_driven_request_never_hurries() {
        let token = CancellationToken::new();
        let s = Shutdown::from(token.clone());
        assert!(!s.is_requested());
        token.cancel();
        s.requested().await;
        let start = Instant::now();
        lame_duck(&s, Duration::from_secs(3)).await;
        assert_eq!(start.elapsed(), Duration::from_secs(3));
    }

    #[tokio::test(start_paused = true)]
    async fn drain_completes_or_times_out() {
        let start = Instant::now();
        let r = drain(
            tokio::time::sleep(Duration::from_secs(1)),
            Duration::from_secs(5),
        )
        .await;
        assert_eq!(
            (r, start.elapsed()),
            (Drain::Complete, Duration::from_secs(1))
        );
        let start = Instant::now();
        let r = drain(std::future::pending::<()>(), Duration::from_secs(2)).await;
        assert_eq!(
            (r, start.elapsed()),
            (Drain::TimedOut, Duration::from_secs(2))
        );
    }
}
