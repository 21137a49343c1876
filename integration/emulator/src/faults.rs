//! Fault injection state shared by the HTTP layer: error windows, RBAC-style 403s per
//! resource, resources a server does not serve (404), requests held unanswered (a hung API),
//! forced 410s and 500s on upcoming watches, added latency. Connection refusal and watch
//! closing are driven from [`super::Emulator`] because they act on sockets and streams.

use std::collections::BTreeSet;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

/// The [`Faults::hang`] entry that holds every API request.
pub const HANG_ALL: &str = "*";

/// How an outage manifests to clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutageMode {
    /// Every API request gets `500 InternalError`.
    Error500,
    /// The listening socket is closed (connect fails with ECONNREFUSED) and open
    /// connections, including watches, are cut.
    Refuse,
}

/// Current fault settings.
#[derive(Debug, Default)]
pub struct Faults {
    /// Answer 500 until this instant.
    pub error_until: Option<Instant>,
    /// Plurals (e.g. `endpointslices`) answered with 403 Forbidden.
    pub forbidden: BTreeSet<String>,
    /// Plurals answered as a server that does not serve their group/version answers (for
    /// `endpointslices`, a cluster older than 1.21): plain-text `404 page not found`.
    pub unserved: BTreeSet<String>,
    /// Plurals whose requests are accepted and held unanswered until the fault is lifted;
    /// [`HANG_ALL`] holds every API request (discovery included).
    pub hang: BTreeSet<String>,
    /// Number of upcoming watches that get an immediate 410 Gone ERROR event.
    pub gone_next_watches: u32,
    /// Restrict forced 410s to one plural (None = any resource).
    pub gone_resource: Option<String>,
    /// Number of upcoming watch requests answered `500 InternalError` (the request fails;
    /// no stream is opened), as kube-apiserver does when etcd times out.
    pub error_next_watches: u32,
    /// Restrict forced watch 500s to one plural (None = any resource).
    pub error_watch_resource: Option<String>,
    /// Delay added before every API request.
    pub latency: Duration,
}

/// JSON view of the fault state (`GET /_emulator/faults`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct FaultsView {
    /// Milliseconds left in a 500 window.
    pub error_ms_left: u64,
    /// Milliseconds left in a refuse window.
    pub refuse_ms_left: u64,
    /// Forbidden plurals.
    pub forbidden: Vec<String>,
    /// Plurals answered with 404 as if not served.
    #[serde(default)]
    pub unserved: Vec<String>,
    /// Plurals whose requests hang (`*` = every API request).
    #[serde(default)]
    pub hang: Vec<String>,
    /// Pending forced 410s.
    pub gone_next_watches: u32,
    /// Pending forced watch 500s.
    #[serde(default)]
    pub error_next_watches: u32,
    /// Added latency in milliseconds.
    pub latency_ms: u64,
}

impl Faults {
    /// Whether the 500 window is active.
    pub fn erroring(&self, now: Instant) -> bool {
        self.error_until.is_some_and(|t| t > now)
    }

    /// Whether a request on `plural` (None: not a resource path, e.g. discovery) is held.
    pub fn hangs(&self, plural: Option<&str>) -> bool {
        self.hang.contains(HANG_ALL) || plural.is_some_and(|p| self.hang.contains(p))
    }

    /// Consumes one forced 410 if one is pending for `plural`.
    pub fn take_gone(&mut self, plural: &str) -> bool {
        take(
            &mut self.gone_next_watches,
            self.gone_resource.as_deref(),
            plural,
        )
    }

    /// Consumes one forced watch 500 if one is pending for `plural`.
    pub fn take_watch_error(&mut self, plural: &str) -> bool {
        take(
            &mut self.error_next_watches,
            self.error_watch_resource.as_deref(),
            plural,
        )
    }

    /// The JSON view, given the refuse window end.
    pub fn view(&self, now: Instant, refuse_until: Option<Instant>) -> FaultsView {
        let left = |t: Option<Instant>| {
            t.map_or(0, |t| t.saturating_duration_since(now).as_millis() as u64)
        };
        FaultsView {
            error_ms_left: left(self.error_until),
            refuse_ms_left: left(refuse_until),
            forbidden: self.forbidden.iter().cloned().collect(),
            unserved: self.unserved.iter().cloned().collect(),
            hang: self.hang.iter().cloned().collect(),
            gone_next_watches: self.gone_next_watches,
            error_next_watches: self.error_next_watches,
            latency_ms: self.latency.as_millis() as u64,
        }
    }
}

/// Consumes one of `pending` forced faults when `only` (None = any) matches `plural`.
fn take(pending: &mut u32, only: Option<&str>, plural: &str) -> bool {
    if *pending > 0 && only.is_none_or(|r| r == plural) {
        *pending -= 1;
        true
    } else {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forced_gone_is_consumed_per_resource() {
        let mut f = Faults {
            gone_next_watches: 2,
            gone_resource: Some("services".into()),
            ..Faults::default()
        };
        assert!(!f.take_gone("endpoints"));
        assert!(f.take_gone("services"));
        assert!(f.take_gone("services"));
        assert!(!f.take_gone("services"));
    }

    #[test]
    fn forced_watch_errors_are_consumed_and_counted_apart_from_gone() {
        let mut f = Faults {
            error_next_watches: 1,
            gone_next_watches: 1,
            ..Faults::default()
        };
        assert!(f.take_watch_error("endpoints"));
        assert!(!f.take_watch_error("services"));
        assert!(f.take_gone("services"));
        assert_eq!(f.view(Instant::now(), None).error_next_watches, 0);
    }

    #[test]
    fn hang_by_resource_or_everything() {
        let mut f = Faults::default();
        f.hang.insert("endpoints".into());
        assert!(f.hangs(Some("endpoints")));
        assert!(!f.hangs(Some("services")));
        assert!(!f.hangs(None), "discovery is not a resource path");
        f.hang.insert(HANG_ALL.into());
        assert!(f.hangs(None) && f.hangs(Some("services")));
    }

    #[tokio::test(start_paused = true)]
    async fn error_window_expires() {
        let now = Instant::now();
        let f = Faults {
            error_until: Some(now + Duration::from_secs(2)),
            ..Faults::default()
        };
        assert!(f.erroring(now));
        tokio::time::advance(Duration::from_secs(3)).await;
        assert!(!f.erroring(Instant::now()));
        assert_eq!(f.view(Instant::now(), None).error_ms_left, 0);
    }
}
