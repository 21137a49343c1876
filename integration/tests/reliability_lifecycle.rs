//! SIGTERM during a rolling update (issue 8, B4 row 27) for all three binaries of the pod,
//! started as in the legacy manifest by the harness (real binaries, API emulator, loopback):
//! * kubedns: `/readiness` turns 503 at once, DNS is still answered during the lame-duck
//!   period, the process exits 0, and its DNS ports (UDP and TCP) can be bound again;
//! * dnsmasq-rs: still answers during its lame-duck period, exits 0 and frees its UDP and
//!   TCP ports;
//! * healthz: exits 0 and frees its HTTP port.
//!
//! Skipped with a message until the binaries are built.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use hickory_proto::rr::RecordType;
use integration::harness::bins::skip_without_binaries;
use integration::harness::dns::answer_ips;
use integration::harness::{ChildProcess, Stack, StackOptions, wait};

/// Polls until the child exits or `deadline` passes.
async fn wait_exit(child: &mut ChildProcess, within: Duration) -> Option<std::process::ExitStatus> {
    let end = Instant::now() + within;
    while Instant::now() < end {
        if let Some(s) = child.try_exit_status() {
            return Some(s);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

fn rebind_udp_tcp(port: u16) -> std::io::Result<()> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let _u = std::net::UdpSocket::bind(addr)?;
    let _t = std::net::TcpListener::bind(addr)?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_and_exits_cleanly_for_all_three_binaries() -> anyhow::Result<()> {
    if skip_without_binaries() {
        return Ok(());
    }
    // The harness stack defaults to `--lame-duck=0`; this test exercises the real default.
    let mut stack = Stack::start(StackOptions {
        kubedns_args: vec!["--lame-duck=5s".into()],
        dnsmasq_args: vec!["--lame-duck=3s".into()],
        ..StackOptions::full()
    })
    .await?;
    let name = "kubernetes.default.svc.cluster.local.";
    let kubernetes = vec![IpAddr::from([10, 0, 0, 1])];

    // healthz
    let hz_port = stack.ports.healthz_http.unwrap_or_default();
    let p = stack
        .healthz_process()
        .ok_or_else(|| anyhow::anyhow!("no healthz"))?;
    p.signal(libc::SIGTERM);
    let st = wait_exit(p, Duration::from_secs(10)).await;
    assert_eq!(st.and_then(|s| s.code()), Some(0), "healthz exit: {st:?}");
    std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, hz_port))
        .map_err(|e| anyhow::anyhow!("healthz port {hz_port} still bound: {e}"))?;

    // dnsmasq-rs
    let dm_port = stack.ports.dnsmasq_dns.unwrap_or_default();
    let m = stack.dnsmasq().udp(name, RecordType::A).await?;
    assert_eq!(answer_ips(&m), kubernetes, "dnsmasq-rs before SIGTERM");
    let p = stack
        .dnsmasq_process()
        .ok_or_else(|| anyhow::anyhow!("no dnsmasq-rs"))?;
    p.signal(libc::SIGTERM);
    // Lame duck (3 s here): still answering right after SIGTERM.
    let m = stack.dnsmasq().udp(name, RecordType::A).await?;
    assert_eq!(answer_ips(&m), kubernetes, "dnsmasq-rs in lame duck");
    let p = stack
        .dnsmasq_process()
        .ok_or_else(|| anyhow::anyhow!("no dnsmasq-rs"))?;
    let st = wait_exit(p, Duration::from_secs(20)).await;
    assert_eq!(
        st.and_then(|s| s.code()),
        Some(0),
        "dnsmasq-rs exit: {st:?}"
    );
    rebind_udp_tcp(dm_port)
        .map_err(|e| anyhow::anyhow!("dnsmasq-rs port {dm_port} still bound: {e}"))?;

    // kubedns: not ready at once, still answering during the lame duck (default 5 s), exit 0.
    let readiness = stack.kubedns_healthz_addr();
    let kd_port = stack.ports.kubedns_dns;
    let client = stack.kubedns();
    let p = stack
        .kubedns_process()
        .ok_or_else(|| anyhow::anyhow!("no kubedns"))?;
    p.signal(libc::SIGTERM);
    let sent = Instant::now();
    let mut not_ready = false;
    while sent.elapsed() < Duration::from_secs(2) {
        if let Ok((503, _)) = wait::http_get(readiness, "/readiness").await {
            not_ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        not_ready,
        "kubedns /readiness did not turn 503 after SIGTERM"
    );
    for transport in [
        integration::harness::Transport::Udp,
        integration::harness::Transport::Tcp,
    ] {
        let m = client.query(name, RecordType::A, transport).await?;
        assert_eq!(
            answer_ips(&m),
            kubernetes,
            "kubedns in lame duck over {transport:?}"
        );
    }
    let p = stack
        .kubedns_process()
        .ok_or_else(|| anyhow::anyhow!("no kubedns"))?;
    let st = wait_exit(p, Duration::from_secs(20)).await;
    assert_eq!(st.and_then(|s| s.code()), Some(0), "kubedns exit: {st:?}");
    rebind_udp_tcp(kd_port)
        .map_err(|e| anyhow::anyhow!("kubedns port {kd_port} still bound: {e}"))?;
    Ok(())
}
