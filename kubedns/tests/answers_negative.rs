//! Answer-behaviour table (issue 17): names that cannot exist (RFC 8020), empty
//! non-terminals, in-zone CNAME chains (RFC 1034 §4.3.2, RFC 6604, RFC 2308), the chain
//! limit and loops, and SRV on endpoint names (legacy port-less SRV). One named case per
//! row: question, rcode, answer section, authority owners, AA, and the rule it follows.

use std::net::IpAddr;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{DNSClass, Name, RecordType};
use kubedns::answer::{Answer, MAX_CNAME_CHAIN, Response, lookup};
use kubedns::hash::endpoint_hash_label;
use kubedns::model::{
    EndpointAddress, EndpointGroup, EndpointObject, EndpointSubset, Service, ServiceKind,
    ServicePort,
};
use kubedns::store::Standalone as Store;

const NOW: u64 = 1_700_000_123;
const Z: &str = "cluster.local.";

use RecordType::{A, AAAA, CNAME, SRV, TXT};
const NOERROR: ResponseCode = ResponseCode::NoError;
const NXDOMAIN: ResponseCode = ResponseCode::NXDomain;
const SERVFAIL: ResponseCode = ResponseCode::ServFail;

fn ip(s: &str) -> IpAddr {
    s.parse().expect("ip")
}

fn svc(name: &str, kind: ServiceKind, ports: &[(&str, &str, u16)]) -> Service {
    Service {
        namespace: "default".into(),
        name: name.into(),
        kind,
        ports: ports
            .iter()
            .map(|(n, p, port)| ServicePort {
                name: (*n).into(),
                protocol: (*p).into(),
                port: *port,
            })
            .collect(),
        resource_version: None,
    }
}

fn ext(name: &str, target: &str) -> Service {
    svc(name, ServiceKind::ExternalName(target.into()), &[])
}

fn eps(service: &str, addrs: &[(&str, Option<&str>)], port: (&str, u16)) -> EndpointGroup {
    EndpointGroup {
        namespace: "default".into(),
        service: service.into(),
        key: EndpointObject::Slice(service.to_string()),
        subsets: vec![EndpointSubset {
            addresses: addrs
                .iter()
                .map(|(i, h)| EndpointAddress {
                    ip: ip(i),
                    hostname: h.map(Into::into),
                    ready: true,
                })
                .collect(),
            ports: vec![ServicePort {
                name: port.0.into(),
                protocol: "TCP".into(),
                port: port.1,
            }],
        }],
    }
}

/// `x1 → x2 → … → x<n> → kubernetes`: a chain of `n` CNAMEs ending at a ClusterIP Service.
fn chain(st: &Store, prefix: &str, n: usize) {
    for i in 1..=n {
        let next = if i == n {
            "kubernetes".to_string()
        } else {
            format!("{prefix}{}", i + 1)
        };
        st.upsert_service(ext(
            &format!("{prefix}{i}"),
            &format!("{next}.default.svc.cluster.local"),
        ));
    }
}

fn store() -> Store {
    let st = Store::new(Z);
    st.upsert_service(svc(
        "kubernetes",
        ServiceKind::ClusterIp(vec![ip("10.0.0.1")]),
        &[("https", "TCP", 443)],
    ));
    st.upsert_service(svc("db", ServiceKind::Headless, &[]));
    st.upsert_endpoints(eps(
        "db",
        &[("10.1.0.1", Some("db-0")), ("10.1.0.2", None)],
        ("pg", 5432),
    ));
    st.upsert_service(svc("dup", ServiceKind::Headless, &[]));
    st.upsert_endpoints(eps(
        "dup",
        &[("10.2.0.1", Some("a")), ("10.2.0.2", Some("a"))],
        ("pg", 5432),
    ));
    st.upsert_service(ext("ext", "www.example.com"));
    st.upsert_service(ext("dangling", "nope.default.svc.cluster.local"));
    st.upsert_service(ext("alias", "kubernetes.default.svc.cluster.local"));
    st.upsert_service(ext("l1", "l2.default.svc.cluster.local"));
    st.upsert_service(ext("l2", "l1.default.svc.cluster.local"));
    chain(&st, "x", MAX_CNAME_CHAIN);
    chain(&st, "y", MAX_CNAME_CHAIN + 1);
    st.set_synced();
    st
}

struct Case {
    /// What the row checks.
    name: &'static str,
    qname: String,
    qtype: RecordType,
    rcode: ResponseCode,
    /// Answer section as sorted `owner ttl TYPE rdata` lines.
    answer: Vec<String>,
    /// Owners of the authority records (the SOA of negative answers).
    authority: Vec<&'static str>,
    aa: bool,
    /// The rule the row follows.
    rule: &'static str,
}

fn d(rel: &str) -> String {
    format!("{rel}.default.svc.{Z}")
}

fn rr(owner: &str, t: &str, data: &str) -> String {
    format!("{owner} 30 {t} {data}")
}

fn cname_chain(prefix: &str, n: usize) -> Vec<String> {
    (1..=n)
        .map(|i| {
            let next = if i == n {
                d("kubernetes")
            } else {
                d(&format!("{prefix}{}", i + 1))
            };
            rr(&d(&format!("{prefix}{i}")), "CNAME", &next)
        })
        .collect()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

fn cases() -> Vec<Case> {
    let hash2 = endpoint_hash_label(ip("10.1.0.2"));
    let hash1 = endpoint_hash_label(ip("10.1.0.1"));
    let khash = endpoint_hash_label(ip("10.0.0.1"));
    let soa = vec![Z];
    let nx = |name, qname: String, qtype, rule| Case {
        name,
        qname,
        qtype,
        rcode: NXDOMAIN,
        answer: vec![],
        authority: vec![Z],
        aa: true,
        rule,
    };
    let nodata = |name, qname: String, qtype, rule| Case {
        name,
        qname,
        qtype,
        rcode: NOERROR,
        answer: vec![],
        authority: vec![Z],
        aa: true,
        rule,
    };
    let mut x_chain = cname_chain("x", MAX_CNAME_CHAIN);
    x_chain.push(rr(&d("kubernetes"), "A", "10.0.0.1"));
    vec![
        // ---- pod family
        nx(
            "pod: first label not an address",
            format!("blah.default.pod.{Z}"),
            A,
            "RFC 8020: only a-b-c-d names exist under <ns>.pod",
        ),
        nx(
            "pod: non-address label, AAAA",
            format!("blah.default.pod.{Z}"),
            AAAA,
            "RFC 8020: the name does not exist for any type",
        ),
        nx(
            "pod: IPv6-looking label (not served)",
            format!("fd00--1.default.pod.{Z}"),
            AAAA,
            "RFC 8020: only dashed IPv4 pod names are published (legacy)",
        ),
        nx(
            "pod: out-of-range octet",
            format!("1-2-3-256.default.pod.{Z}"),
            A,
            "RFC 8020: not an address form",
        ),
        nodata(
            "pod: address name, AAAA",
            format!("1-2-3-4.default.pod.{Z}"),
            AAAA,
            "RFC 2308 §2.2: the name exists, no AAAA",
        ),
        nodata(
            "pod: address name, SRV",
            format!("1-2-3-4.default.pod.{Z}"),
            SRV,
            "RFC 2308 §2.2 (legacy crashed)",
        ),
        nx(
            "pod: below a pod name",
            format!("x.1-2-3-4.default.pod.{Z}"),
            A,
            "RFC 8020: nothing exists below a pod name",
        ),
        nodata(
            "pod: namespace node",
            format!("default.pod.{Z}"),
            A,
            "RFC 8020: empty non-terminal above every pod name",
        ),
        // ---- endpoint-hash and hostname labels
        nx(
            "hash label of no endpoint of this Service",
            d(&format!("{khash}.db")),
            A,
            "RFC 8020: the label names no endpoint",
        ),
        nx(
            "hash label of an endpoint that has a hostname",
            d(&format!("{hash1}.db")),
            A,
            "RFC 8020: a hostname'd endpoint is published under its hostname only (legacy)",
        ),
        Case {
            name: "hash label of a hostname-less endpoint",
            qname: d(&format!("{hash2}.db")),
            qtype: A,
            rcode: NOERROR,
            answer: vec![rr(&d(&format!("{hash2}.db")), "A", "10.1.0.2")],
            authority: vec![],
            aa: true,
            rule: "legacy hash names resolve",
        },
        nx(
            "below an endpoint hostname",
            d("x.db-0.db"),
            A,
            "RFC 8020: nothing exists below an endpoint name",
        ),
        nx(
            "_port._proto below an endpoint hostname",
            d("_pg._tcp.db-0.db"),
            SRV,
            "RFC 8020: SRV names exist only below the Service",
        ),
        nodata("endpoint hostname, TXT", d("db-0.db"), TXT, "RFC 2308 §2.2"),
        // ---- SRV on endpoint names: legacy port-less SRV at the name itself
        Case {
            name: "SRV on an endpoint hostname",
            qname: d("db-0.db"),
            qtype: SRV,
            rcode: NOERROR,
            answer: vec![rr(
                &d("db-0.db"),
                "SRV",
                &format!("10 100 0 {}", d("db-0.db")),
            )],
            authority: vec![],
            aa: true,
            rule: "legacy: skydns SRV of an address entry, target = the entry's own name, port 0",
        },
        Case {
            name: "SRV on a hash endpoint name",
            qname: d(&format!("{hash2}.db")),
            qtype: SRV,
            rcode: NOERROR,
            answer: vec![rr(
                &d(&format!("{hash2}.db")),
                "SRV",
                &format!("10 100 0 {}", d(&format!("{hash2}.db"))),
            )],
            authority: vec![],
            aa: true,
            rule: "legacy port-less SRV",
        },
        Case {
            name: "SRV on a ClusterIP hash name",
            qname: d(&format!("{khash}.kubernetes")),
            qtype: SRV,
            rcode: NOERROR,
            answer: vec![rr(
                &d(&format!("{khash}.kubernetes")),
                "SRV",
                &format!("10 100 0 {}", d(&format!("{khash}.kubernetes"))),
            )],
            authority: vec![],
            aa: true,
            rule: "legacy port-less SRV (target of the Service's SRV)",
        },
        Case {
            name: "SRV on a hostname shared by two endpoints",
            qname: d("a.dup"),
            qtype: SRV,
            rcode: NOERROR,
            answer: vec![rr(&d("a.dup"), "SRV", &format!("10 100 0 {}", d("a.dup")))],
            authority: vec![],
            aa: true,
            rule: "one SRV per distinct target; both addresses additional",
        },
        // ---- _port._proto names
        nx(
            "_port._proto, Service without that port",
            d("_http._tcp.kubernetes"),
            SRV,
            "RFC 8020: no such port name",
        ),
        nx(
            "_port._proto, port with another protocol",
            d("_https._udp.kubernetes"),
            SRV,
            "RFC 8020: no such (port, protocol)",
        ),
        nx(
            "_port._proto, headless without that port",
            d("_http._tcp.db"),
            SRV,
            "RFC 8020: no endpoint serves that port",
        ),
        nodata(
            "_proto node above an existing SRV name (ClusterIP)",
            d("_tcp.kubernetes"),
            SRV,
            "RFC 8020: empty non-terminal (legacy NXDOMAIN)",
        ),
        nodata(
            "_proto node above an existing SRV name (headless)",
            d("_tcp.db"),
            SRV,
            "RFC 8020: empty non-terminal (legacy NXDOMAIN)",
        ),
        nx(
            "_proto node without SRV names below",
            d("_udp.db"),
            SRV,
            "RFC 8020: nothing below",
        ),
        nx(
            "_proto under a leading wildcard",
            d("*._tcp.kubernetes"),
            SRV,
            "legacy: a literal `*` label has nothing below it",
        ),
        nodata(
            "_port._proto name, TXT",
            d("_https._tcp.kubernetes"),
            TXT,
            "RFC 2308 §2.2",
        ),
        // ---- below ClusterIP and ExternalName Services
        nx(
            "below a ClusterIP Service",
            d("x.kubernetes"),
            A,
            "RFC 8020: only hash labels of its IPs exist below it",
        ),
        nx(
            "two labels below a ClusterIP Service",
            d("x.y.kubernetes"),
            A,
            "RFC 8020",
        ),
        nx(
            "below an ExternalName",
            d("x.ext"),
            A,
            "RFC 8020: an alias has no children",
        ),
        // ---- in-zone chains: the rcode and SOA of the last name
        Case {
            name: "ExternalName to a missing in-zone name",
            qname: d("dangling"),
            qtype: A,
            rcode: NXDOMAIN,
            answer: vec![rr(&d("dangling"), "CNAME", &d("nope"))],
            authority: soa.clone(),
            aa: true,
            rule: "RFC 6604 §2: NXDOMAIN is about the last name; the CNAME stays (legacy dropped it, NODATA)",
        },
        Case {
            name: "ExternalName to an in-zone name without that type",
            qname: d("alias"),
            qtype: AAAA,
            rcode: NOERROR,
            answer: vec![rr(&d("alias"), "CNAME", &d("kubernetes"))],
            authority: soa.clone(),
            aa: true,
            rule: "RFC 2308 §2.2: NODATA for the target, never for the alias owner",
        },
        Case {
            name: "ExternalName to an in-zone name",
            qname: d("alias"),
            qtype: A,
            rcode: NOERROR,
            answer: sorted(vec![
                rr(&d("alias"), "CNAME", &d("kubernetes")),
                rr(&d("kubernetes"), "A", "10.0.0.1"),
            ]),
            authority: vec![],
            aa: true,
            rule: "RFC 1034 §4.3.2 step 3a",
        },
        Case {
            name: "CNAME query on an alias with a missing target",
            qname: d("dangling"),
            qtype: CNAME,
            rcode: NOERROR,
            answer: vec![rr(&d("dangling"), "CNAME", &d("nope"))],
            authority: vec![],
            aa: true,
            rule: "RFC 1034 §4.3.2: QTYPE CNAME stops at the alias",
        },
        Case {
            name: "chain of exactly MAX_CNAME_CHAIN CNAMEs",
            qname: d("x1"),
            qtype: A,
            rcode: NOERROR,
            answer: sorted(x_chain),
            authority: vec![],
            aa: true,
            rule: "MAX_CNAME_CHAIN = 8 CNAMEs per answer (as CoreDNS)",
        },
        Case {
            name: "chain one longer than the limit",
            qname: d("y1"),
            qtype: A,
            rcode: SERVFAIL,
            answer: sorted(cname_chain("y", MAX_CNAME_CHAIN + 1)),
            authority: vec![],
            aa: false,
            rule: "over the limit: SERVFAIL with the chain so far (never a NODATA for the alias)",
        },
        Case {
            name: "in-zone loop",
            qname: d("l1"),
            qtype: A,
            rcode: SERVFAIL,
            answer: sorted(vec![
                rr(&d("l1"), "CNAME", &d("l2")),
                rr(&d("l2"), "CNAME", &d("l1")),
            ]),
            authority: vec![],
            aa: false,
            rule: "a loop can never resolve: SERVFAIL with the chain",
        },
    ]
}

fn run(st: &Store, c: &Case) -> Response {
    let q = Name::from_ascii(&c.qname).expect("qname");
    match lookup(&st.view(), &q, c.qtype, DNSClass::IN, NOW) {
        Answer::Local(r) => r,
        other => panic!("{}: expected a local answer, got {other:?}", c.name),
    }
}

#[test]
fn answer_table() {
    let st = store();
    let mut failures = Vec::new();
    for c in cases() {
        let r = run(&st, &c);
        let answer = sorted(
            r.answers
                .iter()
                .map(|a| format!("{} {} {} {}", a.name, a.ttl, a.record_type(), a.data))
                .collect(),
        );
        let authority: Vec<String> = r.authorities.iter().map(|a| a.name.to_string()).collect();
        let want_auth: Vec<String> = c.authority.iter().map(|s| s.to_string()).collect();
        if r.rcode != c.rcode
            || answer != c.answer
            || authority != want_auth
            || r.authoritative != c.aa
        {
            failures.push(format!(
                "{} ({} {}; rule: {})\n  want {:?} {:?} auth {:?} aa={}\n  got  {:?} {:?} auth {:?} aa={}",
                c.name, c.qname, c.qtype, c.rule, c.rcode, c.answer, want_auth, c.aa, r.rcode,
                answer, authority, r.authoritative
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// SRV on endpoint names carries each target address in the additional section.
#[test]
fn srv_on_endpoint_names_adds_the_addresses() {
    let st = store();
    let extra = |qname: &str| -> Vec<String> {
        let c = Case {
            name: "additional",
            qname: qname.to_string(),
            qtype: SRV,
            rcode: NOERROR,
            answer: vec![],
            authority: vec![],
            aa: true,
            rule: "",
        };
        sorted(
            run(&st, &c)
                .additionals
                .iter()
                .map(|a| format!("{} {}", a.name, a.data))
                .collect(),
        )
    };
    assert_eq!(
        extra(&d("db-0.db")),
        vec![format!("{} 10.1.0.1", d("db-0.db"))]
    );
    assert_eq!(
        extra(&d("a.dup")),
        vec![
            format!("{} 10.2.0.1", d("a.dup")),
            format!("{} 10.2.0.2", d("a.dup"))
        ]
    );
}
