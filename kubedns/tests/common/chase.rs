//! Support for the external-chain answer table: the store (Services aliasing out of the
//! zone), scripted upstream replies, the [`Case`] row type and [`drive`], which runs the
//! answer engine's chase loop over a script as the server does.

use std::collections::BTreeMap;
use std::net::IpAddr;

use hickory_proto::op::{Message, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, CNAME, SOA, SRV};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use kubedns::answer::{Answer, MAX_CNAME_CHAIN, Response, continue_chase, lookup};
use kubedns::model::{Service, ServiceKind};
use kubedns::store::Standalone as Store;

pub const NOW: u64 = 1_700_000_123;

pub fn n(s: &str) -> Name {
    Name::from_ascii(s).expect("name")
}

pub fn svc(name: &str, kind: ServiceKind) -> Service {
    Service {
        namespace: "default".into(),
        name: name.into(),
        kind,
        ports: vec![],
        resource_version: None,
    }
}

pub fn store() -> Store {
    let st = Store::new("cluster.local.");
    st.upsert_service(svc(
        "kubernetes",
        ServiceKind::ClusterIp(vec!["10.0.0.1".parse().expect("ip")]),
    ));
    st.upsert_service(svc(
        "ext",
        ServiceKind::ExternalName("www.example.com".into()),
    ));
    st.upsert_service(svc(
        "ext2",
        ServiceKind::ExternalName("api.example.org".into()),
    ));
    st.set_synced();
    st
}

/// Builders of upstream records.
pub fn a(owner: &str, ttl: u32, ip: &str) -> Record {
    let ip: IpAddr = ip.parse().expect("ip");
    let IpAddr::V4(v4) = ip else { panic!("v4") };
    Record::from_rdata(n(owner), ttl, RData::A(A(v4)))
}
pub fn cname(owner: &str, ttl: u32, target: &str) -> Record {
    Record::from_rdata(n(owner), ttl, RData::CNAME(CNAME(n(target))))
}
pub fn soa(zone: &str, ttl: u32, minimum: u32) -> Record {
    let z = zone.trim_start_matches('.');
    let s = SOA::new(
        n(&format!("ns.{z}")),
        n(&format!("h.{z}")),
        1,
        2,
        3,
        4,
        minimum,
    );
    Record::from_rdata(n(zone), ttl, RData::SOA(s))
}
pub fn srv(owner: &str, target: &str) -> Record {
    Record::from_rdata(n(owner), 300, RData::SRV(SRV::new(1, 1, 443, n(target))))
}

/// One scripted upstream reply.
pub fn reply(rcode: ResponseCode, answers: Vec<Record>, authority: Vec<Record>) -> Message {
    let mut m = Message::response(1, OpCode::Query);
    m.metadata.response_code = rcode;
    m.answers = answers;
    m.authorities = authority;
    m
}

pub type Script = BTreeMap<(String, RecordType), Option<Message>>;

pub struct Case {
    pub name: &'static str,
    pub qname: &'static str,
    pub qtype: RecordType,
    /// (name asked upstream, type) → reply; `None` = every upstream failed or timed out.
    pub script: Script,
    pub rcode: ResponseCode,
    /// `owner ttl TYPE rdata` lines, in order.
    pub answer: Vec<String>,
    /// `owner ttl TYPE` of the authority records.
    pub authority: Vec<String>,
    pub aa: bool,
    /// Upstream questions asked, in order.
    pub asked: Vec<&'static str>,
    pub rule: &'static str,
}

/// Run a query through the engine as the server does, answering each upstream question
/// from the script. Returns the final response and the names asked.
pub fn drive(st: &Store, c: &Case) -> (Response, Vec<String>) {
    let view = st.view();
    let mut asked = Vec::new();
    let mut next = lookup(&view, &n(c.qname), c.qtype, DNSClass::IN, NOW);
    loop {
        match next {
            Answer::Local(r) => return (r, asked),
            Answer::Forward => panic!("{}: forwarded", c.name),
            Answer::Chase {
                response,
                target,
                qtype,
            } => {
                assert!(
                    asked.len() <= MAX_CNAME_CHAIN,
                    "{}: unbounded chase",
                    c.name
                );
                let key = (target.to_ascii().to_ascii_lowercase(), qtype);
                asked.push(key.0.clone());
                let Some(up) = c.script.get(&key) else {
                    panic!("{}: unscripted question {key:?}", c.name)
                };
                next = continue_chase(&view, response, &target, qtype, up.as_ref(), NOW);
            }
        }
    }
}

pub const E: &str = "ext.default.svc.cluster.local.";
pub const E2: &str = "ext2.default.svc.cluster.local.";
pub const K: &str = "kubernetes.default.svc.cluster.local.";
pub const W: &str = "www.example.com.";

pub fn line(owner: &str, ttl: u32, t: &str, data: &str) -> String {
    format!("{owner} {ttl} {t} {data}")
}

pub fn script(entries: Vec<(&str, RecordType, Option<Message>)>) -> Script {
    entries
        .into_iter()
        .map(|(name, t, m)| ((name.to_string(), t), m))
        .collect()
}
