//! ExternalName chains that leave the cluster zone, against an adversarial upstream (issue
//! 17): the real kubedns (its `--nameservers` pointing at a scripted authoritative server
//! on 127.0.0.1:0) alone, and the real dnsmasq-rs in front of it, with the legacy
//! manifest's options (`--no-negcache`) and without them. Each case checks the answer
//! (rcode, CNAME chain, data, SOA), and what each layer caches by counting the questions
//! the upstream receives: kubedns never caches an answer built from upstream data, and
//! dnsmasq-rs keeps positive answers, keeps negative ones only with negative caching on
//! (lifetime bounded by the 30 s CNAME), and a SERVFAIL for 2 s.
//!
//! Upstream behaviours: an A answer, NODATA with SOA, NXDOMAIN with SOA, SERVFAIL, no reply
//! (timeout), a CNAME back into the cluster zone (with a forged record for the cluster name),
//! a loop through the cluster zone, a chain longer than the 8-CNAME limit, and a reply
//! carrying records for other names. Loopback only; skipped until the binaries are built.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hickory_proto::op::{Message, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, CNAME, SOA};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use integration::harness::bins::{binary_path, skip_without_binaries};
use integration::harness::dns::{answer_strings, rcode};
use integration::harness::ports::free_dns_port;
use integration::harness::stack::dnsmasq_args;
use integration::harness::{
    ChildProcess, DnsClient, ProcessSpec, Stack, StackOptions, Transport, objects, wait,
};
use tokio::net::UdpSocket;

const NS: &str = "other";
const K: &str = "kubernetes.default.svc.cluster.local.";

fn fqdn(svc: &str) -> String {
    format!("{svc}.{NS}.svc.cluster.local.")
}

fn n(s: &str) -> Name {
    Name::from_ascii(s).expect("name")
}

/// What the fake upstream does for one (name, type).
#[derive(Clone)]
enum Behaviour {
    Reply(ResponseCode, Vec<Record>, Vec<Record>),
    Silent,
}

/// A scripted authoritative server over UDP: answers from the script, counts questions.
#[derive(Clone, Default)]
struct Upstream {
    script: Arc<Mutex<HashMap<(String, RecordType), Behaviour>>>,
    asked: Arc<Mutex<HashMap<String, usize>>>,
}

impl Upstream {
    fn set(&self, name: &str, t: RecordType, b: Behaviour) {
        self.script
            .lock()
            .expect("lock")
            .insert((name.to_ascii_lowercase(), t), b);
    }

    fn asked(&self, name: &str) -> usize {
        let asked = self.asked.lock().expect("lock");
        asked.get(&name.to_ascii_lowercase()).copied().unwrap_or(0)
    }

    async fn start(&self) -> (SocketAddr, tokio::task::JoinHandle<()>) {
        let sock = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        let addr = sock.local_addr().expect("addr");
        let me = self.clone();
        let h = tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            while let Ok((len, from)) = sock.recv_from(&mut buf).await {
                let Ok(q) = Message::from_vec(&buf[..len]) else {
                    continue;
                };
                let Some(question) = q.queries.first() else {
                    continue;
                };
                let name = question.name().to_ascii().to_ascii_lowercase();
                *me.asked
                    .lock()
                    .expect("lock")
                    .entry(name.clone())
                    .or_default() += 1;
                let b = me
                    .script
                    .lock()
                    .expect("lock")
                    .get(&(name, question.query_type()))
                    .cloned()
                    .unwrap_or(Behaviour::Reply(ResponseCode::Refused, vec![], vec![]));
                let Behaviour::Reply(code, answers, authority) = b else {
                    continue;
                };
                let mut m = Message::response(q.metadata.id, OpCode::Query);
                m.metadata.authoritative = true;
                m.metadata.response_code = code;
                m.add_queries(q.queries.clone());
                m.answers = answers;
                m.authorities = authority;
                if let Ok(bytes) = m.to_vec() {
                    let _ = sock.send_to(&bytes, from).await;
                }
            }
        });
        (addr, h)
    }
}

fn a(owner: &str, ttl: u32, ip: [u8; 4]) -> Record {
    Record::from_rdata(n(owner), ttl, RData::A(A(ip.into())))
}

fn cname(owner: &str, target: &str) -> Record {
    Record::from_rdata(n(owner), 300, RData::CNAME(CNAME(n(target))))
}

fn soa(zone: &str, minimum: u32) -> Record {
    let s = SOA::new(
        n(&format!("ns.{zone}")),
        n(&format!("h.{zone}")),
        1,
        7200,
        900,
        86400,
        minimum,
    );
    Record::from_rdata(n(zone), 900, RData::SOA(s))
}

/// The upstream script and the ExternalName Services pointing into it.
fn script(up: &Upstream) -> Vec<(&'static str, &'static str)> {
    use Behaviour::{Reply, Silent};
    use RecordType::{A as TA, SRV};
    use ResponseCode::{NXDomain, NoError, ServFail};
    up.set(
        "www.example.com.",
        TA,
        Reply(
            NoError,
            vec![a("www.example.com.", 300, [1, 2, 3, 4])],
            vec![],
        ),
    );
    up.set(
        "www.example.com.",
        SRV,
        Reply(NoError, vec![], vec![soa("example.com.", 20)]),
    );
    up.set(
        "gone.example.com.",
        TA,
        Reply(NXDomain, vec![], vec![soa("example.com.", 10)]),
    );
    up.set("fail.example.com.", TA, Reply(ServFail, vec![], vec![]));
    up.set("slow.example.com.", TA, Silent);
    up.set(
        "out.example.com.",
        TA,
        Reply(
            NXDomain,
            vec![cname("out.example.com.", K), a(K, 300, [6, 6, 6, 6])],
            vec![],
        ),
    );
    up.set(
        "loop.example.com.",
        TA,
        Reply(
            NoError,
            vec![cname("loop.example.com.", &fqdn("loop"))],
            vec![],
        ),
    );
    // l0 → l1 → … → l8: with the Service's own CNAME that is 9 + 1 CNAMEs
    let chain: Vec<Record> = (0..9)
        .map(|i| {
            cname(
                &format!("l{i}.example.com."),
                &format!("l{}.example.com.", i + 1),
            )
        })
        .chain([a("l9.example.com.", 300, [1, 2, 3, 9])])
        .collect();
    up.set("l0.example.com.", TA, Reply(NoError, chain, vec![]));
    up.set(
        "noisy.example.com.",
        TA,
        Reply(
            NoError,
            vec![
                a("evil.example.net.", 300, [6, 6, 6, 6]),
                a("noisy.example.com.", 300, [1, 2, 3, 5]),
                a(&fqdn("ext"), 300, [6, 6, 6, 6]),
            ],
            vec![soa("example.net.", 300)],
        ),
    );
    vec![
        ("ext", "www.example.com"),
        ("nx", "gone.example.com"),
        ("fail", "fail.example.com"),
        ("slow", "slow.example.com"),
        ("back", "out.example.com"),
        ("loop", "loop.example.com"),
        ("long", "l0.example.com"),
        ("noisy", "noisy.example.com"),
    ]
}

/// One row: the query, what every client gets, and the name the upstream is asked.
struct Case {
    name: &'static str,
    svc: &'static str,
    qtype: RecordType,
    rcode: ResponseCode,
    /// `owner TYPE rdata` answer lines, in order (dnsmasq-rs may return only the rcode
    /// when it answers a failure itself: `front_answer` says what it must return).
    answer: Vec<String>,
    /// Owner of the SOA in the authority section, if any.
    soa: Option<&'static str>,
    /// Name asked upstream (its question count shows what was cached).
    asks: &'static str,
    /// Questions kubedns sends upstream per client query (SERVFAIL is retried once).
    per_query: usize,
    /// Cached by dnsmasq-rs with the legacy options (`--no-negcache`).
    cached_legacy: bool,
    /// Cached by dnsmasq-rs with negative caching on.
    cached_negcache: bool,
    /// Whether dnsmasq-rs relays the answer section (false: its own SERVFAIL, no records).
    front_answer: bool,
}

fn cases() -> Vec<Case> {
    use RecordType::{A as TA, SRV};
    use ResponseCode::{NXDomain, NoError, ServFail};
    let c = |svc: &str, t: &str| format!("{} CNAME {t}", fqdn(svc));
    vec![
        Case {
            name: "target resolves",
            svc: "ext",
            qtype: TA,
            rcode: NoError,
            answer: vec![
                c("ext", "www.example.com."),
                "www.example.com. A 1.2.3.4".into(),
            ],
            soa: None,
            asks: "www.example.com.",
            per_query: 1,
            cached_legacy: true,
            cached_negcache: true,
            front_answer: true,
        },
        Case {
            name: "target NODATA with SOA",
            svc: "ext",
            qtype: SRV,
            rcode: NoError,
            answer: vec![c("ext", "www.example.com.")],
            soa: Some("example.com."),
            asks: "www.example.com.",
            per_query: 1,
            cached_legacy: false,
            cached_negcache: true,
            front_answer: true,
        },
        Case {
            name: "target NXDOMAIN with SOA",
            svc: "nx",
            qtype: TA,
            rcode: NXDomain,
            answer: vec![c("nx", "gone.example.com.")],
            soa: Some("example.com."),
            asks: "gone.example.com.",
            per_query: 1,
            cached_legacy: false,
            cached_negcache: true,
            front_answer: true,
        },
        Case {
            name: "upstream SERVFAIL",
            svc: "fail",
            qtype: TA,
            rcode: ServFail,
            answer: vec![c("fail", "fail.example.com.")],
            soa: None,
            asks: "fail.example.com.",
            per_query: 2,
            cached_legacy: true,
            cached_negcache: true,
            front_answer: false,
        },
        Case {
            name: "upstream timeout",
            svc: "slow",
            qtype: TA,
            rcode: ServFail,
            answer: vec![c("slow", "slow.example.com.")],
            soa: None,
            asks: "slow.example.com.",
            per_query: 1,
            cached_legacy: true,
            cached_negcache: true,
            front_answer: false,
        },
        Case {
            name: "out of the zone and back in (forged record dropped)",
            svc: "back",
            qtype: TA,
            rcode: NoError,
            answer: vec![
                c("back", "out.example.com."),
                format!("out.example.com. CNAME {K}"),
                format!("{K} A 10.0.0.1"),
            ],
            soa: None,
            asks: "out.example.com.",
            per_query: 1,
            cached_legacy: true,
            cached_negcache: true,
            front_answer: true,
        },
        Case {
            name: "loop through the cluster zone",
            svc: "loop",
            qtype: TA,
            rcode: ServFail,
            answer: vec![
                c("loop", "loop.example.com."),
                format!("loop.example.com. CNAME {}", fqdn("loop")),
            ],
            soa: None,
            asks: "loop.example.com.",
            per_query: 1,
            cached_legacy: true,
            cached_negcache: true,
            front_answer: false,
        },
        Case {
            name: "chain longer than 8 CNAMEs",
            svc: "long",
            qtype: TA,
            rcode: ServFail,
            answer: std::iter::once(c("long", "l0.example.com."))
                .chain((0..8).map(|i| format!("l{i}.example.com. CNAME l{}.example.com.", i + 1)))
                .collect(),
            soa: None,
            asks: "l0.example.com.",
            per_query: 1,
            cached_legacy: true,
            cached_negcache: true,
            front_answer: false,
        },
        Case {
            name: "records for other names dropped",
            svc: "noisy",
            qtype: TA,
            rcode: NoError,
            answer: vec![
                c("noisy", "noisy.example.com."),
                "noisy.example.com. A 1.2.3.5".into(),
            ],
            soa: None,
            asks: "noisy.example.com.",
            per_query: 1,
            cached_legacy: true,
            cached_negcache: true,
            front_answer: true,
        },
    ]
}

fn lines(m: &Message) -> Vec<String> {
    m.answers
        .iter()
        .map(|r| format!("{} {} {}", r.name, r.record_type(), r.data))
        .collect()
}

/// Checks one reply against the case; `front` = it came through dnsmasq-rs.
fn check(c: &Case, who: &str, m: &Message, front: bool) {
    let ctx = format!("{who}: {} ({} {})", c.name, fqdn(c.svc), c.qtype);
    assert_eq!(rcode(m), c.rcode, "{ctx}: {:?}", answer_strings(m));
    if front && !c.front_answer {
        return;
    }
    assert_eq!(lines(m), c.answer, "{ctx}");
    let soa: Vec<String> = m
        .authorities
        .iter()
        .filter(|r| r.record_type() == RecordType::SOA)
        .map(|r| r.name.to_string())
        .collect();
    assert_eq!(
        soa,
        c.soa.map(String::from).into_iter().collect::<Vec<_>>(),
        "{ctx}: SOA"
    );
    assert!(
        m.answers.iter().chain(&m.authorities).all(|r| r.ttl <= 30),
        "{ctx}: TTLs ≤ 30: {m:?}"
    );
    if c.rcode != ResponseCode::ServFail {
        assert!(m.metadata.authoritative || front, "{ctx}: AA");
    }
}

async fn twice(
    c: &Case,
    up: &Upstream,
    client: &DnsClient,
    who: &str,
    front: bool,
) -> anyhow::Result<(usize, usize)> {
    let before = up.asked(c.asks);
    let m = client.query(&fqdn(c.svc), c.qtype, Transport::Udp).await?;
    check(c, who, &m, front);
    let after_one = up.asked(c.asks);
    let m = client.query(&fqdn(c.svc), c.qtype, Transport::Udp).await?;
    check(c, &format!("{who} (second query)"), &m, front);
    Ok((after_one - before, up.asked(c.asks) - after_one))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn external_chains_against_an_adversarial_upstream() -> anyhow::Result<()> {
    if skip_without_binaries() {
        return Ok(());
    }
    let up = Upstream::default();
    let services = script(&up);
    let (up_addr, up_task) = up.start().await;
    let mut opts = StackOptions::full();
    opts.healthz = false;
    opts.kubedns_args.push(format!("--nameservers={up_addr}"));
    let stack = Stack::start(opts).await?;
    stack.emulator().create(objects::namespace(NS))?;
    for (svc, target) in &services {
        stack
            .emulator()
            .create(objects::external_name_service(NS, svc, target))?;
    }
    let slow = |addr| DnsClient {
        timeout: Duration::from_secs(6),
        ..DnsClient::new(addr)
    };
    let kubedns = slow(stack.kubedns_addr());
    Stack::wait_for_answer(
        &kubedns,
        &fqdn("noisy"),
        RecordType::CNAME,
        Transport::Udp,
        Duration::from_secs(15),
        |m| !m.answers.is_empty(),
    )
    .await?;

    // A second dnsmasq-rs in front of the same kubedns, with negative caching on.
    let dir = tempfile::tempdir()?;
    let port = free_dns_port()?;
    let args: Vec<String> =
        dnsmasq_args("cluster.local.", dir.path(), port, stack.ports.kubedns_dns)
            .into_iter()
            .filter(|a| a != "--no-negcache")
            .collect();
    let spec = ProcessSpec::new("dnsmasq-rs-negcache", binary_path("dnsmasq-rs")?).args(args);
    let _negcache = ChildProcess::spawn(spec, dir.path())?;
    let neg_addr: SocketAddr = ([127, 0, 0, 1], port).into();
    wait::dns_responds(neg_addr, K, RecordType::A, Duration::from_secs(30)).await?;

    let front = slow(stack.dnsmasq_addr().expect("dnsmasq-rs"));
    let negcache = slow(neg_addr);
    for c in cases() {
        // kubedns alone: every query goes upstream (no reply cache for upstream data)
        let (first, second) = twice(&c, &up, &kubedns, "kubedns", false).await?;
        assert_eq!(
            (first, second),
            (c.per_query, c.per_query),
            "kubedns: {}: upstream questions",
            c.name
        );
        // dnsmasq-rs with the legacy options, then with negative caching
        for (client, who, cached) in [
            (&front, "dnsmasq-rs (legacy --no-negcache)", c.cached_legacy),
            (
                &negcache,
                "dnsmasq-rs (negative caching)",
                c.cached_negcache,
            ),
        ] {
            let (first, second) = twice(&c, &up, client, who, true).await?;
            assert_eq!(
                first, c.per_query,
                "{who}: {}: first query goes to kubedns",
                c.name
            );
            let want = if cached { 0 } else { c.per_query };
            assert_eq!(
                second, want,
                "{who}: {}: second query cached={cached}",
                c.name
            );
        }
    }
    // a SERVFAIL is held for 2 s only
    let c = &cases()[3];
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (first, _) = twice(c, &up, &front, "dnsmasq-rs after 2 s", true).await?;
    assert_eq!(first, c.per_query, "the SERVFAIL expired");
    up_task.abort();
    Ok(())
}
