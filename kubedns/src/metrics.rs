//! The metric registry of the `kubedns` process: CORE's DNS metrics (legacy
//! `<PROMETHEUS_NAMESPACE>_<PROMETHEUS_SUBSYSTEM>_dns_*` plus modern `kubedns_dns_*`) and the
//! watch/sync metrics owned here:
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `kubedns_watch_events_total` | counter | `resource`, `type` (`init`, `init_apply`, `init_done`, `apply`, `delete`) |
//! | `kubedns_watch_errors_total` | counter | `resource` |
//! | `kubedns_sync_state` | gauge (0/1: completed a list) | `resource` |
//! | `kubedns_objects` | gauge | `resource` |
//! | `kubedns_dns_programming_latency_seconds` | histogram | — |
//! | `kubedns_endpoint_source` | gauge (1 for the source in use) | `source` |
//!
//! Encoded in the OpenMetrics text format by `prometheus-client`.

use std::sync::{Arc, Mutex};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Buckets of the programming-latency histogram (seconds).
pub const PROGRAMMING_LATENCY_BUCKETS: [f64; 16] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];

/// `{resource}` label set.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResourceLabel {
    /// `services`, `endpointslices`, `endpoints`, `nodes`, `configmaps`.
    pub resource: &'static str,
}

/// `{resource, type}` label set.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EventLabels {
    /// Resource.
    pub resource: &'static str,
    /// Event type.
    pub r#type: &'static str,
}

/// `{source}` label set.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SourceLabel {
    /// `endpointslices` or `endpoints`.
    pub source: &'static str,
}

/// Watch and sync metrics (cheap to clone).
#[derive(Clone, Debug)]
pub struct WatchMetrics {
    /// `kubedns_watch_events_total`.
    pub events: Family<EventLabels, Counter>,
    /// `kubedns_watch_errors_total`.
    pub errors: Family<ResourceLabel, Counter>,
    /// `kubedns_sync_state`.
    pub sync_state: Family<ResourceLabel, Gauge>,
    /// `kubedns_objects`.
    pub objects: Family<ResourceLabel, Gauge>,
    /// `kubedns_dns_programming_latency_seconds`.
    pub programming_latency: Histogram,
    /// `kubedns_endpoint_source`.
    pub endpoint_source: Family<SourceLabel, Gauge>,
}

impl Default for WatchMetrics {
    fn default() -> Self {
        Self {
            events: Family::default(),
            errors: Family::default(),
            sync_state: Family::default(),
            objects: Family::default(),
            programming_latency: Histogram::new(PROGRAMMING_LATENCY_BUCKETS),
            endpoint_source: Family::default(),
        }
    }
}

impl WatchMetrics {
    /// Create and register under the `kubedns_` prefix.
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self::default();
        registry.register(
            "kubedns_watch_events",
            "Watch events received from the API server",
            m.events.clone(),
        );
        registry.register(
            "kubedns_watch_errors",
            "Watch errors (the watch is retried with backoff)",
            m.errors.clone(),
        );
        registry.register(
            "kubedns_sync_state",
            "1 once the resource completed its initial list, else 0",
            m.sync_state.clone(),
        );
        registry.register(
            "kubedns_objects",
            "Objects of the resource currently held",
            m.objects.clone(),
        );
        registry.register(
            "kubedns_dns_programming_latency_seconds",
            "Time from an API object change to the store serving it (see docs/kubedns.md)",
            m.programming_latency.clone(),
        );
        registry.register(
            "kubedns_endpoint_source",
            "1 for the endpoint source in use (endpointslices or endpoints)",
            m.endpoint_source.clone(),
        );
        m
    }

    /// Count one event.
    pub fn event(&self, resource: &'static str, r#type: &'static str) {
        self.events
            .get_or_create(&EventLabels { resource, r#type })
            .inc();
    }

    /// Count one error.
    pub fn error(&self, resource: &'static str) {
        self.errors.get_or_create(&ResourceLabel { resource }).inc();
    }

    /// Set the sync state of a resource.
    pub fn set_synced(&self, resource: &'static str, synced: bool) {
        self.sync_state
            .get_or_create(&ResourceLabel { resource })
            .set(i64::from(synced));
    }

    /// Set the object count of a resource.
    pub fn set_objects(&self, resource: &'static str, n: usize) {
        self.objects
            .get_or_create(&ResourceLabel { resource })
            .set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    /// Mark which endpoint source is in use.
    pub fn set_endpoint_source(&self, source: &'static str) {
        for s in ["endpointslices", "endpoints"] {
            self.endpoint_source
                .get_or_create(&SourceLabel { source: s })
                .set(i64::from(s == source));
        }
    }
}

/// The process registry plus the handles that feed it.
#[derive(Clone, Debug)]
pub struct Metrics {
    registry: Arc<Mutex<Registry>>,
    /// Watch metrics.
    pub watch: WatchMetrics,
}

impl Metrics {
    /// A registry holding the watch metrics; `extra` registers further metrics (the DNS ones).
    pub fn new(extra: impl FnOnce(&mut Registry)) -> Self {
        let mut registry = Registry::default();
        let watch = WatchMetrics::register(&mut registry);
        extra(&mut registry);
        Self {
            registry: Arc::new(Mutex::new(registry)),
            watch,
        }
    }

    /// Encode everything in the OpenMetrics text format.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        let registry = self.registry.lock().unwrap_or_else(|p| p.into_inner());
        prometheus_client::encoding::text::encode(&mut out, &registry)?;
        Ok(out)
    }
}

/// Content type of [`Metrics::encode`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_exported() {
        let m = Metrics::new(|_| {});
        m.watch.event("services", "apply");
        m.watch.error("endpointslices");
        m.watch.set_synced("services", true);
        m.watch.set_objects("services", 3);
        m.watch.set_endpoint_source("endpoints");
        m.watch.programming_latency.observe(0.02);
        let text = m.encode().unwrap();
        for want in [
            "kubedns_watch_events_total{resource=\"services\",type=\"apply\"} 1",
            "kubedns_watch_errors_total{resource=\"endpointslices\"} 1",
            "kubedns_sync_state{resource=\"services\"} 1",
            "kubedns_objects{resource=\"services\"} 3",
            "kubedns_endpoint_source{source=\"endpoints\"} 1",
            "kubedns_endpoint_source{source=\"endpointslices\"} 0",
            "kubedns_dns_programming_latency_seconds_count 1",
        ] {
            assert!(text.contains(want), "missing {want:?} in\n{text}");
        }
    }
}
