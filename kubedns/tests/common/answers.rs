//! Answer-engine test support: building the store's objects, asking it, rendering answers, and
//! the table runner — a [`Case`] is a question, the expected outcome ([`Want`]) and one line
//! naming the rule it shows; [`check`] runs a table and reports every failing rule at once.

use std::net::IpAddr;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{DNSClass, Name, RecordType};
use kubedns::answer::{Answer, Response, lookup};
use kubedns::model::{
    EndpointAddress, EndpointGroup, EndpointObject, EndpointSubset, Service, ServiceKind,
    ServicePort,
};
use kubedns::store::Standalone as Store;

pub const NOW: u64 = 1_700_000_123;

pub fn ip(s: &str) -> IpAddr {
    s.parse().expect("ip")
}

pub fn port(name: &str, p: u16) -> ServicePort {
    ServicePort {
        name: name.into(),
        protocol: "TCP".into(),
        port: p,
    }
}

pub fn cluster_ip(ns: &str, name: &str, ips: &[&str], ports: Vec<ServicePort>) -> Service {
    Service {
        namespace: ns.into(),
        name: name.into(),
        kind: ServiceKind::ClusterIp(ips.iter().map(|s| ip(s)).collect()),
        ports,
        resource_version: None,
    }
}

pub fn headless(ns: &str, name: &str) -> Service {
    Service {
        namespace: ns.into(),
        name: name.into(),
        kind: ServiceKind::Headless,
        ports: vec![],
        resource_version: None,
    }
}

pub fn external(ns: &str, name: &str, target: &str) -> Service {
    Service {
        namespace: ns.into(),
        name: name.into(),
        kind: ServiceKind::ExternalName(target.into()),
        ports: vec![],
        resource_version: None,
    }
}

pub fn subset(ips: &[(&str, Option<&str>)], ports: Vec<ServicePort>) -> EndpointSubset {
    EndpointSubset {
        addresses: ips
            .iter()
            .map(|(i, h)| EndpointAddress {
                ip: ip(i),
                hostname: h.map(Into::into),
                ready: true,
            })
            .collect(),
        ports,
    }
}

pub fn eps(ns: &str, svc: &str, subsets: Vec<EndpointSubset>) -> EndpointGroup {
    EndpointGroup {
        namespace: ns.into(),
        service: svc.into(),
        key: EndpointObject::Endpoints(svc.to_string()),
        subsets,
    }
}

pub fn store() -> Store {
    let s = Store::new("cluster.local.");
    s.set_synced();
    s
}

pub fn ask(st: &Store, name: &str, t: RecordType) -> Answer {
    lookup(
        &st.view(),
        &Name::from_ascii(name).expect("qname"),
        t,
        DNSClass::IN,
        NOW,
    )
}

pub fn local(st: &Store, name: &str, t: RecordType) -> Response {
    match ask(st, name, t) {
        Answer::Local(r) => r,
        other => panic!("{name} {t}: expected a local answer, got {other:?}"),
    }
}

/// Answer section rendered as sorted `owner ttl TYPE rdata` lines.
pub fn rrs(r: &Response) -> Vec<String> {
    let mut v: Vec<String> = r
        .answers
        .iter()
        .map(|a| format!("{} {} {} {}", a.name, a.ttl, a.record_type(), a.data))
        .collect();
    v.sort();
    v
}

pub fn additional(r: &Response) -> Vec<String> {
    let mut v: Vec<String> = r
        .additionals
        .iter()
        .map(|a| format!("{} {}", a.name, a.data))
        .collect();
    v.sort();
    v
}

pub fn data(r: &Response) -> Vec<String> {
    let mut v: Vec<String> = r.answers.iter().map(|a| a.data.to_string()).collect();
    v.sort();
    v
}

pub fn assert_nx(st: &Store, name: &str, t: RecordType) {
    let r = local(st, name, t);
    assert_eq!(r.rcode, ResponseCode::NXDomain, "{name} {t}: {r:?}");
    assert!(r.answers.is_empty());
    assert_eq!(r.authorities.len(), 1, "SOA in authority");
    assert!(r.authoritative, "AA=1 on authoritative NXDOMAIN");
}

pub fn assert_nodata(st: &Store, name: &str, t: RecordType) {
    let r = local(st, name, t);
    assert_eq!(r.rcode, ResponseCode::NoError, "{name} {t}: {r:?}");
    assert!(r.answers.is_empty(), "{name} {t}: {r:?}");
    assert_eq!(r.authorities.len(), 1);
    assert_eq!(r.authorities[0].ttl, 60);
}

pub const TS: &str = "testservice.default.svc.cluster.local.";

/// What one question must get (rcode, answer records, flags).
#[derive(Debug, Clone)]
pub enum Want {
    /// NOERROR, AA=1, these answer rdata (sorted); when given, these additional `owner rdata`
    /// lines (sorted).
    Data(Vec<String>, Option<Vec<String>>),
    /// NOERROR, AA=1, these answer records as `owner ttl TYPE rdata` (sorted).
    Records(Vec<String>),
    /// NOERROR, no answer, the SOA in authority with the negative TTL 60 (RFC 2308 §2.2).
    NoData,
    /// NXDOMAIN, AA=1, no answer, the SOA in authority (RFC 2308 §2.1).
    NxDomain,
}

/// One row of an answer table.
#[derive(Debug, Clone)]
pub struct Case {
    /// The rule this row shows, in one line.
    pub rule: &'static str,
    /// Question name.
    pub qname: String,
    /// Question type (class IN).
    pub qtype: RecordType,
    /// Expected outcome.
    pub want: Want,
}

/// A row: `rule`, the question, the outcome.
pub fn case(rule: &'static str, qname: impl Into<String>, qtype: RecordType, want: Want) -> Case {
    Case {
        rule,
        qname: qname.into(),
        qtype,
        want,
    }
}

/// `Want::Data` without an additional-section expectation.
pub fn answer<S: ToString>(rdata: &[S]) -> Want {
    Want::Data(rdata.iter().map(S::to_string).collect(), None)
}

/// `Want::Data` with an additional-section expectation.
pub fn answer_with_additional<S: ToString, T: ToString>(rdata: &[S], additional: &[T]) -> Want {
    Want::Data(
        rdata.iter().map(S::to_string).collect(),
        Some(additional.iter().map(T::to_string).collect()),
    )
}

/// Why `r` does not match `want` (None when it does).
fn mismatch(r: &Response, want: &Want) -> Option<String> {
    let flags = |rcode: ResponseCode| {
        (r.rcode != rcode).then(|| format!("rcode {:?}, want {rcode:?}", r.rcode))
    };
    match want {
        Want::Data(d, add) => flags(ResponseCode::NoError)
            .or_else(|| (!r.authoritative).then(|| "AA=0, want AA=1".to_string()))
            .or_else(|| (data(r) != *d).then(|| format!("answer {:?}, want {d:?}", data(r))))
            .or_else(|| {
                add.as_ref()
                    .filter(|a| additional(r) != **a)
                    .map(|a| format!("additional {:?}, want {a:?}", additional(r)))
            }),
        Want::Records(want) => flags(ResponseCode::NoError)
            .or_else(|| (!r.authoritative).then(|| "AA=0, want AA=1".to_string()))
            .or_else(|| (rrs(r) != *want).then(|| format!("answer {:?}, want {want:?}", rrs(r)))),
        Want::NoData => flags(ResponseCode::NoError)
            .or_else(|| (!r.answers.is_empty()).then(|| format!("answers {:?}", rrs(r))))
            .or_else(|| {
                (r.authorities.len() != 1 || r.authorities[0].ttl != 60)
                    .then(|| format!("authority {:?}, want one SOA with TTL 60", r.authorities))
            }),
        Want::NxDomain => flags(ResponseCode::NXDomain)
            .or_else(|| (!r.answers.is_empty()).then(|| format!("answers {:?}", rrs(r))))
            .or_else(|| (r.authorities.len() != 1).then(|| "no SOA in authority".to_string()))
            .or_else(|| (!r.authoritative).then(|| "AA=0 on NXDOMAIN".to_string())),
    }
}

/// Runs every row against `st`; panics listing each failing row's rule and why.
pub fn check(st: &Store, table: &[Case]) {
    let failures: Vec<String> = table
        .iter()
        .filter_map(|c| {
            let why = match ask(st, &c.qname, c.qtype) {
                Answer::Local(r) => mismatch(&r, &c.want),
                other => Some(format!("not a local answer: {other:?}")),
            };
            why.map(|w| format!("{} ({} {}): {w}", c.rule, c.qname, c.qtype))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} rows failed:\n{}",
        failures.len(),
        table.len(),
        failures.join("\n")
    );
}
