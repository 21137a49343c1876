//! DNS request metrics: the legacy skydns series (compat §1.3) and the modern
//! `kubedns_dns_*` series. Every label combination is resolved once at registration so the
//! per-query path is a few atomic adds and two histogram observations, with no map lookups.

use std::time::Duration;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::answer::System;

type Labels = Vec<(String, String)>;

/// Default legacy namespace and subsystem (`PROMETHEUS_NAMESPACE`/`PROMETHEUS_SUBSYSTEM`).
pub const DEFAULT_NAMESPACE: &str = "skydns";
/// Default legacy subsystem.
pub const DEFAULT_SUBSYSTEM: &str = "skydns";

/// Legacy duration buckets: 0.001, 0.003 + the Prometheus defaults.
pub const DURATION_BUCKETS: [f64; 13] = [
    0.001, 0.003, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Query types with their own `type` label value; everything else is `other`.
const TYPES: [(RecordType, &str); 11] = [
    (RecordType::A, "A"),
    (RecordType::AAAA, "AAAA"),
    (RecordType::SRV, "SRV"),
    (RecordType::PTR, "PTR"),
    (RecordType::TXT, "TXT"),
    (RecordType::CNAME, "CNAME"),
    (RecordType::SOA, "SOA"),
    (RecordType::NS, "NS"),
    (RecordType::MX, "MX"),
    (RecordType::ANY, "ANY"),
    (RecordType::CAA, "CAA"),
];
const RCODES: [(ResponseCode, &str); 7] = [
    (ResponseCode::NoError, "NOERROR"),
    (ResponseCode::NXDomain, "NXDOMAIN"),
    (ResponseCode::ServFail, "SERVFAIL"),
    (ResponseCode::Refused, "REFUSED"),
    (ResponseCode::FormErr, "FORMERR"),
    (ResponseCode::NotImp, "NOTIMP"),
    (ResponseCode::BADVERS, "BADVERS"),
];
const SYSTEMS: [&str; 3] = ["auth", "recursive", "reverse"];
const CAUSES: [&str; 5] = ["nxdomain", "servfail", "refused", "truncated", "overflow"];

/// Why a query counted as an error (legacy `cause` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCause {
    /// NXDOMAIN.
    NxDomain,
    /// SERVFAIL.
    ServFail,
    /// REFUSED.
    Refused,
    /// Answer truncated (TC=1).
    Truncated,
    /// Answer did not fit even over TCP, or a capacity limit was hit.
    Overflow,
}

#[derive(Clone)]
struct PerSystem {
    requests: Counter,
    duration: Histogram,
    size: Histogram,
    errors: [Counter; CAUSES.len()],
}

/// Handles for the DNS metrics (cheap to clone).
#[derive(Clone)]
pub struct DnsMetrics {
    systems: [PerSystem; SYSTEMS.len()],
    // [type][rcode]; the last row/column are `other`
    requests: Vec<Vec<Counter>>,
    duration: Histogram,
}

fn size_buckets() -> Vec<f64> {
    let mut b = vec![0.0, 512.0, 1024.0, 1500.0, 2048.0, 4096.0];
    b.extend((0..15).map(|i| 8192.0 + 4096.0 * f64::from(i)));
    b
}

impl DnsMetrics {
    /// Register with the default legacy names (`skydns_skydns_dns_*`).
    pub fn register(registry: &mut Registry) -> Self {
        Self::register_with(registry, DEFAULT_NAMESPACE, DEFAULT_SUBSYSTEM)
    }

    /// A set of handles registered nowhere (tests, or metrics disabled).
    pub fn unregistered() -> Self {
        Self::register(&mut Registry::default())
    }

    /// Register with an explicit legacy namespace/subsystem (empty parts are skipped, as
    /// the Go client did).
    pub fn register_with(registry: &mut Registry, namespace: &str, subsystem: &str) -> Self {
        let req: Family<Labels, Counter> = Family::default();
        let dur: Family<Labels, Histogram> =
            Family::new_with_constructor(|| Histogram::new(DURATION_BUCKETS));
        let size: Family<Labels, Histogram> =
            Family::new_with_constructor(|| Histogram::new(size_buckets()));
        let err: Family<Labels, Counter> = Family::default();
        {
            let prefix: Vec<&str> = [namespace, subsystem]
                .into_iter()
                .filter(|p| !p.is_empty())
                .collect();
            let legacy = if prefix.is_empty() {
                &mut *registry
            } else {
                registry.sub_registry_with_prefix(prefix.join("_"))
            };
            legacy.register(
                "dns_request_count",
                "Counter of DNS requests made.",
                req.clone(),
            );
            legacy.register(
                "dns_request_duration_seconds",
                "Histogram of the time (in seconds) each request took to resolve.",
                dur.clone(),
            );
            legacy.register(
                "dns_response_size_bytes",
                "Size of the returns response in bytes.",
                size.clone(),
            );
            legacy.register(
                "dns_error_count",
                "Counter of DNS requests resulting in an error.",
                err.clone(),
            );
        }
        let modern_req: Family<Labels, Counter> = Family::default();
        let modern_dur = Histogram::new(DURATION_BUCKETS);
        {
            let modern = registry.sub_registry_with_prefix("kubedns");
            modern.register(
                "dns_requests",
                "DNS requests by query type and response code.",
                modern_req.clone(),
            );
            modern.register(
                "dns_request_duration_seconds",
                "Time to answer a DNS request.",
                modern_dur.clone(),
            );
        }
        let l = |pairs: &[(&str, &str)]| -> Labels {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
                .collect()
        };
        let systems = SYSTEMS.map(|s| PerSystem {
            requests: req.get_or_create_owned(&l(&[("system", s)])),
            duration: dur.get_or_create_owned(&l(&[("system", s)])),
            size: size.get_or_create_owned(&l(&[("system", s)])),
            errors: CAUSES.map(|c| err.get_or_create_owned(&l(&[("system", s), ("cause", c)]))),
        });
        let type_names: Vec<&str> = TYPES.iter().map(|t| t.1).chain(["other"]).collect();
        let rcode_names: Vec<&str> = RCODES.iter().map(|r| r.1).chain(["other"]).collect();
        let requests = type_names
            .iter()
            .map(|t| {
                rcode_names
                    .iter()
                    .map(|r| modern_req.get_or_create_owned(&l(&[("type", t), ("rcode", r)])))
                    .collect()
            })
            .collect();
        Self {
            systems,
            requests,
            duration: modern_dur,
        }
    }

    fn sys(&self, s: System) -> &PerSystem {
        &self.systems[match s {
            System::Auth => 0,
            System::Recursive => 1,
            System::Reverse => 2,
        }]
    }

    /// Record one answered query.
    pub fn observe(
        &self,
        system: System,
        qtype: RecordType,
        rcode: ResponseCode,
        size: usize,
        truncated: bool,
        elapsed: Duration,
    ) {
        let s = self.sys(system);
        s.requests.inc();
        let secs = elapsed.as_secs_f64();
        s.duration.observe(secs);
        s.size.observe(size as f64);
        let cause = match rcode {
            ResponseCode::NXDomain => Some(ErrorCause::NxDomain),
            ResponseCode::ServFail => Some(ErrorCause::ServFail),
            ResponseCode::Refused => Some(ErrorCause::Refused),
            _ => None,
        };
        if let Some(c) = cause {
            self.error(system, c);
        }
        if truncated {
            self.error(system, ErrorCause::Truncated);
        }
        let ti = TYPES
            .iter()
            .position(|t| t.0 == qtype)
            .unwrap_or(TYPES.len());
        let ri = RCODES
            .iter()
            .position(|r| r.0 == rcode)
            .unwrap_or(RCODES.len());
        if let Some(c) = self.requests.get(ti).and_then(|row| row.get(ri)) {
            c.inc();
        }
        self.duration.observe(secs);
    }

    /// Count an error cause.
    pub fn error(&self, system: System, cause: ErrorCause) {
        let i = match cause {
            ErrorCause::NxDomain => 0,
            ErrorCause::ServFail => 1,
            ErrorCause::Refused => 2,
            ErrorCause::Truncated => 3,
            ErrorCause::Overflow => 4,
        };
        self.sys(system).errors[i].inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_labels() {
        let mut reg = Registry::default();
        let m = DnsMetrics::register(&mut reg);
        m.observe(
            System::Auth,
            RecordType::A,
            ResponseCode::NXDomain,
            100,
            false,
            Duration::from_millis(2),
        );
        m.observe(
            System::Recursive,
            RecordType::Unknown(999),
            ResponseCode::NoError,
            600,
            true,
            Duration::ZERO,
        );
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &reg).expect("encode");
        assert!(
            out.contains("skydns_skydns_dns_request_count_total{system=\"auth\"} 1"),
            "{out}"
        );
        assert!(
            out.contains(
                "skydns_skydns_dns_error_count_total{system=\"auth\",cause=\"nxdomain\"} 1"
            )
        );
        assert!(out.contains(
            "skydns_skydns_dns_error_count_total{system=\"recursive\",cause=\"truncated\"} 1"
        ));
        assert!(out.contains(
            "skydns_skydns_dns_request_duration_seconds_bucket{le=\"0.003\",system=\"auth\"} 1"
        ));
        assert!(out.contains(
            "skydns_skydns_dns_response_size_bytes_bucket{le=\"1024.0\",system=\"recursive\"} 1"
        ));
        assert!(out.contains("kubedns_dns_requests_total{type=\"A\",rcode=\"NXDOMAIN\"} 1"));
        assert!(out.contains("kubedns_dns_requests_total{type=\"other\",rcode=\"NOERROR\"} 1"));
        assert!(out.contains("kubedns_dns_request_duration_seconds_count 2"));
        let mut reg2 = Registry::default();
        DnsMetrics::register_with(&mut reg2, "custom", "");
        let mut out2 = String::new();
        prometheus_client::encoding::text::encode(&mut out2, &reg2).expect("encode");
        assert!(out2.contains("custom_dns_request_count_total"));
    }
}
