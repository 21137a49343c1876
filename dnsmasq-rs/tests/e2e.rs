//! End to end on loopback: dnsmasq-rs (in-process, real sockets) in front of the Debian
//! `dnsmasq` binary and/or small in-process authorities. Tests needing `/usr/sbin/dnsmasq`
//! print a message and return when it is absent.

use std::net::{Ipv4Addr, SocketAddr};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use dnsmasq_rs::flags::NannyFlags;
use dnsmasq_rs::nanny::NameResolver;
use dnsmasq_rs::reload::Reloader;
use dnsmasq_rs::testutil::*;
use dnsmasq_rs::upstream::RealTransport;
use dnsmasq_rs::wire;
use tokio::net::UdpSocket;

mod loopback;
use loopback::{build, start_front, sv, udp_query, udp_raw};

const DNSMASQ: &str = "/usr/sbin/dnsmasq";

/// A Debian dnsmasq process, killed on drop.
struct Upstream {
    child: Child,
    port: u16,
}

impl Drop for Upstream {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let p = s.local_addr().unwrap().port();
    // Make sure TCP is free too.
    match std::net::TcpListener::bind(("127.0.0.1", p)) {
        Ok(_) => p,
        Err(_) => free_port(),
    }
}

/// Debian's dnsmasq, the reference upstream of these tests.
fn dnsmasq_need() -> serverkit::require::Need {
    serverkit::require::Need::file(DNSMASQ, "Debian's dnsmasq (apt-get install dnsmasq-base)")
}

/// Starts dnsmasq answering `host-record`s and NXDOMAIN for the rest of `zone`.
async fn start_dnsmasq(zone: &str, records: &[(&str, &str)]) -> Upstream {
    let mut extra = vec![format!("--local=/{zone}/")];
    for (name, ip) in records {
        extra.push(format!("--host-record={name},{ip}"));
    }
    spawn_dnsmasq(free_port(), &extra).await
}

/// Starts dnsmasq on `port` with `extra` arguments; waits until `ready.test` answers.
async fn spawn_dnsmasq(port: u16, extra: &[String]) -> Upstream {
    let child = Command::new(DNSMASQ)
        .args([
            "--keep-in-foreground",
            "--conf-file=/dev/null",
            "--pid-file=",
            "--bind-interfaces",
            "--listen-address=127.0.0.1",
            "--no-resolv",
            "--no-hosts",
            "--local-ttl=60",
            "--log-facility=-",
            "--host-record=ready.test,192.0.2.1",
        ])
        .arg(format!("--port={port}"))
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn dnsmasq");
    let up = Upstream { child, port };
    for _ in 0..100 {
        if udp_query(SocketAddr::from(([127, 0, 0, 1], port)), "ready.test", 1)
            .await
            .is_some()
        {
            return up;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("dnsmasq did not start");
}

async fn chaos(server: SocketAddr, name: &str) -> Vec<String> {
    let pkt = query_bytes(
        name,
        wire::TYPE_TXT,
        hickory_proto::rr::DNSClass::CH,
        None,
        77,
    );
    answer_txt(&udp_raw(server, &pkt).await.expect("chaos answer"))
}

#[tokio::test]
async fn forwards_caches_and_reports_chaos_stats() {
    serverkit::require!(dnsmasq_need());
    let up = start_dnsmasq("up.test", &[("h1.up.test", "10.1.0.1")]).await;
    let f = start_front(
        build(&sv(&format!(
            "--no-resolv --no-hosts --cache-size=1000 --server=127.0.0.1#{}",
            up.port
        ))),
        None,
        Duration::from_secs(2),
    )
    .await;
    let r = udp_query(f.addr, "h1.up.test", 1).await.unwrap();
    assert_eq!(answer_ips(&r), vec![Ipv4Addr::new(10, 1, 0, 1)]);
    let r = udp_query(f.addr, "H1.UP.test", 2).await.unwrap();
    assert_eq!(answer_ips(&r), vec![Ipv4Addr::new(10, 1, 0, 1)]);
    let r = udp_query(f.addr, "nope.up.test", 3).await.unwrap();
    assert_eq!(rcode(&r), wire::RCODE_NXDOMAIN);
    assert_eq!(chaos(f.addr, "cachesize.bind").await, ["1000"]);
    assert_eq!(chaos(f.addr, "misses.bind").await, ["2"]);
    assert_eq!(chaos(f.addr, "hits.bind").await, ["1"]);
    assert_eq!(chaos(f.addr, "insertions.bind").await, ["1"]);
    assert_eq!(chaos(f.addr, "evictions.bind").await, ["0"]);
    assert_eq!(
        chaos(f.addr, "servers.bind").await,
        [format!("127.0.0.1#{} 2 0", up.port)]
    );
}

// B4 row 5 against a real server: Debian dnsmasq echoes the question's case, so strict 0x20
// loses nothing, and clients never see the random spelling (cache off: every query goes up).
#[tokio::test]
async fn strict_0x20_works_against_real_dnsmasq() {
    serverkit::require!(dnsmasq_need());
    let up = start_dnsmasq("up.test", &[("mixed-case-name.up.test", "10.1.0.9")]).await;
    let f = start_front(
        build(&sv(&format!(
            "--no-resolv --no-hosts --cache-size=0 --dns-0x20=strict --server=127.0.0.1#{}",
            up.port
        ))),
        None,
        Duration::from_secs(2),
    )
    .await;
    for (i, spelling) in ["mixed-case-name.up.test", "MIXED-case-NAME.Up.Test"]
        .iter()
        .cycle()
        .take(10)
        .enumerate()
    {
        let r = udp_query(f.addr, spelling, i as u16).await.unwrap();
        assert_eq!(
            answer_ips(&r),
            vec![Ipv4Addr::new(10, 1, 0, 9)],
            "{spelling}"
        );
        let m = hickory_proto::op::Message::from_vec(&r).unwrap();
        assert_eq!(m.queries[0].name.to_ascii(), format!("{spelling}."));
        assert!(
            m.answers
                .iter()
                .all(|a| a.name.to_ascii() == format!("{spelling}."))
        );
    }
    let stats = f.engine.stats();
    assert_eq!(stats.case_mismatches.get(), 0);
    assert_eq!(stats.upstream_queries.get(), 10);
}

struct NoResolve;
impl NameResolver for NoResolve {
    fn resolve(&self, _: &str) -> futures::future::BoxFuture<'_, Option<std::net::IpAddr>> {
        Box::pin(async { None })
    }
}

#[tokio::test]
async fn configmap_stub_domain_applied_without_failed_queries() {
    serverkit::require!(dnsmasq_need());
    let default_up = start_dnsmasq("acme.local", &[("h.acme.local", "10.0.0.1")]).await;
    let stub_up = start_dnsmasq("acme.local", &[("h.acme.local", "10.0.0.2")]).await;
    let dir = tempfile::tempdir().unwrap();
    let base = sv(&format!(
        "-k --cache-size=1000 --no-hosts --log-facility=- --no-resolv --server=127.0.0.1#{}",
        default_up.port
    ));
    let nanny = NannyFlags {
        config_dir: dir.path().to_path_buf(),
        sync_interval: Duration::from_millis(50),
        ..NannyFlags::default()
    };
    let reloader = Reloader::new(base.clone(), None, Some(nanny), Arc::new(NoResolve));
    let f = start_front(build(&base), Some(reloader), Duration::from_secs(2)).await;
    assert_eq!(
        answer_ips(&udp_query(f.addr, "h.acme.local", 1).await.unwrap()),
        [Ipv4Addr::new(10, 0, 0, 1)]
    );
    // An invalid ConfigMap is ignored.
    std::fs::write(dir.path().join("stubDomains"), "garbage").unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        answer_ips(&udp_query(f.addr, "h.acme.local", 2).await.unwrap()),
        [Ipv4Addr::new(10, 0, 0, 1)]
    );
    // Queries keep flowing while the change is applied; none may fail.
    let addr = f.addr;
    let load = tokio::spawn(async move {
        let mut seen_new = false;
        for i in 0..400u16 {
            let r = udp_query(addr, "h.acme.local", 100 + i)
                .await
                .expect("no query lost");
            assert_eq!(rcode(&r), wire::RCODE_NOERROR);
            let ips = answer_ips(&r);
            assert_eq!(ips.len(), 1);
            if ips[0] == Ipv4Addr::new(10, 0, 0, 2) {
                seen_new = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        seen_new
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    std::fs::write(
        dir.path().join("stubDomains"),
        format!(r#"{{"acme.local":["127.0.0.1:{}"]}}"#, stub_up.port),
    )
    .unwrap();
    assert!(load.await.unwrap(), "stub domain applied");
    assert!(f.engine.config().domains.contains_key("acme.local"));
}

/// An in-process authority: answers every A query after `delay`, counting queries.
async fn slow_authority(delay: Duration, count: Arc<AtomicUsize>) -> SocketAddr {
    let s = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
    let addr = s.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        loop {
            let Ok((n, src)) = s.recv_from(&mut buf).await else {
                return;
            };
            count.fetch_add(1, Ordering::SeqCst);
            let q = buf[..n].to_vec();
            let s = Arc::clone(&s);
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                let name = hickory_proto::op::Message::from_vec(&q).unwrap().queries[0]
                    .name
                    .to_ascii();
                let _ = s
                    .send_to(&answer_a(&q, &[(&name, 60, [10, 2, 2, 2])], false), src)
                    .await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn coalesces_200_identical_queries() {
    let count = Arc::new(AtomicUsize::new(0));
    let up = slow_authority(Duration::from_millis(300), Arc::clone(&count)).await;
    let f = start_front(
        build(&sv(&format!(
            "--no-resolv --no-hosts --server=127.0.0.1#{}",
            up.port()
        ))),
        None,
        Duration::from_secs(2),
    )
    .await;
    let tasks: Vec<_> = (0..200u16)
        .map(|i| {
            let addr = f.addr;
            tokio::spawn(async move { (i, udp_query(addr, "same.example", i).await) })
        })
        .collect();
    for t in tasks {
        let (i, r) = t.await.unwrap();
        let r = r.expect("answered");
        assert_eq!(u16::from_be_bytes([r[0], r[1]]), i);
        assert_eq!(answer_ips(&r), [Ipv4Addr::new(10, 2, 2, 2)]);
    }
    assert_eq!(count.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn all_upstreams_down_servfail() {
    let dead1 = free_port();
    let dead2 = free_port();
    let f = start_front(
        build(&sv(&format!(
            "--no-resolv --no-hosts --server=127.0.0.1#{dead1} --server=127.0.0.1#{dead2}"
        ))),
        None,
        Duration::from_millis(200),
    )
    .await;
    let r = udp_query(f.addr, "down.example", 1)
        .await
        .expect("an answer, never silence");
    assert_eq!(rcode(&r), wire::RCODE_SERVFAIL);
}

#[tokio::test]
async fn malformed_client_packets() {
    let f = start_front(
        build(&sv("--no-resolv --no-hosts")),
        None,
        Duration::from_millis(200),
    )
    .await;
    // < 12 bytes: dropped (no answer).
    assert!(udp_raw(f.addr, &[0u8; 11]).await.is_none());
    // Header readable, question broken: FORMERR.
    let r = udp_raw(f.addr, &[0, 7, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 5, b'a'])
        .await
        .unwrap();
    assert_eq!(rcode(&r), wire::RCODE_FORMERR);
    // Compression pointer in the question: FORMERR.
    let r = udp_raw(
        f.addr,
        &[0, 8, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 12, 0, 1, 0, 1],
    )
    .await
    .unwrap();
    assert_eq!(rcode(&r), wire::RCODE_FORMERR);
    // No servers configured: REFUSED; the server is still alive.
    let r = udp_query(f.addr, "x.example", 9).await.unwrap();
    assert_eq!(rcode(&r), wire::RCODE_REFUSED);
}

// B4 row 19: --dns-loop-detect finds an upstream that forwards back to us and disables it.
#[tokio::test]
async fn loop_detection_disables_looping_server() {
    serverkit::require!(dnsmasq_need());
    let dport = free_port();
    let f = start_front(
        build(&sv(&format!(
            "--no-resolv --no-hosts --dns-loop-detect --server=127.0.0.1#{dport}"
        ))),
        None,
        Duration::from_millis(500),
    )
    .await;
    let _looping = spawn_dnsmasq(dport, &[format!("--server=127.0.0.1#{}", f.addr.port())]).await;
    f.engine.start_loop_probes();
    let mut found = false;
    for _ in 0..100 {
        if f.engine
            .looped_servers()
            .contains(&SocketAddr::from(([127, 0, 0, 1], dport)))
        {
            found = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(found, "loop detected");
    let r = udp_query(f.addr, "x.example", 5).await.unwrap();
    assert_eq!(rcode(&r), wire::RCODE_REFUSED);
}

// §3.2: stub nameserver names ending in cluster.local are resolved through -kubednsServer.
#[tokio::test]
async fn stub_nameserver_hostnames_resolved_via_kubedns() {
    serverkit::require!(dnsmasq_need());
    let kubedns = start_dnsmasq(
        "cluster.local",
        &[("ns.kube-system.svc.cluster.local", "10.4.4.4")],
    )
    .await;
    let resolver = dnsmasq_rs::nanny::SystemResolver {
        kubedns_server: SocketAddr::from(([127, 0, 0, 1], kubedns.port)),
        transport: Arc::new(RealTransport),
    };
    let mut files = std::collections::BTreeMap::new();
    files.insert(
        "stubDomains".to_string(),
        r#"{"acme.local":["ns.kube-system.svc.cluster.local:5353"],"b.local":["missing.svc.cluster.local"]}"#.to_string(),
    );
    let cfg = dnsmasq_rs::nanny::parse_config(&files).unwrap();
    let resolved = dnsmasq_rs::nanny::resolve_all(&cfg, &resolver).await;
    let args = dnsmasq_rs::nanny::translate(&cfg, &|n| resolved.get(n).copied());
    assert_eq!(
        args,
        [
            "--server",
            "/acme.local/10.4.4.4#5353",
            "--server",
            "/b.local/missing.svc.cluster.local"
        ]
    );
}

// B4 row 1, statistical half on real sockets: 10 000 upstream exchanges through the real
// transport. Each must use a fresh (source port, ID) pair: ≥ 9 900 distinct pairs, hundreds of
// distinct source ports, and no sequential pattern in either.
#[tokio::test]
async fn ten_thousand_upstream_queries_have_random_ports_and_ids() {
    use dnsmasq_rs::stats::Stats;
    use dnsmasq_rs::upstream::{self, CaseMode, EngineObserver};
    use serverkit::upstream::Client;
    let responder = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
    let server = responder.local_addr().unwrap();
    let seen = Arc::new(std::sync::Mutex::new(Vec::with_capacity(10_000)));
    let (r, s) = (Arc::clone(&responder), Arc::clone(&seen));
    let echo = tokio::spawn(async move {
        let mut buf = [0u8; 512];
        loop {
            let Ok((n, from)) = r.recv_from(&mut buf).await else {
                continue;
            };
            let q = &buf[..n];
            s.lock()
                .unwrap()
                .push((from.port(), u16::from_be_bytes([q[0], q[1]])));
            let _ = r.send_to(&answer_a(q, &[], false), from).await;
        }
    });
    let stats = Stats::default();
    let obs = EngineObserver {
        stats: &stats,
        health: None,
    };
    let client = Client::new(
        Arc::new(RealTransport),
        upstream::options(Duration::from_secs(5), CaseMode::Off),
    );
    let mut tasks = futures::stream::FuturesUnordered::new();
    let mut done = 0;
    for i in 0..10_000u32 {
        let (_, q) = query(&format!("n{i}.example"), wire::TYPE_A, None);
        let (c, o) = (&client, &obs);
        tasks.push(async move { c.exchange(server, &upstream::query(&q), o).await });
        if tasks.len() >= 64 {
            use futures::StreamExt;
            assert!(tasks.next().await.unwrap().is_ok());
            done += 1;
        }
    }
    use futures::StreamExt;
    while let Some(r) = tasks.next().await {
        assert!(r.is_ok());
        done += 1;
    }
    echo.abort();
    assert_eq!(done, 10_000);
    let seen = seen.lock().unwrap();
    let pairs: std::collections::HashSet<_> = seen.iter().copied().collect();
    let ports: std::collections::HashSet<_> = seen.iter().map(|p| p.0).collect();
    let seq = |f: fn(&(u16, u16)) -> u16| {
        seen.windows(2)
            .filter(|w| f(&w[1]) == f(&w[0]).wrapping_add(1))
            .count()
    };
    eprintln!(
        "{} pairs, {} distinct, {} ports, sequential ports {}, sequential IDs {}",
        seen.len(),
        pairs.len(),
        ports.len(),
        seq(|p| p.0),
        seq(|p| p.1)
    );
    assert!(
        pairs.len() >= 9_900,
        "{} distinct (port, ID) pairs",
        pairs.len()
    );
    assert!(ports.len() >= 500, "{} distinct source ports", ports.len());
    assert!(seq(|p| p.1) < 10, "sequential IDs");
    assert!(seq(|p| p.0) < 100, "sequential source ports");
}
