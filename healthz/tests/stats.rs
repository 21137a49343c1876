//! dnsmasq statistics: against an in-process CHAOS responder (counter drop absorbed,
//! malformed reply counted as one poll error) and against Debian's real dnsmasq.

mod common;

use std::process::{Child, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU8, Ordering};
use std::time::Duration;

use common::{FakeDns, eventually, http_get, metric, response_to};
use healthz::dns::{ServerAddr, SharedExchanger, UdpExchanger};
use healthz::sidecar::stats::{DnsmasqStats, poll_once, run_poller};
use hickory_proto::rr::rdata::TXT;
use hickory_proto::rr::{DNSClass, RData, Record, RecordType};
use tokio_util::sync::CancellationToken;

/// 0 = good replies, 1 = two TXT strings for misses.bind, 2 = no answer for cachesize.bind.
struct Chaos {
    base: AtomicI64,
    fault: AtomicU8,
}

async fn chaos_server(state: Arc<Chaos>) -> FakeDns {
    FakeDns::start(Arc::new(move |req| {
        let q = req.queries.first()?;
        let mut reply = response_to(req);
        if q.query_class() != DNSClass::CH || q.query_type() != RecordType::TXT {
            return Some(reply);
        }
        let base = state.base.load(Ordering::SeqCst);
        let fault = state.fault.load(Ordering::SeqCst);
        let name = q.name().to_ascii();
        let strings: Vec<String> = match name.as_str() {
            "hits.bind." => vec![base.to_string()],
            "misses.bind." if fault == 1 => vec!["1".into(), "2".into()],
            "misses.bind." => vec![(base / 2).to_string()],
            "evictions.bind." => vec!["0".into()],
            "insertions.bind." => vec![(base / 4).to_string()],
            "cachesize.bind." if fault == 2 => return Some(reply),
            "cachesize.bind." => vec!["1000".into()],
            _ => return Some(reply),
        };
        let mut rec = Record::from_rdata(q.name().clone(), 0, RData::TXT(TXT::new(strings)));
        rec.dns_class = DNSClass::CH;
        reply.add_answer(rec);
        Some(reply)
    }))
    .await
}

fn values(s: &DnsmasqStats) -> [u64; 5] {
    std::array::from_fn(|i| s.counters[i].get())
}

#[tokio::test]
async fn fake_chaos_responder() {
    let state = Arc::new(Chaos {
        base: AtomicI64::new(100),
        fault: AtomicU8::new(0),
    });
    let dns = chaos_server(state.clone()).await;
    let server = ServerAddr {
        host: "127.0.0.1".into(),
        port: dns.addr.port(),
    };
    let exch: SharedExchanger = Arc::new(UdpExchanger::default());

    let stats = DnsmasqStats::default();
    stats.apply(poll_once(&exch, &server).await.unwrap());
    assert_eq!(values(&stats), [100, 50, 0, 25, 1000]);

    state.base.store(200, Ordering::SeqCst);
    stats.apply(poll_once(&exch, &server).await.unwrap());
    assert_eq!(values(&stats), [200, 100, 0, 50, 1000]);

    // dnsmasq restarted: absolute values drop; exported counters never decrease.
    state.base.store(8, Ordering::SeqCst);
    stats.apply(poll_once(&exch, &server).await.unwrap());
    assert_eq!(values(&stats), [208, 104, 0, 52, 1000]);

    // Malformed replies fail the whole poll.
    state.fault.store(1, Ordering::SeqCst);
    let e = poll_once(&exch, &server).await.unwrap_err();
    assert!(e.to_string().contains("misses.bind."), "{e}");
    state.fault.store(2, Ordering::SeqCst);
    let e = poll_once(&exch, &server).await.unwrap_err();
    assert!(e.to_string().contains("cachesize.bind."), "{e}");
}

#[tokio::test]
async fn poller_counts_errors_and_exports_nothing_on_bad_poll() {
    let state = Arc::new(Chaos {
        base: AtomicI64::new(10),
        fault: AtomicU8::new(1),
    });
    let dns = chaos_server(state.clone()).await;
    let server = ServerAddr {
        host: "127.0.0.1".into(),
        port: dns.addr.port(),
    };
    let stats = Arc::new(DnsmasqStats::default());
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(run_poller(
        stats.clone(),
        Arc::new(UdpExchanger::default()),
        server,
        Duration::from_millis(30),
        shutdown.clone(),
    ));
    let s = stats.clone();
    eventually(Duration::from_secs(10), "one poll error", || {
        let s = s.clone();
        async move { (s.errors.get() >= 1).then_some(()) }
    })
    .await;
    assert_eq!(values(&stats), [0; 5], "a failed poll exports nothing");
    state.fault.store(0, Ordering::SeqCst);
    let s = stats.clone();
    eventually(Duration::from_secs(10), "a good poll", || {
        let s = s.clone();
        async move { (s.counters[0].get() == 10).then_some(()) }
    })
    .await;
    let errors = stats.errors.get();
    assert!(errors >= 1);
    assert_eq!(values(&stats), [10, 5, 0, 2, 1000]);
    shutdown.cancel();
    task.await.unwrap();
}

#[tokio::test]
async fn poll_error_on_unreachable_dnsmasq() {
    // A bound-then-closed port: ICMP port unreachable → connection refused.
    let port = {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        s.local_addr().unwrap().port()
    };
    let exch: SharedExchanger = Arc::new(UdpExchanger {
        timeout: Duration::from_millis(500),
    });
    let e = poll_once(
        &exch,
        &ServerAddr {
            host: "127.0.0.1".into(),
            port,
        },
    )
    .await
    .unwrap_err();
    assert!(e.to_string().starts_with("hits.bind.: read udp"), "{e}");
}

/// Kills and reaps the child on drop.
struct Dnsmasq(Child);

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_udp_port() -> u16 {
    let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    s.local_addr().unwrap().port()
}

#[tokio::test]
async fn real_dnsmasq_statistics() {
    const DNSMASQ: &str = "/usr/sbin/dnsmasq";
    serverkit::require!(serverkit::require::Need::file(
        DNSMASQ,
        "Debian's dnsmasq (apt-get install dnsmasq-base)"
    ));
    let port = free_udp_port();
    let child = std::process::Command::new(DNSMASQ)
        .args([
            "--keep-in-foreground",
            "--no-resolv",
            "--no-hosts",
            &format!("--port={port}"),
            "--listen-address=127.0.0.1",
            "--bind-interfaces",
            "--cache-size=1337",
            "--conf-file=/dev/null",
            "--pid-file=",
            "--user=root",
            "--host-record=cached.test,10.1.2.3",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn();
    let _child = Dnsmasq(child.expect("start dnsmasq"));

    // Serve the sidecar against it and read /metrics like Prometheus would.
    let cfg = common::config(&[
        "--dnsmasq-addr=127.0.0.1",
        &format!("--dnsmasq-port={port}"),
        "--dnsmasq-poll-interval-ms=50",
    ]);
    let srv = common::start(cfg).await;
    let text = eventually(Duration::from_secs(10), "max_size from dnsmasq", || async {
        let t = http_get(srv.addr, "/metrics").await.body;
        (metric(&t, "kubedns_dnsmasq_max_size") == Some(1337.0)).then_some(t)
    })
    .await;
    let hits_before = metric(&text, "kubedns_dnsmasq_hits").unwrap();
    // Polls before dnsmasq finished starting may have failed; none may fail from now on.
    let errors_before = metric(&text, "kubedns_dnsmasq_errors").unwrap();

    // Queries answered from dnsmasq's cache (host-record entries live there).
    let exch: SharedExchanger = Arc::new(UdpExchanger::default());
    let server = ServerAddr {
        host: "127.0.0.1".into(),
        port,
    };
    let name = hickory_proto::rr::Name::from_ascii("cached.test.").unwrap();
    for _ in 0..20 {
        let q = healthz::dns::build_query(&name, RecordType::A, DNSClass::IN);
        let reply = exch.exchange(&server, q).await.unwrap();
        assert_eq!(reply.answers.len(), 1);
    }
    eventually(
        Duration::from_secs(10),
        "hits to increase by 20",
        || async {
            let t = http_get(srv.addr, "/metrics").await.body;
            let hits = metric(&t, "kubedns_dnsmasq_hits")?;
            (hits >= hits_before + 20.0).then_some(())
        },
    )
    .await;
    let t = http_get(srv.addr, "/metrics").await.body;
    assert_eq!(metric(&t, "kubedns_dnsmasq_errors"), Some(errors_before));
    assert_eq!(metric(&t, "kubedns_dnsmasq_max_size"), Some(1337.0));
}
