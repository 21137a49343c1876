//! The generated corpus: `(name, type)` pairs over the fixture. Every name that exists (zone
//! structure, Services, SRV port names, endpoint names found in the servers' SRV answers, pod
//! names, reverse names of every address) crossed with [`TYPES`], plus names that cannot
//! exist: unknown labels at each depth, bad port and protocol labels, wildcard forms, case
//! variations, malformed pod names and reverse names of unused addresses. Deterministic:
//! sorted and deduplicated.

use std::collections::BTreeSet;
use std::net::IpAddr;

use hickory_proto::rr::RecordType;

use super::fixture::{BIG, NS, PODS, big_ip};

/// The cluster domain both servers serve.
pub const ZONE: &str = "cluster.local.";

/// Every name is asked with each of these types.
pub const TYPES: &[RecordType] = &[
    RecordType::A,
    RecordType::AAAA,
    RecordType::SRV,
    RecordType::PTR,
    RecordType::CNAME,
    RecordType::TXT,
    RecordType::ANY,
    RecordType::MX,
    RecordType::NS,
    RecordType::SOA,
];

/// One query of the corpus.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pair {
    /// Query name (absolute, case as sent).
    pub name: String,
    /// Query type.
    pub rtype: RecordType,
}

/// Services of the fixture with their named ports `(name, protocol)`.
pub const SERVICES: &[(&str, &[(&str, &str)])] = &[
    (
        "web",
        &[("http", "tcp"), ("dns", "udp"), ("dns-tcp", "tcp")],
    ),
    ("plain", &[]),
    ("hl", &[("sql", "tcp"), ("metrics", "tcp")]),
    ("hl-nohost", &[]),
    ("hl-noports", &[]),
    ("ext-in", &[]),
    ("ext-missing", &[]),
    ("ext-out", &[]),
    ("ext-alias", &[]),
    ("ext-nx", &[]),
    ("dual", &[("http", "tcp")]),
    ("dual-hl", &[("http", "tcp")]),
    ("v6", &[("http", "tcp")]),
    (BIG, &[("http", "tcp")]),
];

/// Headless Services whose endpoint names come from the servers' SRV answers.
pub const HEADLESS: &[&str] = &["hl", "hl-nohost", "hl-noports", "dual-hl", BIG];

/// Endpoint names of [`BIG`] kept in the corpus (of 1100).
const BIG_SAMPLE: usize = 3;

fn svc(s: &str) -> String {
    format!("{s}.{NS}.svc.{ZONE}")
}

/// The reverse name of `ip` (RFC 1035 §3.5, RFC 3596 §2.5).
pub fn reverse(ip: &IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            format!("{}.{}.{}.{}.in-addr.arpa.", o[3], o[2], o[1], o[0])
        }
        IpAddr::V6(v6) => {
            let mut s = String::new();
            for b in v6.octets().iter().rev() {
                s.push_str(&format!("{:x}.{:x}.", b & 0xf, b >> 4));
            }
            s + "ip6.arpa."
        }
    }
}

/// Names of the zone's structure, Services, ports, pods and names that cannot exist.
fn static_names() -> Vec<String> {
    let z = ZONE;
    let mut n: Vec<String> = vec![
        z.into(),
        format!("svc.{z}"),
        format!("pod.{z}"),
        format!("{NS}.svc.{z}"),
        format!("{NS}.pod.{z}"),
        format!("default.svc.{z}"),
        format!("empty.svc.{z}"),
        format!("dns-version.{z}"),
        format!("ns.dns.{z}"),
        format!("dns.{z}"),
        format!("kubernetes.default.svc.{z}"),
        format!("_https._tcp.kubernetes.default.svc.{z}"),
        // Unknown labels at each depth.
        format!("nope.{z}"),
        format!("nope.svc.{z}"),
        format!("nope.pod.{z}"),
        format!("nope.{NS}.svc.{z}"),
        format!("nope.web.{NS}.svc.{z}"),
        format!("a.nope.web.{NS}.svc.{z}"),
        format!("nope.hl.{NS}.svc.{z}"),
        format!("x.hl-0.hl.{NS}.svc.{z}"),
        format!("nope.ext-in.{NS}.svc.{z}"),
        format!("a.b.c.d.e.f.svc.{z}"),
        format!("web.{NS}.svc.nope.{z}"),
        format!("web.nope.svc.{z}"),
        // Wildcard forms (legacy kube-dns answered `*` labels, spec 1.1.0 deprecates them).
        format!("*.{z}"),
        format!("*.svc.{z}"),
        format!("*.{NS}.svc.{z}"),
        format!("web.*.svc.{z}"),
        format!("*.*.svc.{z}"),
        format!("*.web.{NS}.svc.{z}"),
        format!("*.hl.{NS}.svc.{z}"),
        format!("*._tcp.web.{NS}.svc.{z}"),
        format!("_http.*.web.{NS}.svc.{z}"),
        format!("*.*.web.{NS}.svc.{z}"),
        format!("*._tcp.hl.{NS}.svc.{z}"),
        // Bad port and protocol labels.
        format!("_nope._tcp.web.{NS}.svc.{z}"),
        format!("_http._udp.web.{NS}.svc.{z}"),
        format!("_http._sctp.web.{NS}.svc.{z}"),
        format!("_80._tcp.web.{NS}.svc.{z}"),
        format!("_tcp.web.{NS}.svc.{z}"),
        format!("_udp.web.{NS}.svc.{z}"),
        format!("_http.web.{NS}.svc.{z}"),
        format!("http._tcp.web.{NS}.svc.{z}"),
        format!("_http.tcp.web.{NS}.svc.{z}"),
        format!("_tcp.hl.{NS}.svc.{z}"),
        format!("_sql._tcp.hl-0.hl.{NS}.svc.{z}"),
        format!("_http._tcp.ext-out.{NS}.svc.{z}"),
        format!("_http._tcp.plain.{NS}.svc.{z}"),
        // Case variations.
        format!("WEB.{NS}.svc.{z}"),
        "Web.CMP.Svc.Cluster.Local.".into(),
        format!("_HTTP._TCP.web.{NS}.svc.{z}"),
        format!("HL-0.hl.{NS}.svc.{z}"),
        format!("EXT-IN.{NS}.svc.{z}"),
        "KUBERNETES.DEFAULT.SVC.CLUSTER.LOCAL.".into(),
        format!("10-244-1-10.CMP.pod.{z}"),
        // Pod names that are not dashed addresses, or below one.
        format!("10-1-2-3.{NS}.pod.{z}"),
        format!("1-2-3.{NS}.pod.{z}"),
        format!("300-1-1-1.{NS}.pod.{z}"),
        format!("blah.{NS}.pod.{z}"),
        format!("fd00-10-244--5-10.{NS}.pod.{z}"),
        format!("10-244-1-10.nope.pod.{z}"),
        format!("x.10-244-1-10.{NS}.pod.{z}"),
        format!("10-244-1-10.pod.{z}"),
        // Reverse zones' structure and unused addresses.
        "in-addr.arpa.".into(),
        "10.in-addr.arpa.".into(),
        "0.0.10.in-addr.arpa.".into(),
        "254.255.0.10.in-addr.arpa.".into(),
        "9.9.244.10.in-addr.arpa.".into(),
        "1.1.168.192.in-addr.arpa.".into(),
        "x.1.0.0.10.in-addr.arpa.".into(),
        // Out of the zone (forwarded to the shared upstream).
        "www.example.org.".into(),
        "nx.example.org.".into(),
    ];
    for (s, ports) in SERVICES {
        n.push(svc(s));
        for (p, proto) in *ports {
            n.push(format!("_{p}._{proto}.{}", svc(s)));
        }
    }
    for p in PODS {
        for ip in p.ips {
            if let Ok(IpAddr::V4(v4)) = ip.parse::<IpAddr>() {
                n.push(format!("{}.{NS}.pod.{z}", v4.to_string().replace('.', "-")));
            }
        }
    }
    n
}

/// The corpus: static names, the `discovered` endpoint names (SRV targets of
/// [`HEADLESS`]), the reverse names of `ips` (cluster, endpoint and pod addresses), each
/// with every type of [`TYPES`].
pub fn generate(discovered: &BTreeSet<String>, ips: &BTreeSet<IpAddr>) -> Vec<Pair> {
    let mut names: BTreeSet<String> = static_names().into_iter().collect();
    let big_suffix = format!(".{}", svc(BIG));
    let mut big_kept = 0;
    for d in discovered {
        if d.ends_with(&big_suffix) {
            if big_kept == BIG_SAMPLE {
                continue;
            }
            big_kept += 1;
        }
        names.insert(d.clone());
    }
    let big_first: IpAddr = big_ip(0).parse().expect("ip");
    for ip in ips.iter().chain(std::iter::once(&big_first)) {
        names.insert(reverse(ip));
    }
    let mut pairs = Vec::with_capacity(names.len() * TYPES.len());
    for name in &names {
        for &rtype in TYPES {
            pairs.push(Pair {
                name: name.clone(),
                rtype,
            });
        }
    }
    pairs
}
