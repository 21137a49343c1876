//! The request log: every API request the emulator received (admin paths excluded), in
//! arrival order, with the tokio clock's time of arrival — so tests on paused time can check
//! retry intervals exactly — bounded to the newest [`REQUEST_LOG_CAPACITY`] entries.

use std::collections::VecDeque;
use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

/// Entries kept; older ones are dropped first.
pub const REQUEST_LOG_CAPACITY: usize = 4096;

/// One received API request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    /// Arrival on the tokio clock (paused in tests).
    pub at: Instant,
    /// HTTP method.
    pub method: String,
    /// Request path.
    pub path: String,
    /// Raw query string (empty when none).
    pub query: String,
}

impl RequestRecord {
    /// Whether the request asked for a watch (`watch=true|1` or the legacy `/watch/` prefix).
    pub fn is_watch(&self) -> bool {
        self.path.contains("/watch/")
            || self
                .query
                .split('&')
                .any(|p| p == "watch=true" || p == "watch=1")
    }

    /// Whether this is a GET of `path` that lists (not a watch).
    pub fn is_list_of(&self, path: &str) -> bool {
        self.method == "GET" && self.path == path && !self.is_watch()
    }

    /// Whether this asks for the whole state of `path`: a LIST, or a watch-list
    /// (`sendInitialEvents=true`) — what a client does at start and after a 410, and what a
    /// relist storm is made of.
    pub fn asks_initial_state_of(&self, path: &str) -> bool {
        self.is_list_of(path)
            || (self.is_watch_of(path)
                && self.query.split('&').any(|p| p == "sendInitialEvents=true"))
    }

    /// Whether this is a watch of `path`.
    pub fn is_watch_of(&self, path: &str) -> bool {
        self.path == path && self.is_watch()
    }
}

/// JSON form of a record (`GET /_emulator/requests`).
#[derive(Debug, Serialize)]
pub struct RecordView {
    /// Milliseconds since the emulator started.
    pub at_ms: u64,
    /// HTTP method.
    pub method: String,
    /// Path.
    pub path: String,
    /// Raw query.
    pub query: String,
    /// Whether it asked for a watch.
    pub watch: bool,
}

/// Bounded log of received requests.
#[derive(Debug)]
pub struct RequestLog {
    origin: Instant,
    entries: VecDeque<RequestRecord>,
}

impl Default for RequestLog {
    fn default() -> Self {
        RequestLog {
            origin: Instant::now(),
            entries: VecDeque::new(),
        }
    }
}

impl RequestLog {
    /// Appends a request received now.
    pub fn record(&mut self, method: &str, path: &str, query: Option<&str>) {
        if self.entries.len() == REQUEST_LOG_CAPACITY {
            self.entries.pop_front();
        }
        self.entries.push_back(RequestRecord {
            at: Instant::now(),
            method: method.to_string(),
            path: path.to_string(),
            query: query.unwrap_or_default().to_string(),
        });
    }

    /// The kept records, oldest first.
    pub fn records(&self) -> Vec<RequestRecord> {
        self.entries.iter().cloned().collect()
    }

    /// The JSON view.
    pub fn view(&self) -> Vec<RecordView> {
        self.entries
            .iter()
            .map(|r| RecordView {
                at_ms: as_millis(r.at.saturating_duration_since(self.origin)),
                method: r.method.clone(),
                path: r.path.clone(),
                query: r.query.clone(),
                watch: r.is_watch(),
            })
            .collect()
    }
}

fn as_millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn records_arrival_times_and_kinds_and_stays_bounded() {
        let mut log = RequestLog::default();
        log.record("GET", "/api/v1/services", None);
        tokio::time::advance(Duration::from_millis(800)).await;
        log.record(
            "GET",
            "/api/v1/services",
            Some("watch=true&resourceVersion=5"),
        );
        log.record("GET", "/api/v1/watch/endpoints", None);
        log.record(
            "GET",
            "/api/v1/services",
            Some("watch=1&sendInitialEvents=true"),
        );
        let r = log.records();
        assert!(r[0].asks_initial_state_of("/api/v1/services"));
        assert!(!r[1].asks_initial_state_of("/api/v1/services"));
        assert!(r[3].asks_initial_state_of("/api/v1/services"));
        assert!(r[0].is_list_of("/api/v1/services") && !r[0].is_watch());
        assert!(r[1].is_watch_of("/api/v1/services"));
        assert!(r[2].is_watch());
        assert_eq!(r[1].at - r[0].at, Duration::from_millis(800));
        assert_eq!(log.view()[1].at_ms, 800);
        for _ in 0..REQUEST_LOG_CAPACITY {
            // fill it up: the first four are dropped
            log.record("GET", "/api", None);
        }
        assert_eq!(log.records().len(), REQUEST_LOG_CAPACITY);
        assert!(log.records().iter().all(|r| r.path == "/api"));
    }
}
