//! Kubernetes API faults on paused tokio time: the kube client talks to an in-memory scripted
//! API (an axum `Router` used directly as the client's tower service — no sockets on the API
//! side), so minutes of backoff and start-up timers run in milliseconds and exactly.
//!
//! * B4 row 22 (never synced): with `--initial-sync-timeout=0` kubedns is still running after
//!   twice the legacy 60 s, not ready, answering SERVFAIL for cluster names; with the legacy
//!   default it exits at exactly 60 s with [`RunError::InitialSyncTimeout`].
//! * B4 row 23 (outage after the sync): the watch fails with 500 again and again; the data and
//!   readiness stay, every failure is counted, the retry intervals follow kube-runtime's
//!   exponential backoff (0.8 s doubling to 30 s, jitter in [d, 2d)), no relist storm, and the
//!   first successful watch after the outage is applied.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, State};
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use common::metric;
use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};
use kubedns::cli::EndpointSourceMode;
use kubedns::metrics::Metrics;
use kubedns::run::{RunError, Sockets, run_with_client};
use kubedns::source::{Sources, SyncGate};
use kubedns::store::Standalone as Store;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

fn json(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

// The scripted API below times every watch request on the paused clock and hangs on demand;
// the emulator (kube-emulator) has no in-memory (socketless) mode yet, which paused time needs.

/// A core/v1 Service in `default` with one named port.
fn service(name: &str, ip: &str, rv: &str) -> String {
    format!(
        r#"{{"apiVersion":"v1","kind":"Service","metadata":{{"name":"{name}","namespace":"default","resourceVersion":"{rv}"}},"spec":{{"type":"ClusterIP","clusterIP":"{ip}","clusterIPs":["{ip}"],"ports":[{{"name":"http","port":80,"protocol":"TCP"}}]}}}}"#
    )
}

/// A LIST response of `kind` at resourceVersion `rv`.
fn list(kind: &str, rv: &str, items: &[String]) -> Response {
    let body = format!(
        r#"{{"apiVersion":"v1","kind":"{kind}","metadata":{{"resourceVersion":"{rv}"}},"items":[{}]}}"#,
        items.join(",")
    );
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// A watch response carrying these event lines; the stream ends after them when `end`,
/// otherwise it stays open.
fn stream(lines: Vec<String>, end: bool) -> Response {
    use futures::StreamExt;
    let items = futures::stream::iter(
        lines
            .into_iter()
            .map(|l| Ok::<_, std::io::Error>(Bytes::from(l + "\n"))),
    );
    let body = if end {
        Body::from_stream(items)
    } else {
        Body::from_stream(items.chain(futures::stream::pending()))
    };
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// Whether the raw query string asks for a watch.
fn is_watch(q: &Option<String>) -> bool {
    q.as_deref()
        .unwrap_or_default()
        .split('&')
        .any(|p| p == "watch=true" || p == "watch=1")
}

fn client(router: Router) -> kube::Client {
    kube::Client::new(router, "default")
}

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
    let mut m = Message::new(0x4242, MessageType::Query, OpCode::Query);
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(Name::from_ascii(name).unwrap(), RecordType::A));
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    sock.send_to(&m.to_vec().unwrap(), server).await.unwrap();
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

/// An API server that accepts every request and never answers.
fn silent_api(requests: Arc<Mutex<Vec<String>>>) -> Router {
    Router::new().fallback(move |uri: Uri| {
        let requests = requests.clone();
        async move {
            requests.lock().unwrap().push(uri.path().to_string());
            std::future::pending::<Response>().await
        }
    })
}

#[tokio::test(start_paused = true)]
async fn never_synced_without_timeout_keeps_running_not_ready_servfail() {
    let tmp = tempfile::tempdir().unwrap();
    let opts = options(&["--initial-sync-timeout=0"], tmp.path());
    let requests = Arc::new(Mutex::new(Vec::new()));
    let (sockets, dns, healthz) = sockets().await;
    let shutdown = CancellationToken::new();
    let run = tokio::spawn(run_with_client(
        opts,
        sockets,
        client(silent_api(requests.clone())),
        shutdown.clone(),
    ));

    // Twice the legacy 60 s, on the paused clock.
    tokio::time::sleep(Duration::from_secs(120)).await;
    assert!(
        !run.is_finished(),
        "kubedns exited while waiting for the API"
    );
    let asked = requests.lock().unwrap().clone();
    assert!(
        asked.iter().any(|p| p == "/api/v1/services"),
        "kubedns must be waiting on its Services LIST: {asked:?}"
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
    let app = Router::new().fallback(|uri: Uri, RawQuery(q): RawQuery| async move {
        match (uri.path(), is_watch(&q)) {
            ("/api/v1/services", false) => list(
                "ServiceList",
                "5",
                &[service("kubernetes", "10.0.0.1", "5")],
            ),
            ("/api/v1/services", true) => stream(vec![], false),
            _ => std::future::pending::<Response>().await,
        }
    });
    let (sockets, _, _) = sockets().await;
    let started = Instant::now();
    let run = tokio::spawn(run_with_client(
        opts,
        sockets,
        client(app),
        CancellationToken::new(),
    ));
    tokio::time::sleep(Duration::from_millis(59_900)).await;
    assert!(!run.is_finished(), "exited before --initial-sync-timeout");
    let r = run.await.unwrap();
    let took = started.elapsed();
    assert!(
        matches!(r, Err(RunError::InitialSyncTimeout(d)) if d == Duration::from_secs(60)),
        "{r:?}"
    );
    assert!(
        took >= Duration::from_secs(60) && took < Duration::from_millis(60_100),
        "exit after {took:?}"
    );
}

/// Scripted API for the outage: Services list once, then the first `failures` watch requests
/// get 500; the next watch delivers one ADDED event and stays open.
#[derive(Default)]
struct Outage {
    failures: usize,
    service_lists: usize,
    /// Paused-clock time of every Services watch request.
    watches: Vec<Instant>,
}

async fn outage_api(
    State(s): State<Arc<Mutex<Outage>>>,
    uri: Uri,
    RawQuery(q): RawQuery,
) -> Response {
    let watch = is_watch(&q);
    let mut st = s.lock().unwrap();
    match (uri.path(), watch) {
        ("/api/v1/services", false) => {
            st.service_lists += 1;
            list("ServiceList", "10", &[service("a", "10.0.0.1", "10")])
        }
        ("/api/v1/services", true) => {
            st.watches.push(Instant::now());
            if st.watches.len() <= st.failures {
                let body = r#"{"kind":"Status","apiVersion":"v1","status":"Failure","message":"etcdserver: request timed out","code":500}"#;
                json(StatusCode::INTERNAL_SERVER_ERROR, body.into())
            } else {
                let added = format!(
                    r#"{{"type":"ADDED","object":{}}}"#,
                    service("b", "10.0.0.2", "11")
                );
                stream(vec![added], false)
            }
        }
        ("/api/v1/endpoints", false) => list("EndpointsList", "10", &[]),
        ("/api/v1/endpoints", true) => stream(vec![], false),
        _ => json(StatusCode::NOT_FOUND, String::new()),
    }
}

/// kube-runtime's default watcher backoff before jitter: 0.8 s, doubling, at most 30 s.
fn base_delay(k: usize) -> Duration {
    let d = Duration::from_millis(800).saturating_mul(1u32 << k.min(16));
    d.min(Duration::from_secs(30))
}

#[tokio::test(start_paused = true)]
async fn outage_after_sync_keeps_serving_and_backs_off_exponentially() {
    const FAILURES: usize = 9;
    let script = Arc::new(Mutex::new(Outage {
        failures: FAILURES,
        ..Outage::default()
    }));
    let app = Router::new()
        .fallback(outage_api)
        .with_state(script.clone());
    let store = Store::new("cluster.local.");
    let metrics = Metrics::new(|_| {});
    let gate = SyncGate::new(store.synced());
    let sources = Sources {
        client: client(app),
        writer: store.writer(),
        metrics: metrics.watch.clone(),
        gate: gate.clone(),
    };
    let shutdown = CancellationToken::new();
    let services = tokio::spawn(sources.clone().run_services(shutdown.clone()));
    let endpoints =
        tokio::spawn(sources.run_endpoints(EndpointSourceMode::Endpoints, shutdown.clone()));
    tokio::time::timeout(Duration::from_secs(5), gate.wait())
        .await
        .expect("initial sync");

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
    assert_eq!(metric(&metrics, errors), FAILURES as f64);
    assert_eq!(
        metric(&metrics, "kubedns_sync_state{resource=\"services\"}"),
        1.0
    );
    assert_eq!(
        store.ptr_targets("10.0.0.2".parse().unwrap()),
        vec!["b.default.svc.cluster.local."],
        "the first event after the outage is applied"
    );

    let (lists, watches) = {
        let st = script.lock().unwrap();
        (st.service_lists, st.watches.clone())
    };
    assert_eq!(
        lists, 1,
        "a failed watch is retried as a watch from the same resourceVersion, not a relist"
    );
    assert_eq!(watches.len(), FAILURES + 1);
    let gaps: Vec<Duration> = watches.windows(2).map(|w| w[1] - w[0]).collect();
    for (k, gap) in gaps.iter().enumerate() {
        let d = base_delay(k);
        assert!(
            *gap >= d && *gap < d * 2 + Duration::from_millis(50),
            "retry {k}: waited {gap:?}, expected [{d:?}, {:?}); all gaps {gaps:?}",
            d * 2
        );
    }
    // Growth, stated directly: the last waits are far longer than the first, and capped.
    assert!(gaps[FAILURES - 1] > gaps[0] * 8, "{gaps:?}");
    assert!(
        gaps.iter().all(|g| *g < Duration::from_secs(60)),
        "{gaps:?}"
    );

    shutdown.cancel();
    services.await.unwrap();
    endpoints.await.unwrap();
}
