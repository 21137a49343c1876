//! The one watch driver of kubedns: a resource's list-then-watch loop, with the initial state
//! streamed item by item. Services, EndpointSlices/Endpoints, the kube-dns ConfigMap and
//! Nodes all run through it, with the same backoff, relist and error logging; only the
//! per-kind conversion ([`Convert`]) and what an applied change does ([`Sink`]) differ.
//!
//! kube-runtime's `watcher` lists with `Api::list`, which holds the whole response as text
//! and then as a `Vec<K>`; with a `resourceVersion=0` list served unpaginated by a pre-1.33
//! watch cache that is the entire cluster at once. This loop keeps kube-rs for the client,
//! auth, requests and watch-event decoding and replaces only how the initial state arrives:
//!
//! 1. **Watch-list** (`sendInitialEvents=true`, KEP-3157) where the server supports it (its
//!    `/version` is at least 1.[`WATCH_LIST_MIN_MINOR`]): the
//!    initial state comes as ADDED events, one object per line, until the BOOKMARK annotated
//!    `k8s.io/initial-events-end`; the same stream then carries the changes. A server that
//!    rejects the parameter (4xx other than 403/410/429), or that answers with anything but
//!    ADDED events before that bookmark (it ignored the parameter; an ERROR event counts), or
//!    sends nothing within
//!    [`WATCH_LIST_FIRST_EVENT`], is remembered as not supporting it.
//! 2. Otherwise a **streamed LIST** ([`super::list`]) with `resourceVersion=0&limit=`
//!    [`LIST_PAGE_SIZE`], as client-go's reflector sends it: served from the API server's watch
//!    cache, which before 1.33 ignores the limit and returns everything at once; a server that
//!    paginates is followed through `continue`. Each item is converted as it is parsed; then a
//!    watch from the list's resourceVersion.
//!
//! Either way every item goes through [`WatchMachine`] as `Init`/`InitApply`/`InitDone`, so
//! the sink receives one atomic `Replace` of compact items (the live zone is untouched until
//! then); only compact items are buffered during a relist. Watch errors: 410 Gone (event or
//! status) → relist; anything else → logged, counted, re-watch from the last resourceVersion
//! after a backoff ([`BACKOFF_START`] doubling to [`BACKOFF_MAX`], each wait jittered
//! uniformly over [d, 2d)).
//!
//! This module holds the relist loop and the step → sink/metrics/readiness hand-over;
//! `initial` the streamed LIST, `stream` one watch stream and the re-watch loop, `apply`
//! what follows each step (sink, latency, gauges, readiness) and the error log.

use std::fmt::Debug;
use std::time::Duration;

use kube::api::{ListParams, WatchParams};
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;
use tokio_util::sync::CancellationToken;

use super::machine::{Convert, StoreOp, WatchMachine};
use crate::metrics::WatchMetrics;

mod apply;
mod initial;
mod stream;

pub use apply::{TRIGGER_TIME_ANNOTATION, change_time};

/// Try watch-list (`sendInitialEvents`) first; the reflector falls back to a streamed LIST
/// for a server that does not support it.
pub const USE_WATCH_LIST: bool = true;
/// `limit` of the initial LIST (kube-runtime's default page size). A pre-1.33 watch cache
/// ignores it for `resourceVersion=0`.
pub const LIST_PAGE_SIZE: u32 = 500;
/// `timeoutSeconds` of each watch request (kube-runtime's default: 290 s).
pub const WATCH_TIMEOUT_SECS: u32 = 290;
/// First retry delay after an error.
pub const BACKOFF_START: Duration = Duration::from_millis(800);
/// Longest retry delay.
pub const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// A watch-list stream that sends nothing for this long is taken as unsupported.
pub const WATCH_LIST_FIRST_EVENT: Duration = Duration::from_secs(10);
/// A watch that ends sooner than this (without an error) is retried after the backoff.
pub const MIN_WATCH: Duration = Duration::from_secs(1);
/// How long the `/version` probe deciding about watch-list may take.
pub const VERSION_PROBE_TIMEOUT: Duration = Duration::from_secs(5);
/// Oldest server minor version watch-list is tried with (1.32: WatchList beta, on by default).
pub const WATCH_LIST_MIN_MINOR: u32 = 32;
/// Annotation of the BOOKMARK that ends the initial events of a watch-list.
pub const INITIAL_EVENTS_END: &str = "k8s.io/initial-events-end";

/// What one watched kind does with the operations its [`WatchMachine`] produces: the
/// per-kind part of this driver.
pub trait Sink<T, K> {
    /// Apply one operation (an upsert, a delete, or the atomic result of a relist).
    fn apply_op(&mut self, op: StoreOp<T, K>);
}

/// Everything one resource's loop works with.
pub struct Reflector<S, F> {
    /// API client.
    pub client: Client,
    /// Metric/log label.
    pub resource: &'static str,
    /// Where the compact items go (the record store, the config updater, the federation
    /// zone): the one per-kind part of the loop.
    pub sink: S,
    /// Field selector of every LIST and watch (`metadata.name=<n>` for the one ConfigMap).
    pub fields: Option<String>,
    /// Observe `kubedns_dns_programming_duration_seconds` for applied changes (the records
    /// of Services and endpoints; not config or node changes).
    pub observe_latency: bool,
    /// Watch metrics.
    pub metrics: WatchMetrics,
    /// Called once, at the first complete initial state.
    pub on_first_sync: Option<F>,
    /// Use watch-list until the server shows it does not support it.
    pub watch_list: bool,
}

/// How a watch stream ended.
enum WatchEnd {
    /// 410 Gone: the resourceVersion is compacted; relist.
    Gone,
    /// Closed or failed: re-watch from the last resourceVersion.
    Rewatch { error: bool },
    /// A watch-list turned out unsupported before its initial events ended.
    NoWatchList,
    /// A watch-list stream was cut (or failed) before its initial events ended: start over.
    InitialCut,
}

/// Step of the backoff.
fn next_backoff(d: Duration) -> Duration {
    (d * 2).min(BACKOFF_MAX)
}

/// The wait for backoff step `d` given `u` uniform in [0, 1): uniform in [d, 2d), as
/// kube-runtime's watcher backoff, so replicas cut off by the same API outage do not retry in
/// step.
fn jittered(d: Duration, u: f64) -> Duration {
    d + d.mul_f64(u.clamp(0.0, 1.0))
}

fn is_gone(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 410)
}

/// A rejection meaning "this server does not do watch-list".
fn rejects_watch_list(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if (400..500).contains(&s.code) && ![403, 410, 429].contains(&s.code))
}

impl<S, F: FnOnce() + Send> Reflector<S, F> {
    /// Run until `shutdown`.
    pub async fn run<K, C>(mut self, api: Api<K>, shutdown: CancellationToken)
    where
        K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + 'static,
        C: Convert<K> + 'static,
        C::Out: Send + 'static,
        S: Sink<C::Out, C::Key>,
    {
        let mut machine: WatchMachine<C::Out, C::Key> = WatchMachine::new(self.resource);
        let mut last_error: Option<String> = None;
        let mut backoff = BACKOFF_START;
        self.metrics.set_synced(self.resource, false);
        if self.watch_list {
            self.watch_list = self.server_may_stream().await;
        }
        'relist: loop {
            if shutdown.is_cancelled() {
                return;
            }
            // 1. Initial state, by watch-list where supported.
            if self.watch_list {
                let wp = self.watch_params(WatchParams::streaming_lists());
                let opened = tokio::select! {
                    _ = shutdown.cancelled() => return,
                    r = api.watch(&wp, "") => r,
                };
                match opened {
                    Ok(stream) => {
                        let mut rv = String::new();
                        let end = self
                            .consume::<K, C, _>(
                                stream,
                                &mut machine,
                                &mut rv,
                                true,
                                &shutdown,
                                &mut last_error,
                            )
                            .await;
                        match end {
                            None => return,
                            Some(WatchEnd::NoWatchList) => {
                                tracing::info!(
                                    resource = self.resource,
                                    "the API server does not stream initial events (watch-list); using LIST"
                                );
                                self.watch_list = false;
                            }
                            Some(WatchEnd::Gone) => continue 'relist,
                            Some(WatchEnd::InitialCut) => {
                                if !self.pause(&mut backoff, &shutdown).await {
                                    return;
                                }
                                continue 'relist;
                            }
                            Some(WatchEnd::Rewatch { error }) => {
                                backoff = BACKOFF_START;
                                if self
                                    .watch_from::<K, C>(
                                        &api,
                                        &mut machine,
                                        rv,
                                        error,
                                        &shutdown,
                                        &mut last_error,
                                    )
                                    .await
                                {
                                    continue 'relist;
                                }
                                return;
                            }
                        }
                    }
                    Err(e) if rejects_watch_list(&e) => {
                        tracing::info!(resource = self.resource, error = %e, "watch-list rejected by the API server; using LIST");
                        self.watch_list = false;
                    }
                    Err(e) if is_gone(&e) => continue 'relist,
                    Err(e) => {
                        self.error(&e.to_string(), &mut last_error);
                        if !self.pause(&mut backoff, &shutdown).await {
                            return;
                        }
                        continue 'relist;
                    }
                }
            }
            // 2. Streamed LIST.
            let rv = tokio::select! {
                _ = shutdown.cancelled() => return,
                r = self.list_all::<K, C>(api.resource_url(), &mut machine) => r,
            };
            let rv = match rv {
                Ok(rv) => rv,
                Err(e) => {
                    self.error(&e.to_string(), &mut last_error);
                    if !self.pause(&mut backoff, &shutdown).await {
                        return;
                    }
                    continue 'relist;
                }
            };
            last_error = None;
            backoff = BACKOFF_START;
            if !self
                .watch_from::<K, C>(&api, &mut machine, rv, false, &shutdown, &mut last_error)
                .await
            {
                return;
            }
        }
    }

    /// Whether the server's `/version` is at least [`WATCH_LIST_MIN_MINOR`] (the WatchList
    /// feature's beta, on by default); an unknown version is taken as "no".
    async fn server_may_stream(&self) -> bool {
        let version =
            tokio::time::timeout(VERSION_PROBE_TIMEOUT, self.client.apiserver_version()).await;
        let Ok(version) = version else {
            tracing::debug!(
                resource = self.resource,
                "no server version in time; not trying watch-list"
            );
            return false;
        };
        match version {
            Ok(v) => {
                let minor: u32 = v
                    .minor
                    .chars()
                    .take_while(char::is_ascii_digit)
                    .collect::<String>()
                    .parse()
                    .unwrap_or(0);
                v.major == "1" && minor >= WATCH_LIST_MIN_MINOR
            }
            Err(e) => {
                tracing::debug!(resource = self.resource, error = %e, "no server version; not trying watch-list");
                false
            }
        }
    }

    /// `p` with the watch timeout and the field selector.
    fn watch_params(&self, p: WatchParams) -> WatchParams {
        let p = p.timeout(WATCH_TIMEOUT_SECS);
        match &self.fields {
            Some(f) => p.fields(f),
            None => p,
        }
    }

    /// A LIST page request with the page size and the field selector.
    fn list_params(&self) -> ListParams {
        let p = ListParams::default().limit(LIST_PAGE_SIZE);
        match &self.fields {
            Some(f) => p.fields(f),
            None => p,
        }
    }

    /// Waits out the backoff, jittered; false on shutdown.
    async fn pause(&self, backoff: &mut Duration, shutdown: &CancellationToken) -> bool {
        let d = jittered(*backoff, rand::random::<f64>());
        *backoff = next_backoff(*backoff);
        tokio::select! {
            _ = shutdown.cancelled() => false,
            _ = tokio::time::sleep(d) => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_the_cap() {
        let mut d = BACKOFF_START;
        let mut seen = vec![d];
        for _ in 0..8 {
            d = next_backoff(d);
            seen.push(d);
        }
        assert_eq!(seen[1], Duration::from_millis(1600));
        assert_eq!(*seen.last().expect("some"), BACKOFF_MAX);
    }

    #[test]
    fn jitter_spreads_each_wait_over_one_step() {
        let d = Duration::from_millis(800);
        assert_eq!(jittered(d, 0.0), d);
        assert_eq!(jittered(d, 0.5), Duration::from_millis(1200));
        assert!(jittered(d, 0.999_999) < d * 2);
    }

    #[test]
    fn which_errors_mean_no_watch_list() {
        let api = |code: u16| {
            kube::Error::Api(
                kube::core::Status::failure("x", "Invalid")
                    .with_code(code)
                    .boxed(),
            )
        };
        // (status code, taken as "watch-list unsupported")
        for (code, want) in [
            (422, true),
            (400, true),
            (404, true),
            (403, false),
            (410, false),
            (429, false),
            (500, false),
        ] {
            assert_eq!(rejects_watch_list(&api(code)), want, "{code}");
        }
        assert!(is_gone(&api(410)));
        assert!(!is_gone(&api(500)));
    }
}
