//! Writes the seed corpora for the kube-dns-rs fuzz targets into `<dir>/<target>/`:
//! real client queries (every record type and name shape the servers answer, with and without
//! EDNS, CHAOS, the RFC 9267 anti-patterns) and upstream replies built with hickory-proto, in
//! the input layout each target documents. Deterministic; files are named by index.

use std::fs;
use std::path::Path;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, CNAME, SOA, SRV, TXT};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};

fn name(s: &str) -> Name {
    Name::from_ascii(s).expect("seed name")
}

fn query(
    id: u16,
    qname: &str,
    t: RecordType,
    class: DNSClass,
    edns: Option<(u16, bool)>,
) -> Vec<u8> {
    let mut m = Message::new(id, MessageType::Query, OpCode::Query);
    m.metadata.recursion_desired = true;
    let mut q = Query::query(name(qname), t);
    q.set_query_class(class);
    m.add_query(q);
    if let Some((size, dnssec_ok)) = edns {
        let mut e = Edns::new();
        e.set_max_payload(size);
        e.set_dnssec_ok(dnssec_ok);
        m.set_edns(e);
    }
    m.to_vec().expect("encode seed query")
}

fn soa() -> Record {
    Record::from_rdata(
        name("example."),
        60,
        RData::SOA(SOA::new(
            name("ns.example."),
            name("hostmaster.example."),
            1,
            3600,
            600,
            86400,
            30,
        )),
    )
}

/// Kinds of upstream replies.
#[derive(Clone, Copy)]
enum Kind {
    Good,
    Cname,
    NxSoa,
    NoData,
    ServFail,
    Truncated,
    Additional,
}

fn reply(qname: &str, t: RecordType, edns: bool, kind: Kind) -> Vec<u8> {
    let mut m = Message::new(0, MessageType::Response, OpCode::Query);
    m.metadata.recursion_desired = true;
    m.metadata.recursion_available = true;
    m.add_query(Query::query(name(qname), t));
    let owner = name(qname);
    let data = |t: RecordType| match t {
        RecordType::AAAA => RData::AAAA(AAAA::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)),
        RecordType::TXT => RData::TXT(TXT::new(vec!["v=seed".into(); 3])),
        RecordType::SRV => RData::SRV(SRV::new(0, 100, 443, name("a.example."))),
        _ => RData::A(A::new(192, 0, 2, 1)),
    };
    match kind {
        Kind::Good => {
            m.add_answer(Record::from_rdata(owner.clone(), 300, data(t)));
            m.add_answer(Record::from_rdata(owner, 30, data(t)));
        }
        Kind::Cname => {
            m.add_answer(Record::from_rdata(
                owner,
                300,
                RData::CNAME(CNAME(name("target.example."))),
            ));
            m.add_answer(Record::from_rdata(name("target.example."), 60, data(t)));
        }
        Kind::NxSoa => {
            m.metadata.response_code = ResponseCode::NXDomain;
            m.add_authority(soa());
        }
        Kind::NoData => {
            m.add_authority(soa());
        }
        Kind::ServFail => m.metadata.response_code = ResponseCode::ServFail,
        Kind::Truncated => m.metadata.truncation = true,
        Kind::Additional => {
            m.add_answer(Record::from_rdata(owner, 300, data(t)));
            m.add_additional(Record::from_rdata(
                name("victim.example."),
                86400,
                RData::A(A::new(6, 6, 6, 6)),
            ));
        }
    }
    if edns {
        let mut e = Edns::new();
        e.set_max_payload(1232);
        m.set_edns(e);
    }
    m.to_vec().expect("encode seed reply")
}

fn len_prefixed(parts: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in parts {
        out.extend_from_slice(&(p.len() as u16).to_be_bytes());
        out.extend_from_slice(p);
    }
    out
}

fn write(dir: &Path, target: &str, seeds: &[Vec<u8>]) {
    let d = dir.join(target);
    fs::create_dir_all(&d).expect("create seed dir");
    for (i, s) in seeds.iter().enumerate() {
        fs::write(d.join(format!("seed-{i:03}")), s).expect("write seed");
    }
    println!("{target}: {} seeds", seeds.len());
}

/// Client queries for both query-path targets.
fn client_queries() -> Vec<Vec<u8>> {
    use RecordType::*;
    let inet = DNSClass::IN;
    let mut v = Vec::new();
    let names: &[(&str, RecordType)] = &[
        ("kubernetes.default.svc.cluster.local.", A),
        ("Kubernetes.DEFAULT.svc.cluster.local.", AAAA),
        ("dual.default.svc.cluster.local.", AAAA),
        ("big.default.svc.cluster.local.", A),
        ("host-3.big.default.svc.cluster.local.", A),
        ("_https._tcp.kubernetes.default.svc.cluster.local.", SRV),
        ("_dns._udp.dual.default.svc.cluster.local.", SRV),
        ("_http._tcp.big.default.svc.cluster.local.", SRV),
        ("big.default.svc.cluster.local.", SRV),
        ("10-2-0-1.default.pod.cluster.local.", A),
        ("ext.default.svc.cluster.local.", CNAME),
        ("inzone.default.svc.cluster.local.", A),
        ("kubernetes.default.myfed.svc.cluster.local.", A),
        ("1.0.0.10.in-addr.arpa.", PTR),
        ("3.0.2.10.in-addr.arpa.", PTR),
        ("cluster.local.", SOA),
        ("cluster.local.", NS),
        ("dns-version.cluster.local.", TXT),
        ("missing.default.svc.cluster.local.", A),
        ("default.svc.cluster.local.", A),
        ("www.example.com.", A),
        ("nx.example.com.", A),
        ("blocked.test.", A),
        ("blocked.test.", AAAA),
        ("sub.blocked.test.", ANY),
        ("host.test.", A),
        ("7.2.0.192.in-addr.arpa.", PTR),
        ("anything.local.test.", A),
        ("example.org.", MX),
    ];
    for (i, (n, t)) in names.iter().enumerate() {
        let edns = match i % 3 {
            0 => None,
            1 => Some((4096, false)),
            _ => Some((1232, true)),
        };
        v.push(query(i as u16 + 1, n, *t, inet, edns));
    }
    v.push(query(77, "version.bind.", TXT, DNSClass::CH, None));
    v.push(query(
        78,
        "cachesize.bind.",
        TXT,
        DNSClass::CH,
        Some((512, false)),
    ));
    v.push(query(
        79,
        "kubernetes.default.svc.cluster.local.",
        A,
        inet,
        Some((100, false)),
    ));

    // RFC 9267 anti-patterns and header oddities, hand-built.
    let hdr = |id: u16, flags: u16, qd: u16, an: u16, ns: u16, ar: u16| {
        let mut h = Vec::new();
        for x in [id, flags, qd, an, ns, ar] {
            h.extend_from_slice(&x.to_be_bytes());
        }
        h
    };
    let mut p = hdr(0x0101, 0x0100, 1, 0, 0, 0); // pointer to itself
    p.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1]);
    v.push(p);
    let mut p = hdr(0x0102, 0x0100, 1, 0, 0, 0); // forward pointer
    p.extend_from_slice(&[0xc0, 0x10, 0, 1, 0, 1, 1, b'a', 0]);
    v.push(p);
    let mut p = hdr(0x0103, 0x0100, 2, 0, 0, 0); // QDCOUNT 2 with one question
    p.extend_from_slice(&[1, b'a', 0, 0, 1, 0, 1]);
    v.push(p);
    let mut p = hdr(0x0104, 0x2100, 1, 0, 0, 0); // opcode UPDATE
    p.extend_from_slice(&[1, b'a', 0, 0, 1, 0, 1]);
    v.push(p);
    let mut p = hdr(0x0105, 0x0100, 1, 0, 0, 1); // OPT version 1
    p.extend_from_slice(&[1, b'a', 0, 0, 1, 0, 1]);
    p.extend_from_slice(&[0, 0, 41, 0x10, 0, 0, 1, 0, 0, 0, 0]);
    v.push(p);
    let mut p = hdr(0x0106, 0x0100, 1, 0, 0, 0); // 64-byte label
    p.push(64);
    p.extend_from_slice(&[b'x'; 64]);
    p.extend_from_slice(&[0, 0, 1, 0, 1]);
    v.push(p);
    let mut p = hdr(0x0107, 0x0100, 1, 0, 0, 0); // trailing garbage
    p.extend_from_slice(&[1, b'a', 0, 0, 1, 0, 1, 0xde, 0xad]);
    v.push(p);
    v.push(hdr(0x0108, 0x0100, 0, 0, 0, 0)); // header only
    v.push(vec![0; 11]);
    v
}

fn main() {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "fuzz/seeds".into());
    let dir = Path::new(&dir);
    let queries = client_queries();
    write(dir, "kubedns_query", &queries);
    write(dir, "dnsmasq_query", &queries);

    // tcp_framer: a client stream — pipelined length-prefixed queries, some streams ending in
    // a prefix shorter than a header or a truncated frame.
    let mut framed = Vec::new();
    for (i, chunk) in queries.chunks(3).enumerate() {
        let mut s = len_prefixed(chunk);
        match i % 3 {
            1 => s.extend_from_slice(&[0, 5, 1, 2, 3, 4, 5]),
            2 => s.extend_from_slice(&[0, 40, 0x12, 0x34]),
            _ => {}
        }
        framed.push(s);
    }
    write(dir, "tcp_framer", &framed);

    // kubedns_upstream: selector byte + up to three length-prefixed replies.
    let kq: &[(&str, RecordType, bool)] = &[
        ("www.example.com.", RecordType::A, false),
        ("www.example.com.", RecordType::AAAA, true),
        ("www.example.com.", RecordType::A, false), // chase of ext → www.example.com
        ("www.example.com.", RecordType::AAAA, false),
        ("1.2.0.192.in-addr.arpa.", RecordType::PTR, false),
        ("example.org.", RecordType::TXT, true),
    ];
    let mut seeds = Vec::new();
    for (i, (n, t, e)) in kq.iter().enumerate() {
        for (j, kind) in [
            Kind::Good,
            Kind::Cname,
            Kind::NxSoa,
            Kind::ServFail,
            Kind::Truncated,
        ]
        .into_iter()
        .enumerate()
        {
            let tcp = if j % 2 == 1 { 0x80 } else { 0 };
            let mut s = vec![i as u8 | tcp];
            let mut parts = vec![reply(n, *t, *e, kind)];
            if matches!(kind, Kind::ServFail) {
                parts.push(reply(n, *t, *e, Kind::Good));
            }
            s.extend(len_prefixed(&parts));
            seeds.push(s);
        }
    }
    write(dir, "kubedns_upstream", &seeds);

    // dnsmasq_upstream: selector byte + length-prefixed UDP reply + TCP reply (rest).
    // The upstream question is lowercase (dnsmasq-rs lowercases the key it sends).
    let dq: &[(&str, RecordType, bool)] = &[
        ("www.example.com.", RecordType::A, false),
        ("www.example.com.", RecordType::AAAA, true),
        ("nx.example.com.", RecordType::A, true),
        (
            "kubernetes.default.svc.cluster.local.",
            RecordType::SRV,
            false,
        ),
        ("example.org.", RecordType::TXT, true),
        ("example.org.", RecordType::ANY, false),
    ];
    let mut seeds = Vec::new();
    for (i, (n, t, e)) in dq.iter().enumerate() {
        for kind in [
            Kind::Good,
            Kind::Cname,
            Kind::NxSoa,
            Kind::NoData,
            Kind::ServFail,
            Kind::Truncated,
            Kind::Additional,
        ] {
            let mut s = vec![i as u8];
            s.extend(len_prefixed(&[reply(n, *t, *e, kind)]));
            if matches!(kind, Kind::Truncated) {
                s.extend(reply(n, *t, *e, Kind::Good));
            }
            seeds.push(s);
        }
    }
    write(dir, "dnsmasq_upstream", &seeds);

    // Parser targets: NUL-separated strings.
    let join = |parts: &[&str]| parts.join("\0").into_bytes();
    write(
        dir,
        "kubedns_parsers",
        &[
            join(&[
                r#"{"acme.local":["1.2.3.4"],"foo.bar":["10.0.0.1:5353","ns.example.com"]}"#,
                r#"["8.8.8.8","8.8.4.4:53"]"#,
                r#"{"myfed":"example.com"}"#,
                "nameserver 10.0.0.10\nsearch default.svc.cluster.local\noptions ndots:5",
                "v1",
                "stubDomains={}\nfederations={\"a\":\"b.c\"}",
                "1.0.0.10.in-addr.arpa",
                "10-2-0-1",
            ]),
            join(&[
                "--domain=cluster.local.",
                "--dns-port=10053",
                "--config-dir=/kube-dns-config",
                "--federations=myfed=example.com",
                "--v=2",
                "--kube-master-url=$(MASTER)",
                "MASTER=http://127.0.0.1:8080",
            ]),
            join(&[
                "1h2m3.5s",
                "-12",
                "true",
                "0x1F",
                "${HOME}/x",
                "--healthz-port",
                "8081",
            ]),
        ],
    );
    write(
        dir,
        "dnsmasq_parsers",
        &[
            join(&[
                "cache-size=1000\nserver=/cluster.local/127.0.0.1#10053\nconf-file=/etc/x.conf\n",
                "-v=2",
                "--logtostderr",
                "--configDir=/etc/k8s/dns/dnsmasq-nanny",
                "--restartDnsmasq=true",
                "--",
                "-k",
                "--cache-size=1000",
                "--no-negcache",
                "--log-facility=-",
                "--server=/cluster.local/127.0.0.1#10053",
                "--server=/in-addr.arpa/127.0.0.1#10053",
                "-C",
                "/etc/dnsmasq.conf",
            ]),
            join(&[
                "address=/blocked.test/10.9.9.9\nlocal=/local.test/\n",
                r#"{"acme.local":["1.2.3.4"],"my.svc.cluster.local":["ns.default.svc.cluster.local:5353"]}"#,
                r#"["8.8.8.8","1.1.1.1:5353"]"#,
                "4.3.2.1.in-addr.arpa",
                "192.0.2.7 host.test alias\n::1 localhost",
                "host.test,192.0.2.7,2001:db8::7,3600",
                "7.2.0.192.in-addr.arpa",
            ]),
        ],
    );
    write(
        dir,
        "healthz_parsers",
        &[
            join(&[
                "sidecar",
                "--v=2",
                "--logtostderr",
                "--probe=kubedns,127.0.0.1:10053,kubernetes.default.svc.cluster.local,5,SRV",
                "--probe=dnsmasq,127.0.0.1:53,kubernetes.default.svc.cluster.local,5,SRV",
            ]),
            join(&[
                "e",
                "--cmd=nslookup kubernetes.default.svc.cluster.local 127.0.0.1 >/dev/null",
                "--url=/healthz-dnsmasq",
                "--cmd=nslookup kubernetes.default.svc.cluster.local 127.0.0.1:10053",
                "--url=/healthz-kubedns",
                "--port=8080",
                "--quiet",
            ]),
            join(&[
                "x",
                "kubedns,[::1]:10053,kubernetes.default.svc.cluster.local,5,A",
                "[127.0.0.1]:10053",
                "1m30s",
                "false",
                "65536",
            ]),
        ],
    );
}
