//! Sidecar dialect (k8s-dns-sidecar): DNS probes with `/healthcheck/<label>`, dnsmasq
//! statistics and probe metrics on `/metrics` (or `--prometheus-path`), `/healthz`.

pub mod options;
pub mod probe;
pub mod stats;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::SystemTime;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::dns::SharedExchanger;
use crate::gotime::format_go_time;
use crate::metrics::{encode_counter, encode_histogram, encode_process_metrics, fq_name};
pub use options::{ProbeSpec, SidecarConfig};
use probe::ProbeHandle;
use stats::DnsmasqStats;

/// Shared state behind the sidecar's HTTP handlers.
#[derive(Debug)]
pub struct Sidecar {
    /// Configuration.
    pub config: SidecarConfig,
    /// Probes by label.
    pub probes: HashMap<String, Arc<ProbeHandle>>,
    /// dnsmasq statistics.
    pub stats: Arc<DnsmasqStats>,
}

impl Sidecar {
    /// Builds the state (no tasks started).
    pub fn new(config: SidecarConfig) -> Self {
        let probes = config
            .probes
            .iter()
            .map(|p| (p.label.clone(), Arc::new(ProbeHandle::new(p.clone()))))
            .collect();
        Self {
            config,
            probes,
            stats: Arc::new(DnsmasqStats::default()),
        }
    }

    /// Starts the probe loops and the statistics poller on `tracker`.
    pub fn spawn_tasks(
        &self,
        tracker: &TaskTracker,
        exchanger: &SharedExchanger,
        shutdown: &CancellationToken,
    ) {
        for handle in self.probes.values() {
            let delay = probe::random_start_delay(handle.spec.interval);
            tracker.spawn(probe::run_probe(
                handle.clone(),
                exchanger.clone(),
                delay,
                shutdown.clone(),
            ));
        }
        tracker.spawn(stats::run_poller(
            self.stats.clone(),
            exchanger.clone(),
            self.config.dnsmasq_server(),
            self.config.dnsmasq_poll_interval,
            shutdown.clone(),
        ));
    }

    /// Prometheus text for `/metrics`.
    pub fn render_metrics(&self) -> String {
        let ns = self.config.prometheus_namespace.as_str();
        let mut out = String::new();
        let helps = [
            ("hits", "Number of DNS cache hits (from start of process)"),
            (
                "misses",
                "Number of DNS cache misses (from start of process)",
            ),
            (
                "evictions",
                "Counter of DNS cache evictions (from start of process)",
            ),
            (
                "insertions",
                "Counter of DNS cache insertions (from start of process)",
            ),
            ("max_size", "Maximum size of the DNS cache"),
        ];
        for (i, (name, help)) in helps.iter().enumerate() {
            let value = self.stats.counters[i].get();
            encode_counter(&mut out, &fq_name(ns, "dnsmasq", name), help, value);
        }
        encode_counter(
            &mut out,
            &fq_name(ns, "dnsmasq", "errors"),
            "Number of errors that have occurred getting metrics",
            self.stats.errors.get(),
        );
        for p in &self.config.probes {
            let Some(h) = self.probes.get(&p.label) else {
                continue;
            };
            encode_histogram(
                &mut out,
                &fq_name(ns, "probe", &format!("{}_latency_ms", p.label)),
                &format!("Latency of the DNS probe request {}", p.label),
                &h.latency_ms.snapshot(),
            );
            encode_counter(
                &mut out,
                &fq_name(ns, "probe", &format!("{}_errors", p.label)),
                &format!("Count of errors in name resolution of {}", p.label),
                h.errors.get(),
            );
        }
        encode_process_metrics(&mut out);
        out
    }

    /// The HTTP routes.
    pub fn router(self: Arc<Self>) -> Router {
        let metrics_path = self.config.prometheus_path.clone();
        Router::new()
            .route("/healthcheck/{label}", get(healthcheck))
            .route("/healthz", get(healthz))
            .route(&metrics_path, get(metrics))
            .with_state(self)
    }
}

async fn healthcheck(State(s): State<Arc<Sidecar>>, Path(label): Path<String>) -> Response {
    let Some(handle) = s.probes.get(&label) else {
        return (StatusCode::NOT_FOUND, "404 page not found\n").into_response();
    };
    let (code, body) = probe::healthcheck_body(&handle.status());
    let code = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (code, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

async fn healthz() -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("ok ({})\n", format_go_time(SystemTime::now())),
    )
        .into_response()
}

async fn metrics(State(s): State<Arc<Sidecar>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        s.render_metrics(),
    )
        .into_response()
}
