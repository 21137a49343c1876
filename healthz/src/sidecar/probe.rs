//! One DNS probe (kubernetes/dns `pkg/sidecar/dnsprobe.go` semantics): after a random
//! start delay in `[0, interval)`, query `<name>`/`<type>` IN with RD=1, record the
//! result (error on transport failure or zero answer RRs; rcode ignored), sleep
//! `interval − latency`, repeat. State is the last result only; `/healthcheck/<label>`
//! reports it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use hickory_proto::rr::DNSClass;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::options::ProbeSpec;
use crate::dns::{QUERY_TIMEOUT, SharedExchanger, build_query};
use crate::gotime::go_json_float;
use crate::metrics::{Counter, Histogram, exponential_buckets};

/// Error text before the first probe completes.
pub const WAITING: &str = "waiting for first probe";
/// Hard bound on one probe: a backstop slightly above the transport's own timeout, so
/// the transport's more specific error text normally wins.
pub const PROBE_TIMEOUT: Duration = QUERY_TIMEOUT.saturating_add(Duration::from_millis(500));

/// Last probe outcome.
#[derive(Clone, Debug, PartialEq)]
pub enum ProbeStatus {
    /// Last query got ≥1 answer RR after `latency`.
    Ok {
        /// Round-trip time of the last successful probe.
        latency: Duration,
    },
    /// Last probe failed (or none has run yet: [`WAITING`]).
    Failed(String),
}

/// Shared state + metrics of one probe.
#[derive(Debug)]
pub struct ProbeHandle {
    /// Probe definition.
    pub spec: ProbeSpec,
    status: Mutex<ProbeStatus>,
    /// Latency of successful probes, milliseconds.
    pub latency_ms: Histogram,
    /// Failed probes.
    pub errors: Counter,
}

impl ProbeHandle {
    /// New handle in the "waiting for first probe" state.
    pub fn new(spec: ProbeSpec) -> Self {
        Self {
            spec,
            status: Mutex::new(ProbeStatus::Failed(WAITING.into())),
            latency_ms: Histogram::new(exponential_buckets(0.25, 2.0, 16)),
            errors: Counter::default(),
        }
    }

    /// Current status.
    pub fn status(&self) -> ProbeStatus {
        self.status
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Records one probe result (legacy `update`). Health transitions are logged once
    /// (warn when it starts failing, info when it recovers); repeats go to debug.
    pub fn update(&self, result: Result<Duration, String>) {
        let label = self.spec.label.as_str();
        let new = match result {
            Ok(latency) => {
                self.latency_ms.observe(latency.as_secs_f64() * 1000.0);
                ProbeStatus::Ok { latency }
            }
            Err(e) => {
                self.errors.inc();
                ProbeStatus::Failed(e)
            }
        };
        let mut status = self.status.lock().unwrap_or_else(|p| p.into_inner());
        let was_ok = matches!(*status, ProbeStatus::Ok { .. });
        let first = matches!(&*status, ProbeStatus::Failed(e) if e == WAITING);
        match &new {
            ProbeStatus::Failed(e) if was_ok || first => {
                tracing::warn!(label, error = %e, "DNS probe failing");
            }
            ProbeStatus::Failed(e) => tracing::debug!(label, error = %e, "DNS probe failed"),
            ProbeStatus::Ok { latency } if !was_ok => {
                tracing::info!(label, ?latency, "DNS probe healthy");
            }
            ProbeStatus::Ok { latency } => tracing::debug!(label, ?latency, "DNS probe ok"),
        }
        *status = new;
    }
}

/// `/healthcheck/<label>` response: status code and the legacy JSON body
/// `{"IsOk":…,"LatencySeconds":…,"Err":"…"}` (Go `encoding/json` formatting).
pub fn healthcheck_body(status: &ProbeStatus) -> (u16, String) {
    let (code, ok, latency, err) = match status {
        ProbeStatus::Ok { latency } => (200, true, latency.as_secs_f64(), ""),
        ProbeStatus::Failed(e) => (503, false, 0.0, e.as_str()),
    };
    let body = format!(
        "{{\"IsOk\":{ok},\"LatencySeconds\":{},\"Err\":{}}}",
        go_json_float(latency),
        go_json_string(err)
    );
    (code, body)
}

/// JSON string escaped like Go's `json.Marshal` (HTML-safe: `<`, `>`, `&`, U+2028/9).
pub fn go_json_string(s: &str) -> String {
    let base = serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into());
    base.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

/// Runs one probe: the query and its evaluation.
pub async fn probe_once(exchanger: &SharedExchanger, spec: &ProbeSpec) -> Result<Duration, String> {
    let query = build_query(&spec.qname, spec.qtype, DNSClass::IN);
    let start = Instant::now();
    let fut = exchanger.exchange(&spec.server_addr, query);
    let reply = match tokio::time::timeout(PROBE_TIMEOUT, fut).await {
        Ok(Ok(reply)) => reply,
        Ok(Err(e)) => return Err(e.to_string()),
        Err(_) => return Err(format!("read udp {}: i/o timeout", spec.server)),
    };
    let latency = start.elapsed();
    if reply.answers.is_empty() {
        return Err(format!("no RRs for domain {:?}", spec.name));
    }
    Ok(latency)
}

/// The probe loop; returns when `shutdown` is cancelled.
pub async fn run_probe(
    handle: Arc<ProbeHandle>,
    exchanger: SharedExchanger,
    first_delay: Duration,
    shutdown: CancellationToken,
) {
    tracing::info!(label = %handle.spec.label, server = %handle.spec.server,
        name = %handle.spec.name, qtype = %handle.spec.qtype,
        interval = ?handle.spec.interval, "starting DNS probe");
    let interval = handle.spec.interval;
    if shutdown
        .run_until_cancelled(tokio::time::sleep(first_delay))
        .await
        .is_none()
    {
        return;
    }
    loop {
        let start = Instant::now();
        let Some(result) = shutdown
            .run_until_cancelled(probe_once(&exchanger, &handle.spec))
            .await
        else {
            return;
        };
        handle.update(result);
        let sleep = interval.saturating_sub(start.elapsed());
        if shutdown
            .run_until_cancelled(tokio::time::sleep(sleep))
            .await
            .is_none()
        {
            return;
        }
    }
}

/// Random start delay in `[0, interval)` so probes do not fire together.
pub fn random_start_delay(interval: Duration) -> Duration {
    let nanos = u64::try_from(interval.as_nanos()).unwrap_or(u64::MAX);
    if nanos == 0 {
        return Duration::ZERO;
    }
    Duration::from_nanos(rand::random_range(0..nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies() {
        let (c, b) = healthcheck_body(&ProbeStatus::Failed(WAITING.into()));
        assert_eq!(c, 503);
        assert_eq!(
            b,
            r#"{"IsOk":false,"LatencySeconds":0,"Err":"waiting for first probe"}"#
        );
        let (c, b) = healthcheck_body(&ProbeStatus::Ok {
            latency: Duration::from_micros(1500),
        });
        assert_eq!(c, 200);
        assert_eq!(b, r#"{"IsOk":true,"LatencySeconds":0.0015,"Err":""}"#);
        let (_, b) = healthcheck_body(&ProbeStatus::Failed(
            "no RRs for domain \"a.b.\" <&>".into(),
        ));
        assert_eq!(
            b,
            r#"{"IsOk":false,"LatencySeconds":0,"Err":"no RRs for domain \"a.b.\" \u003c\u0026\u003e"}"#
        );
    }

    #[test]
    fn start_delay_in_range() {
        for _ in 0..100 {
            assert!(random_start_delay(Duration::from_secs(5)) < Duration::from_secs(5));
        }
        assert_eq!(random_start_delay(Duration::ZERO), Duration::ZERO);
    }
}
