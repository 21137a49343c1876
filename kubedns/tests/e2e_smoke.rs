//! Smoke test of the real binary against the API emulator (plain http, no auth, seeded with
//! `default/kubernetes` as every cluster is): EndpointSlices forbidden → Endpoints fallback, readiness after the sync, an answer for
//! `kubernetes.default`, metrics on `$PROMETHEUS_PORT`, and SIGTERM → 503 at once, DNS still
//! answered during the lame-duck period, exit 0. The full scenario suite lives in `integration/`.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serverkit::process::ChildGuard;

fn free_port() -> u16 {
    // Bind TCP and UDP on the same port to make a collision unlikely for both transports.
    for _ in 0..50 {
        let t = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = t.local_addr().unwrap().port();
        if std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port");
}

fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    let code = buf.split_whitespace().nth(1)?.parse().ok()?;
    Some((
        code,
        buf.split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default(),
    ))
}

fn dig(port: u16, name: &str) -> Option<String> {
    let out = Command::new("dig")
        .args([
            "@127.0.0.1",
            "-p",
            &port.to_string(),
            name,
            "A",
            "+short",
            "+time=2",
            "+tries=1",
        ])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_from_the_api_and_shuts_down_gracefully() {
    serverkit::require!(serverkit::require::Need::Tool("dig"));
    let emu = common::emulator_with(Vec::new()).await;
    emu.forbid("endpointslices");
    let (dns_port, healthz_port, metrics_port) = (free_port(), free_port(), free_port());
    let tmp = tempfile::tempdir().unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_kubedns"))
        .args([
            &format!("--kube-master-url={}", emu.url()),
            "--domain=cluster.local.",
            "--dns-bind-address=127.0.0.1",
            &format!("--dns-port={dns_port}"),
            &format!("--healthz-port={healthz_port}"),
            "--udp-sockets=2",
            "--lame-duck=2s",
            "--drain-timeout=2s",
            &format!("--resolv-conf={}", tmp.path().join("resolv.conf").display()),
            "--v=2",
        ])
        .env("PROMETHEUS_PORT", metrics_port.to_string())
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn kubedns");
    let mut child = ChildGuard(child);

    let result = tokio::task::spawn_blocking(move || {
        assert!(
            wait_until(Duration::from_secs(30), || http_get(
                healthz_port,
                "/readiness"
            )
            .is_some_and(|(c, _)| c == 200)),
            "kubedns never became ready"
        );
        assert_eq!(http_get(healthz_port, "/healthz").map(|r| r.0), Some(200));
        assert_eq!(
            dig(dns_port, "kubernetes.default.svc.cluster.local.").as_deref(),
            Some("10.0.0.1")
        );

        let (code, metrics) = http_get(metrics_port, "/metrics").unwrap();
        assert_eq!(code, 200);
        for want in [
            "kubedns_endpoint_source{source=\"endpoints\"} 1",
            "kubedns_sync_state{resource=\"services\"} 1",
            "kubedns_sync_state{resource=\"endpoints\"} 1",
            "skydns_skydns_dns_request_count",
        ] {
            assert!(metrics.contains(want), "metrics lack {want:?}:\n{metrics}");
        }
        // Legacy shared mux: the metrics port answers /readiness too.
        assert_eq!(http_get(metrics_port, "/readiness").map(|r| r.0), Some(200));
    })
    .await;
    if let Err(e) = result {
        std::panic::resume_unwind(e.into_panic());
    }

    // SIGTERM: not ready at once, DNS answered during the lame-duck period, then exit 0.
    let sent = Instant::now();
    assert!(child.signal("TERM"));
    let status = tokio::task::spawn_blocking(move || {
        assert!(
            wait_until(Duration::from_secs(1), || http_get(
                healthz_port,
                "/readiness"
            )
            .is_some_and(|(c, _)| c == 503)),
            "readiness did not turn 503 after SIGTERM"
        );
        assert_eq!(
            dig(dns_port, "kubernetes.default.svc.cluster.local.").as_deref(),
            Some("10.0.0.1")
        );
        assert!(
            sent.elapsed() < Duration::from_secs(2),
            "checks ran past the lame-duck period"
        );
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(st) = child.0.try_wait().unwrap() {
                break st;
            }
            assert!(
                Instant::now() < deadline,
                "kubedns did not exit after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    })
    .await
    .unwrap();
    assert!(status.success(), "exit status {status:?}");
}

#[test]
fn initial_sync_timeout_exits_with_message() {
    // Nothing listens on this port: every LIST fails, the sync never completes.
    let dead_api = free_port();
    let (dns_port, healthz_port) = (free_port(), free_port());
    let child = Command::new(env!("CARGO_BIN_EXE_kubedns"))
        .args([
            &format!("--kube-master-url=http://127.0.0.1:{dead_api}"),
            "--dns-bind-address=127.0.0.1",
            &format!("--dns-port={dns_port}"),
            &format!("--healthz-port={healthz_port}"),
            "--udp-sockets=1",
            "--initial-sync-timeout=3s",
            "--resolv-conf=/nonexistent",
        ])
        .env_remove("PROMETHEUS_PORT")
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn kubedns");
    let mut child = ChildGuard(child);
    // Before the sync: alive (healthz 200) but not ready (503).
    assert!(
        wait_until(Duration::from_secs(2), || http_get(
            healthz_port,
            "/healthz"
        )
        .is_some_and(|(c, _)| c == 200)),
        "healthz never answered"
    );
    assert_eq!(http_get(healthz_port, "/readiness").map(|r| r.0), Some(503));
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(st) = child.0.try_wait().unwrap() {
            break st;
        }
        assert!(
            Instant::now() < deadline,
            "kubedns did not exit after the initial sync timeout"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(1));
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.0.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(
        stderr.contains("timeout waiting for initialization"),
        "{stderr}"
    );
}
