//! Server selection and health: the order in which a query's servers are tried.
//! Without `--strict-order`, a server that failed within [`FAILED_SERVER_PENALTY`] is tried
//! after the others (dnsmasq prefers servers that answer); a success clears the mark.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// A server that failed is tried after the others for this long (unless `--strict-order`).
pub const FAILED_SERVER_PENALTY: Duration = Duration::from_secs(10);

/// When each server last failed.
#[derive(Default)]
pub struct ServerHealth {
    failed_at: Mutex<HashMap<SocketAddr, Instant>>,
}

impl ServerHealth {
    /// `servers` in try order: as configured with `strict_order`, else recently failed last
    /// (stable, so the configured order holds within each group).
    pub fn order(&self, servers: &[SocketAddr], strict_order: bool) -> Vec<SocketAddr> {
        let mut v = servers.to_vec();
        if !strict_order {
            let now = Instant::now();
            let failed = self.failed_at.lock().map(|f| f.clone()).unwrap_or_default();
            v.sort_by_key(|s| {
                failed
                    .get(s)
                    .is_some_and(|t| now.saturating_duration_since(*t) < FAILED_SERVER_PENALTY)
            });
        }
        v
    }

    /// `server` answered usefully.
    pub fn succeeded(&self, server: SocketAddr) {
        if let Ok(mut f) = self.failed_at.lock() {
            f.remove(&server);
        }
    }

    /// `server` failed (timeout, bad reply, SERVFAIL or REFUSED).
    pub fn failed(&self, server: SocketAddr) {
        if let Ok(mut f) = self.failed_at.lock() {
            f.insert(server, Instant::now());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn failed_servers_go_last_for_the_penalty() {
        let h = ServerHealth::default();
        let servers = [sa("10.0.0.1:53"), sa("10.0.0.2:53"), sa("10.0.0.3:53")];
        h.failed(servers[0]);
        assert_eq!(
            h.order(&servers, false),
            [servers[1], servers[2], servers[0]]
        );
        assert_eq!(
            h.order(&servers, true),
            servers,
            "--strict-order keeps the order"
        );
        tokio::time::advance(FAILED_SERVER_PENALTY).await;
        assert_eq!(h.order(&servers, false), servers, "penalty over");
        h.failed(servers[1]);
        h.succeeded(servers[1]);
        assert_eq!(
            h.order(&servers, false),
            servers,
            "a success clears the mark"
        );
    }
}
