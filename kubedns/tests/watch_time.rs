//! Kubernetes API faults on paused tokio time: the kube client calls the API emulator
//! (`kube-emulator`) in process ([`Emulator::in_process_client`]: its router used directly as
//! the client's tower service, no sockets on the API side), so minutes of backoff and
//! start-up timers run in milliseconds and exactly; the emulator's request log gives the
//! paused-clock time of every request.
//!
//! * B4 row 22 (never synced): with `--initial-sync-timeout=0` kubedns is still running after
//!   twice the legacy 60 s, not ready, answering SERVFAIL for cluster names; with the legacy
//!   default it exits at exactly 60 s with [`RunError::InitialSyncTimeout`].
//! * B4 row 23 (outage after the sync): the watch fails with 500 again and again; the data and
//!   readiness stay, every failure is counted, the retry intervals follow the exponential
//!   backoff of kube-runtime's watcher (0.8 s doubling to 30 s, jitter in [d, 2d)), no relist
//!   storm (one initial-state request: the watch-list at start), and the
//!   first successful watch after the outage delivers what changed during it.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use common::{emulator_with, metric, service, watching};
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;
use kube_emulator::HANG_ALL;
use kubedns::cli::EndpointSourceMode;
use kubedns::run::{RunError, Sockets, run_with_client};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

const SERVICES: &str = "/api/v1/services";

/// Sockets on 127.0.0.1 port 0 (DNS UDP + TCP, healthz); returns the UDP and healthz addresses.
async fn sockets() -> (Sockets, SocketAddr, SocketAddr) {
    let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let udp_addr = udp.local_addr().unwrap();
    let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let healthz = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let healthz_addr = healthz.local_addr().unwrap();
    let s = Sockets {
        udp: vec![udp],
        tcp: vec![tcp],
        healthz,
        metrics: None,
    };
    (s, udp_addr, healthz_addr)
}

fn options(extra: &[&str], dir: &std::path::Path) -> kubedns::cli::Options {
    let resolv = dir.join("resolv.conf");
    std::fs::write(&resolv, "nameserver 127.0.0.1\n").unwrap();
    let mut args: Vec<String> = vec![
        "--domain=cluster.local.".into(),
        "--lame-duck=0s".into(),
        format!("--resolv-conf={}", resolv.display()),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    kubedns::cli::parse(&args, &HashMap::new()).expect("flags")
}

async fn rcode_of(server: SocketAddr, name: &str) -> ResponseCode {
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let q = serverkit::testkit::query(0x4242, name, RecordType::A, None);
    sock.send_to(&q, server).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), sock.recv(&mut buf))
        .await
        .expect("DNS reply")
        .unwrap();
    let reply = Message::from_vec(&buf[..n]).unwrap();
    assert_eq!(reply.metadata.id, 0x4242);
    reply.metadata.response_code
}

async fn http_status(addr: SocketAddr, path: &str) -> u16 {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = String::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_string(&mut buf))
        .await
        .expect("HTTP reply")
        .unwrap();
    buf.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[tokio::test(start_paused = true)]
async fn never_synced_without_timeout_keeps_running_not_ready_servfail() {
    let tmp = tempfile::tempdir().unwrap();
    let opts = options(&["--initial-sync-timeout=0"], tmp.path());
    let emu = emulator_with(vec![]).await;
    // An API server that takes every request and never answers.
    emu.hang(HANG_ALL);
    let (sockets, dns, healthz) = sockets().await;
    let shutdown = CancellationToken::new();
    let run = tokio::spawn(run_with_client(
        opts,
        sockets,
        emu.in_process_client(),
        shutdown.clone(),
    ));

    // Twice the legacy 60 s, on the paused clock.
    tokio::time::sleep(Duration::from_secs(120)).await;
    assert!(
        !run.is_finished(),
        "kubedns exited while waiting for the API"
    );
    let asked = emu.requests();
    assert!(
        asked.iter().any(|r| r.asks_initial_state_of(SERVICES)),
        "kubedns must be waiting on its Services initial state: {asked:?}"
    );

    // The servers themselves run on real sockets: answer on real time.
    tokio::time::resume();
    assert_eq!(http_status(healthz, "/readiness").await, 503);
    assert_eq!(http_status(healthz, "/healthz").await, 200);
    for name in [
        "kubernetes.default.svc.cluster.local.",
        "absent.default.svc.cluster.local.",
        "1.0.0.10.in-addr.arpa.",
    ] {
        assert_eq!(
            rcode_of(dns, name).await,
            ResponseCode::ServFail,
            "{name} before the first sync: SERVFAIL, never NXDOMAIN"
        );
    }

    shutdown.cancel();
    let r = tokio::time::timeout(Duration::from_secs(10), run)
        .await
        .expect("shutdown")
        .unwrap();
    assert!(r.is_ok(), "{r:?}");
}

#[tokio::test(start_paused = true)]
async fn legacy_initial_sync_timeout_exits_at_the_deadline() {
    let tmp = tempfile::tempdir().unwrap();
    // The default (60 s, as legacy kube-dns).
    let opts = options(&[], tmp.path());
    assert_eq!(opts.initial_sync_timeout, Some(Duration::from_secs(60)));
    // Services list and watch fine; endpoints never answer: half a sync is no sync.
    let emu = emulator_with(vec![]).await;
    emu.hang("endpointslices");
    emu.hang("endpoints");
    let (sockets, _, _) = sockets().await;
    let started = Instant::now();
    let run = tokio::spawn(run_with_client(
        opts,
        sockets,
        emu.in_process_client(),
        CancellationToken::new(),
    ));
    tokio::time::sleep(Duration::from_millis(59_900)).await;
    assert!(!run.is_finished(), "exited before --initial-sync-timeout");
    let r = run.await.unwrap();
    let took = started.elapsed();
    assert!(
        emu.requests().iter().any(|r| r.is_watch_of(SERVICES)),
        "the Services half synced and watched"
    );
    assert!(
        matches!(r, Err(RunError::InitialSyncTimeout(d)) if d == Duration::from_secs(60)),
        "{r:?}"
    );
    assert!(
        took >= Duration::from_secs(60) && took < Duration::from_millis(60_100),
        "exit after {took:?}"
    );
}

/// kube-runtime's default watcher backoff before jitter: 0.8 s, doubling, at most 30 s.
fn base_delay(k: usize) -> Duration {
    let d = Duration::from_millis(800).saturating_mul(1u32 << k.min(16));
    d.min(Duration::from_secs(30))
}

#[tokio::test(start_paused = true)]
async fn outage_after_sync_keeps_serving_and_backs_off_exponentially() {
    const FAILURES: u32 = 9;
    let emu = emulator_with(vec![service("default", "a", "10.0.0.10")]).await;
    let w = watching(emu.in_process_client());
    let shutdown = CancellationToken::new();
    let services = tokio::spawn(w.sources.clone().run_services(shutdown.clone()));
    let endpoints = tokio::spawn(
        w.sources
            .clone()
            .run_endpoints(EndpointSourceMode::Endpoints, shutdown.clone()),
    );
    tokio::time::timeout(Duration::from_secs(5), w.gate.wait())
        .await
        .expect("initial sync");
    let (store, metrics) = (&w.store, &w.metrics);

    // The outage: the open watch ends, the next FAILURES watch requests fail with 500, and a
    // Service is created once the first of them has failed (so no open stream delivers it).
    let outage_from = emu.requests().len();
    emu.fail_next_watches(FAILURES, Some("services"));
    emu.close_watches();
    let rewatches = |emu: &kube_emulator::Emulator| {
        emu.requests()[outage_from..]
            .iter()
            .filter(|r| r.is_watch_of(SERVICES))
            .count()
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    while rewatches(&emu) == 0 {
        assert!(
            Instant::now() < deadline,
            "no re-watch after the stream closed"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    emu.apply(service("default", "b", "10.0.0.11")).unwrap();

    // Through the outage, check every second that the snapshot and readiness stay.
    let errors = "kubedns_watch_errors_total{resource=\"services\"}";
    let deadline = Instant::now() + Duration::from_secs(600);
    while store.entry("default", "b").is_none() {
        assert!(Instant::now() < deadline, "the watch never recovered");
        assert!(store.is_synced(), "readiness lost during the outage");
        assert!(
            store.entry("default", "a").is_some(),
            "data lost during the outage"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    assert_eq!(metric(metrics, errors), f64::from(FAILURES));
    assert_eq!(
        metric(metrics, "kubedns_sync_state{resource=\"services\"}"),
        1.0
    );
    assert_eq!(
        store.ptr_targets("10.0.0.11".parse().unwrap()),
        vec!["b.default.svc.cluster.local."],
        "the first event after the outage is applied"
    );

    let log = emu.requests();
    let initial_states = log
        .iter()
        .filter(|r| r.asks_initial_state_of(SERVICES))
        .count();
    assert_eq!(
        initial_states, 1,
        "a failed watch is retried as a watch from the same resourceVersion, not a relist"
    );
    let watches: Vec<Instant> = log[outage_from..]
        .iter()
        .filter(|r| r.is_watch_of(SERVICES))
        .map(|r| r.at)
        .collect();
    let failures = FAILURES as usize;
    assert_eq!(watches.len(), failures + 1, "{log:?}");
    let gaps: Vec<Duration> = watches.windows(2).map(|w| w[1] - w[0]).collect();
    for (k, gap) in gaps.iter().enumerate() {
        let d = base_delay(k);
        assert!(
            *gap >= d && *gap < d * 2 + Duration::from_millis(50),
            "retry {k}: waited {gap:?}, expected [{d:?}, {:?}); all gaps {gaps:?}",
            d * 2
        );
    }
    // Jittered: the waits are not the bare steps (replicas cut off together retry apart).
    assert!(
        gaps.iter().enumerate().any(|(k, g)| *g != base_delay(k)),
        "no jitter: {gaps:?}"
    );
    // Growth, stated directly: the last waits are far longer than the first, and capped.
    assert!(gaps[failures - 1] > gaps[0] * 8, "{gaps:?}");
    assert!(
        gaps.iter().all(|g| *g < Duration::from_secs(60)),
        "{gaps:?}"
    );

    shutdown.cancel();
    services.await.unwrap();
    endpoints.await.unwrap();
}
