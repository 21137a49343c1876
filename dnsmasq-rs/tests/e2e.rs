//! End to end on loopback: dnsmasq-rs (in-process, real sockets) in front of the Debian
//! `dnsmasq` binary and/or small in-process authorities. Tests needing `/usr/sbin/dnsmasq`
//! print a message and return when it is absent.

use std::net::{Ipv4Addr, SocketAddr};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use dnsmasq_rs::engine::Engine;
use dnsmasq_rs::flags::NannyFlags;
use dnsmasq_rs::nanny::NameResolver;
use dnsmasq_rs::reload::{self, Reloader};
use dnsmasq_rs::run::{self, Sockets};
use dnsmasq_rs::testutil::*;
use dnsmasq_rs::upstream::RealTransport;
use dnsmasq_rs::{Config, flags, server, wire};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio_util::sync::CancellationToken;

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

async fn udp_raw(server: SocketAddr, pkt: &[u8]) -> Option<Vec<u8>> {
    let s = UdpSocket::bind("127.0.0.1:0").await.ok()?;
    s.send_to(pkt, server).await.ok()?;
    let mut buf = vec![0u8; 4096];
    let (n, _) = tokio::time::timeout(Duration::from_secs(3), s.recv_from(&mut buf))
        .await
        .ok()?
        .ok()?;
    buf.truncate(n);
    Some(buf)
}

async fn udp_query(server: SocketAddr, name: &str, id: u16) -> Option<Vec<u8>> {
    let (pkt, _) = query_id(name, wire::TYPE_A, None, id);
    udp_raw(server, &pkt).await
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

fn build(args: &[String]) -> Config {
    let o = flags::parse_dnsmasq(args, &reload::read_fs, None).unwrap();
    Config::build(&o, &reload::read_fs).unwrap().0
}

/// dnsmasq-rs serving on 127.0.0.1 (UDP + TCP, same port); cancelled on drop.
struct Front {
    addr: SocketAddr,
    engine: Arc<Engine>,
    cancel: CancellationToken,
}

impl Drop for Front {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

async fn start_front(cfg: Config, reloader: Option<Reloader>, try_timeout: Duration) -> Front {
    let (udp, tcp) =
        serverkit::net::bind_dns("127.0.0.1:0".parse().unwrap(), 2, server::UDP_SO_RCVBUF).unwrap();
    let addr = udp[0].local_addr().unwrap();
    let engine = Engine::with_timeout(cfg, Arc::new(RealTransport), try_timeout);
    let sockets = Sockets {
        udp,
        tcp: vec![TcpListener::from_std(tcp).unwrap()],
        metrics: None,
    };
    let cancel = CancellationToken::new();
    tokio::spawn(run::run(
        Arc::clone(&engine),
        sockets,
        reloader,
        Duration::ZERO,
        Duration::from_secs(5),
        cancel.clone(),
    ));
    Front {
        addr,
        engine,
        cancel,
    }
}

fn sv(args: &str) -> Vec<String> {
    args.split_whitespace().map(String::from).collect()
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

/// Authority that always truncates over UDP and answers fully over TCP.
async fn truncating_authority(tcp_count: Arc<AtomicUsize>) -> SocketAddr {
    let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = s.local_addr().unwrap();
    let l = TcpListener::bind(addr).await.unwrap();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        loop {
            let Ok((n, src)) = s.recv_from(&mut buf).await else {
                return;
            };
            let mut r = answer_a(&buf[..n], &[], false);
            r[2] |= 0x02;
            let _ = s.send_to(&r, src).await;
        }
    });
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        loop {
            let Ok((mut c, _)) = l.accept().await else {
                return;
            };
            tcp_count.fetch_add(1, Ordering::SeqCst);
            let Ok(len) = c.read_u16().await else {
                continue;
            };
            let mut q = vec![0u8; len as usize];
            if c.read_exact(&mut q).await.is_err() {
                continue;
            }
            let many: Vec<(&str, u32, [u8; 4])> = (0..60)
                .map(|i| ("big.example", 60, [10, 3, 0, i as u8]))
                .collect();
            let r = answer_a(&q, &many, false);
            let _ = c.write_all(&(r.len() as u16).to_be_bytes()).await;
            let _ = c.write_all(&r).await;
        }
    });
    addr
}

async fn tcp_exchange(addr: SocketAddr, queries: &[Vec<u8>]) -> Vec<Vec<u8>> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut c = TcpStream::connect(addr).await.unwrap();
    let mut all = Vec::new();
    for q in queries {
        all.extend_from_slice(&(q.len() as u16).to_be_bytes());
        all.extend_from_slice(q);
    }
    c.write_all(&all).await.unwrap(); // pipelined
    let mut out = Vec::new();
    for _ in queries {
        let len = c.read_u16().await.unwrap();
        let mut b = vec![0u8; len as usize];
        c.read_exact(&mut b).await.unwrap();
        out.push(b);
    }
    out
}

#[tokio::test]
async fn tcp_fallback_truncation_and_tcp_serving() {
    let tcp_count = Arc::new(AtomicUsize::new(0));
    let up = truncating_authority(Arc::clone(&tcp_count)).await;
    let f = start_front(
        build(&sv(&format!(
            "--no-resolv --no-hosts --server=127.0.0.1#{}",
            up.port()
        ))),
        None,
        Duration::from_secs(2),
    )
    .await;
    // UDP client without EDNS: 60 A records do not fit in 512 bytes → TC.
    let r = udp_query(f.addr, "big.example", 1).await.unwrap();
    assert_ne!(r[2] & 0x02, 0, "TC set");
    assert!(r.len() <= 512);
    assert_eq!(tcp_count.load(Ordering::SeqCst), 1);
    // EDNS 4096 client: capped at 1232.
    let (pkt, _) = query_id("big.example", wire::TYPE_A, Some(4096), 2);
    let r = udp_raw(f.addr, &pkt).await.unwrap();
    assert!(r.len() <= 1232);
    // TCP clients get everything, pipelined queries all answered; served from cache.
    let (q1, _) = query_id("big.example", wire::TYPE_A, None, 11);
    let (q2, _) = query_id("BIG.example", wire::TYPE_A, None, 12);
    let rs = tcp_exchange(f.addr, &[q1, q2]).await;
    let mut ids: Vec<u16> = rs
        .iter()
        .map(|r| u16::from_be_bytes([r[0], r[1]]))
        .collect();
    ids.sort();
    assert_eq!(ids, [11, 12]);
    for r in &rs {
        assert_eq!(answer_ips(r).len(), 60);
    }
    assert_eq!(
        tcp_count.load(Ordering::SeqCst),
        1,
        "cached after the TCP retry"
    );
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

// B4 row 17: TCP idle timeout, bad framing, connection cap, per-connection query cap.
#[tokio::test]
async fn tcp_limits() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let engine = Engine::with_timeout(
        build(&sv("--no-resolv --no-hosts --address=/local.test/10.7.7.7")),
        Arc::new(RealTransport),
        Duration::from_millis(200),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let cancel = CancellationToken::new();
    let _guard = cancel.clone().drop_guard();
    let limits = server::TcpLimits {
        max_connections: 2,
        idle_timeout: Duration::from_secs(2),
        max_queries: 3,
    };
    tokio::spawn(server::serve_tcp(
        engine,
        listener,
        limits.connection_permits(),
        limits,
        tokio_util::task::TaskTracker::new(),
        cancel.clone(),
    ));
    let read_eof = |mut c: TcpStream| async move {
        let mut b = [0u8; 1];
        matches!(
            tokio::time::timeout(Duration::from_secs(5), c.read(&mut b)).await,
            Ok(Ok(0)) | Ok(Err(_))
        )
    };
    // Idle: one byte then nothing → closed after the idle timeout.
    let mut c = TcpStream::connect(addr).await.unwrap();
    c.write_all(&[0]).await.unwrap();
    assert!(read_eof(c).await, "idle connection closed");
    // Length prefix 11 (shorter than a header) → closed.
    let mut c = TcpStream::connect(addr).await.unwrap();
    c.write_all(&[0, 11]).await.unwrap();
    c.write_all(&[0u8; 11]).await.unwrap();
    assert!(read_eof(c).await, "bad framing closes");
    // Length prefix larger than the data that follows → closed by the idle timeout.
    let mut c = TcpStream::connect(addr).await.unwrap();
    c.write_all(&[2, 0]).await.unwrap();
    c.write_all(&[0u8; 20]).await.unwrap();
    assert!(read_eof(c).await, "over-long prefix closed");
    // Garbage after a readable header, correctly framed → FORMERR; the connection then
    // still answers a good query.
    let mut garbage = vec![0xBE, 0xEF, 0x01, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0x3F];
    garbage.extend((0..27u8).map(|i| i.wrapping_mul(37) ^ 0xA5));
    let good = query_id("a.local.test", wire::TYPE_A, None, 12).0;
    let rs = tcp_exchange(addr, &[garbage, good]).await;
    assert_eq!(rs.len(), 2);
    assert_eq!(
        (rs[0][0], rs[0][1], rcode(&rs[0])),
        (0xBE, 0xEF, wire::RCODE_FORMERR)
    );
    assert_eq!(answer_ips(&rs[1]), [Ipv4Addr::new(10, 7, 7, 7)]);
    // Per-connection cap: 3 answered, then closed.
    let qs: Vec<Vec<u8>> = (0..3u16)
        .map(|i| query_id("a.local.test", wire::TYPE_A, None, i).0)
        .collect();
    let rs = tcp_exchange(addr, &qs).await;
    assert!(
        rs.iter()
            .all(|r| answer_ips(r) == [Ipv4Addr::new(10, 7, 7, 7)])
    );
    let mut c = TcpStream::connect(addr).await.unwrap();
    let mut all = Vec::new();
    for i in 0..4u16 {
        let q = query_id("a.local.test", wire::TYPE_A, None, i).0;
        all.extend_from_slice(&(q.len() as u16).to_be_bytes());
        all.extend_from_slice(&q);
    }
    c.write_all(&all).await.unwrap();
    let mut answered = 0;
    while let Ok(Ok(len)) = tokio::time::timeout(Duration::from_secs(3), c.read_u16()).await {
        let mut b = vec![0u8; len as usize];
        c.read_exact(&mut b).await.unwrap();
        answered += 1;
    }
    assert_eq!(answered, 3);
    // Connection cap: two idle connections held, the third is closed at once.
    let _c1 = TcpStream::connect(addr).await.unwrap();
    let _c2 = TcpStream::connect(addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let c3 = TcpStream::connect(addr).await.unwrap();
    let t0 = std::time::Instant::now();
    assert!(read_eof(c3).await);
    assert!(
        t0.elapsed() < Duration::from_millis(250),
        "closed before the idle timeout"
    );
}

/// Authority that reports each UDP query on `got` and answers it (A 10.4.4.4 for the asked
/// name) only once `release` is cancelled.
async fn held_authority(
    got: tokio::sync::mpsc::UnboundedSender<()>,
    release: CancellationToken,
) -> SocketAddr {
    let s = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
    let addr = s.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        loop {
            let Ok((n, src)) = s.recv_from(&mut buf).await else {
                return;
            };
            let q = buf[..n].to_vec();
            let _ = got.send(());
            let (s, release) = (Arc::clone(&s), release.clone());
            tokio::spawn(async move {
                release.cancelled().await;
                let Ok(m) = hickory_proto::op::Message::from_vec(&q) else {
                    return;
                };
                let name = m.queries[0].name.to_ascii();
                let r = answer_a(&q, &[(&name, 60, [10, 4, 4, 4])], false);
                let _ = s.send_to(&r, src).await;
            });
        }
    });
    addr
}

/// Serving sockets on a fresh loopback port: (UDP worker sockets, TCP listener, address).
fn bind_front() -> (Sockets, SocketAddr) {
    let (udp, tcp) =
        serverkit::net::bind_dns("127.0.0.1:0".parse().unwrap(), 2, server::UDP_SO_RCVBUF).unwrap();
    let addr = udp[0].local_addr().unwrap();
    let sockets = Sockets {
        udp,
        tcp: vec![TcpListener::from_std(tcp).unwrap()],
        metrics: None,
    };
    (sockets, addr)
}

// B4 row 27: after cancellation nothing new is accepted, but upstream resolutions in flight
// (UDP and TCP clients) are answered, idle TCP connections are closed, `run` reports a
// complete drain and the port can be bound again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_stops_accepting_and_drains_in_flight() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (got_tx, mut got) = tokio::sync::mpsc::unbounded_channel();
    let release = CancellationToken::new();
    let up = held_authority(got_tx, release.clone()).await;
    let cfg = build(&sv(&format!(
        "--no-resolv --no-hosts --address=/local.test/10.7.7.7 --server=127.0.0.1#{}",
        up.port()
    )));
    let engine = Engine::with_timeout(cfg, Arc::new(RealTransport), Duration::from_secs(30));
    let (sockets, addr) = bind_front();
    let cancel = CancellationToken::new();
    let _guard = cancel.clone().drop_guard();
    let served = tokio::spawn(run::run(
        engine,
        sockets,
        None,
        Duration::ZERO,
        Duration::from_secs(30),
        cancel.clone(),
    ));
    assert_eq!(
        answer_ips(&udp_query(addr, "a.local.test", 1).await.unwrap()),
        [Ipv4Addr::new(10, 7, 7, 7)]
    );
    // One UDP and one TCP query waiting on the upstream, plus an idle TCP connection.
    let udp_client = tokio::spawn(async move {
        let (pkt, _) = query_id("u.held.test", wire::TYPE_A, None, 2);
        let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        s.send_to(&pkt, addr).await.unwrap();
        let mut buf = vec![0u8; 4096];
        let (n, _) = tokio::time::timeout(Duration::from_secs(30), s.recv_from(&mut buf))
            .await
            .ok()?
            .ok()?;
        buf.truncate(n);
        Some(buf)
    });
    let mut tcp_client = TcpStream::connect(addr).await.unwrap();
    let (q, _) = query_id("t.held.test", wire::TYPE_A, None, 3);
    tcp_client
        .write_all(&(q.len() as u16).to_be_bytes())
        .await
        .unwrap();
    tcp_client.write_all(&q).await.unwrap();
    let mut idle = TcpStream::connect(addr).await.unwrap();
    for _ in 0..2 {
        tokio::time::timeout(Duration::from_secs(5), got.recv())
            .await
            .expect("both queries reach the upstream");
    }
    cancel.cancel();
    // The idle connection is closed without waiting for its idle timeout.
    let mut b = [0u8; 1];
    assert!(matches!(
        tokio::time::timeout(Duration::from_secs(5), idle.read(&mut b)).await,
        Ok(Ok(0)) | Ok(Err(_))
    ));
    // New work is refused: no answer to UDP, TCP connections refused or closed unanswered.
    tokio::time::sleep(server::UDP_CANCEL_POLL * 3).await;
    let (pkt, _) = query_id("a.local.test", wire::TYPE_A, None, 4);
    let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    s.send_to(&pkt, addr).await.unwrap();
    let mut buf = [0u8; 512];
    assert!(
        tokio::time::timeout(Duration::from_millis(500), s.recv_from(&mut buf))
            .await
            .is_err(),
        "a stopped UDP worker does not answer"
    );
    if let Ok(mut c) = TcpStream::connect(addr).await {
        let _ = c.write_all(&(pkt.len() as u16).to_be_bytes()).await;
        let _ = c.write_all(&pkt).await;
        assert!(matches!(
            tokio::time::timeout(Duration::from_secs(5), c.read(&mut b)).await,
            Ok(Ok(0)) | Ok(Err(_))
        ));
    }
    assert!(!served.is_finished(), "still draining the held queries");
    release.cancel();
    let r = udp_client
        .await
        .unwrap()
        .expect("in-flight UDP query answered");
    assert_eq!(answer_ips(&r), [Ipv4Addr::new(10, 4, 4, 4)]);
    let len = tcp_client.read_u16().await.expect("in-flight TCP answer");
    let mut r = vec![0u8; len as usize];
    tcp_client.read_exact(&mut r).await.unwrap();
    assert_eq!(answer_ips(&r), [Ipv4Addr::new(10, 4, 4, 4)]);
    assert!(matches!(tcp_client.read(&mut b).await, Ok(0) | Err(_)));
    let drain = tokio::time::timeout(Duration::from_secs(10), served)
        .await
        .expect("run returns after the drain")
        .unwrap();
    assert_eq!(drain, run::Drain::Complete);
    std::net::UdpSocket::bind(addr).expect("UDP port free again");
    std::net::TcpListener::bind(addr).expect("TCP port free again");
}

// B4 row 27: the drain deadline bounds shutdown when an upstream never answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_drain_deadline() {
    let (got_tx, mut got) = tokio::sync::mpsc::unbounded_channel();
    let never = CancellationToken::new();
    let up = held_authority(got_tx, never.clone()).await;
    let cfg = build(&sv(&format!(
        "--no-resolv --no-hosts --server=127.0.0.1#{}",
        up.port()
    )));
    let engine = Engine::with_timeout(cfg, Arc::new(RealTransport), Duration::from_secs(60));
    let (sockets, addr) = bind_front();
    let cancel = CancellationToken::new();
    let served = tokio::spawn(run::run(
        engine,
        sockets,
        None,
        Duration::ZERO,
        Duration::from_millis(300),
        cancel.clone(),
    ));
    let _client = tokio::spawn(udp_query(addr, "stuck.test", 1));
    tokio::time::timeout(Duration::from_secs(5), got.recv())
        .await
        .expect("query reaches the upstream");
    cancel.cancel();
    let drain = tokio::time::timeout(Duration::from_secs(20), served)
        .await
        .expect("run returns at the drain deadline, long before the upstream timeout")
        .unwrap();
    assert_eq!(drain, run::Drain::TimedOut);
}

// B4 row 1, statistical half on real sockets: 10 000 upstream exchanges through the real
// transport. Each must use a fresh (source port, ID) pair: ≥ 9 900 distinct pairs, hundreds of
// distinct source ports, and no sequential pattern in either.
#[tokio::test]
async fn ten_thousand_upstream_queries_have_random_ports_and_ids() {
    use dnsmasq_rs::stats::Stats;
    use dnsmasq_rs::upstream::{self, CaseMode};
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
    let transport = RealTransport;
    let mut tasks = futures::stream::FuturesUnordered::new();
    let mut done = 0;
    for i in 0..10_000u32 {
        let (_, q) = query(&format!("n{i}.example"), wire::TYPE_A, None);
        let (t, st) = (&transport, &stats);
        tasks.push(async move {
            upstream::exchange(t, server, &q, Duration::from_secs(5), CaseMode::Off, st).await
        });
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
