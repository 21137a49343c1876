//! Answer-engine test support: building the store's objects, asking it, rendering answers, and
//! the table runner — a [`Case`] is a question, the expected outcome ([`Want`]: a local reply,
//! forwarding, or a CNAME chain chased upstream) and one line naming the rule it shows;
//! [`check`] runs a table and reports every failing rule at once.

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
    /// Any other local reply: this rcode, this AA flag and exactly these answer records as
    /// `owner ttl TYPE rdata` (sorted) — e.g. PTR answers (AA=0), NXDOMAIN or SERVFAIL after a
    /// CNAME chain. See [`reply`].
    Reply(ResponseCode, bool, Vec<String>),
    /// Not answered locally: relayed to the upstream servers as asked.
    Forward,
    /// Answered by these records (`owner ttl TYPE rdata`, sorted: the CNAME chain so far)
    /// completed upstream by resolving this target name for the question's type.
    Chase(Vec<String>, String),
}

/// One row of an answer table.
#[derive(Debug, Clone)]
pub struct Case {
    /// The rule this row shows, in one line (built at run time where a table is generated).
    pub rule: String,
    /// Question name.
    pub qname: String,
    /// Question type (class IN).
    pub qtype: RecordType,
    /// Expected outcome.
    pub want: Want,
}

/// A row: `rule`, the question, the outcome.
pub fn case(
    rule: impl Into<String>,
    qname: impl Into<String>,
    qtype: RecordType,
    want: Want,
) -> Case {
    Case {
        rule: rule.into(),
        qname: qname.into(),
        qtype,
        want,
    }
}

/// The strings of `items`, sorted (tables may list records in any order).
fn sorted<S: ToString>(items: &[S]) -> Vec<String> {
    let mut v: Vec<String> = items.iter().map(S::to_string).collect();
    v.sort();
    v
}

/// `Want::Data` without an additional-section expectation (rdata in any order).
pub fn answer<S: ToString>(rdata: &[S]) -> Want {
    Want::Data(sorted(rdata), None)
}

/// `Want::Data` with an additional-section expectation (both in any order).
pub fn answer_with_additional<S: ToString, T: ToString>(rdata: &[S], additional: &[T]) -> Want {
    Want::Data(sorted(rdata), Some(sorted(additional)))
}

/// `Want::Records` from records in any order.
pub fn records<S: ToString>(rrs: &[S]) -> Want {
    Want::Records(sorted(rrs))
}

/// `Want::Reply`: `rcode`, the AA flag `aa`, exactly these answer records.
pub fn reply<S: ToString>(rcode: ResponseCode, aa: bool, records: &[S]) -> Want {
    Want::Reply(rcode, aa, sorted(records))
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
        Want::Reply(rcode, aa, want) => flags(*rcode)
            .or_else(|| {
                (r.authoritative != *aa).then(|| format!("AA={}, want AA={aa}", r.authoritative))
            })
            .or_else(|| (rrs(r) != *want).then(|| format!("answer {:?}, want {want:?}", rrs(r)))),
        Want::Forward | Want::Chase(..) => Some(format!("answered locally {r:?}")),
    }
}

/// Why `got` does not match `want` for a question of type `qtype` (None when it does).
fn outcome_mismatch(got: Answer, qtype: RecordType, want: &Want) -> Option<String> {
    match (got, want) {
        (Answer::Local(r), _) => mismatch(&r, want),
        (Answer::Forward, Want::Forward) => None,
        (
            Answer::Chase {
                response,
                target,
                qtype: chased,
            },
            Want::Chase(records, to),
        ) => (rrs(&response) != *records)
            .then(|| format!("chain {:?}, want {records:?}", rrs(&response)))
            .or_else(|| (target.to_ascii() != *to).then(|| format!("chases {target}, want {to}")))
            .or_else(|| (chased != qtype).then(|| format!("chases type {chased}, want {qtype}"))),
        (other, _) => Some(format!("got {other:?}")),
    }
}

/// Runs every row against `st`; panics listing each failing row's rule and why.
pub fn check(st: &Store, table: &[Case]) {
    let failures: Vec<String> = table
        .iter()
        .filter_map(|c| {
            let why = outcome_mismatch(ask(st, &c.qname, c.qtype), c.qtype, &c.want);
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
