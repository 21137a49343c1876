//! House-style B4 row 14 for the forwarder: the amplification factor (reply bytes per query
//! byte) over a pod's query corpus and an attacker's ANY/TXT corpus, with and without
//! `--minimal-any`. Same deterministic harness as `scenario.rs` (fake transport, paused time).

mod common;

use std::net::SocketAddr;
use std::sync::Arc;

use common::*;
use dnsmasq_rs::testutil::*;
use dnsmasq_rs::wire;

/// The fake upstream's data, with realistic sizes: two A records, one AAAA, an SPF-like TXT
/// RRset (3 × 80 bytes), two MX, two SRV, ANY = all of those; names under `.cluster.local`
/// or starting with `nx` are NXDOMAIN with an SOA (search-path expansion).
fn zone_answer(query: &[u8]) -> Vec<u8> {
    use hickory_proto::op::Message;
    use hickory_proto::rr::rdata::{A, AAAA, MX, SRV, TXT};
    use hickory_proto::rr::{Name, RData, Record, RecordType};
    let base = Message::from_vec(&answer_a(query, &[], false)).unwrap();
    let qname = base.queries[0].name.clone();
    let qtype = base.queries[0].query_type;
    let text = qname.to_ascii().to_ascii_lowercase();
    if text.ends_with(".cluster.local.") || text.starts_with("nx") {
        return nxdomain(query, Some((300, 60)));
    }
    let target = |s: &str| Name::from_ascii(s).unwrap();
    let all: Vec<RData> = vec![
        RData::A(A::new(192, 0, 2, 10)),
        RData::A(A::new(192, 0, 2, 11)),
        RData::AAAA(AAAA::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 10)),
        RData::TXT(TXT::new(vec!["v=spf1 ".to_string() + &"i".repeat(73)])),
        RData::TXT(TXT::new(vec![
            "google-site-verification=".to_string() + &"k".repeat(55),
        ])),
        RData::TXT(TXT::new(vec!["ms=".to_string() + &"m".repeat(77)])),
        RData::MX(MX::new(10, target("mx1.mail.example."))),
        RData::MX(MX::new(20, target("mx2.mail.example."))),
        RData::SRV(SRV::new(0, 5, 443, target("host-a.example."))),
        RData::SRV(SRV::new(0, 5, 443, target("host-b.example."))),
    ];
    let mut m = base;
    for rd in all {
        if qtype == RecordType::ANY || rd.record_type() == qtype {
            m.add_answer(Record::from_rdata(qname.clone(), 300, rd));
        }
    }
    m.to_vec().unwrap()
}

/// Sends one query through the full pipeline; upstream queries are answered from
/// [`zone_answer`]. `None` when nothing is sent back.
async fn through(h: &mut Harness, pkt: Vec<u8>, src: SocketAddr, udp: bool) -> Option<Vec<u8>> {
    let engine = Arc::clone(&h.engine);
    let mut task = tokio::spawn(async move {
        let mut out = Vec::new();
        engine.handle(&pkt, src, udp, &mut out).await.then_some(out)
    });
    loop {
        tokio::select! {
            r = &mut task => return r.unwrap(),
            Some(o) = h.out.recv() => o.inject(zone_answer(&o.bytes), o.server),
        }
    }
}

/// A pod's traffic: each external name looked up through the ndots:5 search path (three
/// NXDOMAINs per family, then the answer), A and AAAA, half of the clients with EDNS; plus
/// TXT, MX and SRV lookups and a few ANY. Played twice (the second round is cache hits).
fn pod_corpus() -> Vec<Vec<u8>> {
    let mut v = Vec::new();
    let search = [
        "default.svc.cluster.local",
        "svc.cluster.local",
        "cluster.local",
    ];
    for (i, host) in [
        "www.example.com",
        "api.example.org",
        "cdn.example.net",
        "a.example.io",
    ]
    .iter()
    .enumerate()
    {
        let edns = (i % 2 == 0).then_some(1232);
        for qtype in [wire::TYPE_A, wire::TYPE_AAAA] {
            for s in search {
                v.push(query_id(&format!("{host}.{s}"), qtype, edns, 1).0);
            }
            v.push(query_id(host, qtype, edns, 1).0);
        }
    }
    for (name, qtype) in [
        ("example.com", 16),
        ("example.org", 16),
        ("example.com", 15),
        ("_https._tcp.example.com", 33),
        ("example.com", wire::TYPE_ANY),
    ] {
        v.push(query_id(name, qtype, Some(1232), 1).0);
    }
    let twice = v.clone();
    v.extend(twice);
    v
}

/// What a reflection attacker would send: ANY and TXT for the largest name, with the largest
/// EDNS buffer, spoofing the victim's address.
fn attack_corpus() -> Vec<Vec<u8>> {
    (0..20)
        .map(|i| {
            let qtype = if i % 2 == 0 { wire::TYPE_ANY } else { 16 };
            query_id("example.com", qtype, Some(4096), i).0
        })
        .collect()
}

struct Amplification {
    bytes_in: usize,
    bytes_out: usize,
    worst: f64,
}

impl Amplification {
    fn factor(&self) -> f64 {
        self.bytes_out as f64 / self.bytes_in as f64
    }
}

async fn measure(args: &str, corpus: &[Vec<u8>], src: &str) -> Amplification {
    let mut h = harness(args);
    let src: SocketAddr = src.parse().unwrap();
    let mut a = Amplification {
        bytes_in: 0,
        bytes_out: 0,
        worst: 0.0,
    };
    for pkt in corpus {
        let wire::Parsed::Query(q) = wire::parse_query(pkt) else {
            panic!("corpus query")
        };
        let out = through(&mut h, pkt.clone(), src, true)
            .await
            .unwrap_or_default();
        assert!(out.len() <= q.udp_limit(), "{} > UDP limit", out.len());
        a.bytes_in += pkt.len();
        a.bytes_out += out.len();
        a.worst = a.worst.max(out.len() as f64 / pkt.len() as f64);
    }
    a
}

// B4 row 14: amplification over UDP. Every reply stays within the client's UDP limit; over a
// pod's query corpus the bytes-out / bytes-in factor is ≤ 10; with `--minimal-any` (RFC 8482)
// an attacker's best queries gain far less than without; clients outside `--allow-from` get
// REFUSED, never larger than their query.
#[tokio::test(start_paused = true)]
async fn row14_amplification_factor_over_a_query_corpus() {
    let base = up1();
    let pod = measure(&base, &pod_corpus(), "10.0.0.9:4000").await;
    eprintln!(
        "pod corpus: {} queries, {} B in, {} B out, factor {:.2}, worst {:.2}",
        pod_corpus().len(),
        pod.bytes_in,
        pod.bytes_out,
        pod.factor(),
        pod.worst
    );
    assert!(
        pod.factor() <= 10.0,
        "pod corpus factor {:.2}",
        pod.factor()
    );

    let full = measure(&base, &attack_corpus(), "10.0.0.9:4000").await;
    let minimal = measure(
        &format!("{base} --minimal-any"),
        &attack_corpus(),
        "10.0.0.9:4000",
    )
    .await;
    eprintln!(
        "attack corpus: factor {:.2} (worst {:.2}) forwarded; {:.2} (worst {:.2}) with --minimal-any",
        full.factor(),
        full.worst,
        minimal.factor(),
        minimal.worst
    );
    assert!(minimal.factor() <= 10.0, "{:.2}", minimal.factor());
    assert!(
        minimal.factor() * 1.5 < full.factor(),
        "--minimal-any must cut the factor"
    );

    let outsider = measure(
        &format!("{base} --allow-from=10.0.0.0/8"),
        &attack_corpus(),
        "192.0.2.7:4000",
    )
    .await;
    assert!(
        outsider.worst <= 1.0,
        "REFUSED larger than the query: {:.2}",
        outsider.worst
    );
}
