//! Lifecycle fault (issue 8, B4 rows 22/27): kubedns dies and is restarted while dnsmasq-rs
//! keeps running in front of it. While kubedns is down, cluster names asked through
//! dnsmasq-rs get SERVFAIL — never NXDOMAIN — and once kubedns is back they resolve again:
//! a Service created during the outage must be answered correctly, i.e. no negative answer
//! from the outage may linger in the dnsmasq-rs cache. Real binaries, API emulator,
//! loopback only; skipped with a message until the binaries are built.

use std::net::IpAddr;
use std::time::Duration;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use integration::harness::bins::skip_without_binaries;
use integration::harness::dns::{answer_ips, rcode};
use integration::harness::{DnsClient, Stack, StackOptions, Transport, objects};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubedns_restart_behind_running_dnsmasq() -> anyhow::Result<()> {
    if skip_without_binaries() {
        return Ok(());
    }
    let mut opts = StackOptions::full();
    opts.healthz = false;
    let mut stack = Stack::start(opts).await?;
    // Upstream tries time out after 2 s while kubedns is down: give the client more.
    let dnsmasq = DnsClient {
        timeout: Duration::from_secs(8),
        ..stack.dnsmasq()
    };
    let kubernetes = "kubernetes.default.svc.cluster.local.";
    let m = dnsmasq.udp(kubernetes, RecordType::A).await?;
    assert_eq!(
        answer_ips(&m),
        vec![IpAddr::from([10, 0, 0, 1])],
        "before the crash\n{}",
        stack.describe()
    );

    // kubedns crashes (SIGKILL: no lame duck, sockets gone at once).
    if let Some(k) = stack.kubedns_process() {
        k.kill();
    }

    // During the outage a Service is created; asking for it through dnsmasq-rs must give
    // SERVFAIL (the upstream is down), never NXDOMAIN.
    stack.emulator().create(objects::namespace("restart"))?;
    stack.emulator().create(objects::service(
        "restart",
        "late",
        "10.0.0.88",
        &[("http", 80, "TCP")],
    ))?;
    let late = "late.restart.svc.cluster.local.";
    for name in [late, "absent.default.svc.cluster.local."] {
        let m = dnsmasq.udp(name, RecordType::A).await?;
        assert_eq!(
            rcode(&m),
            ResponseCode::ServFail,
            "{name} while kubedns is down\n{}",
            stack.describe()
        );
    }
    // A name dnsmasq-rs has cached may still be served from cache; it must not turn negative.
    let m = dnsmasq.udp(kubernetes, RecordType::A).await?;
    assert!(
        matches!(rcode(&m), ResponseCode::NoError | ResponseCode::ServFail),
        "cached name during the outage: {:?}",
        rcode(&m)
    );

    // kubedns comes back on the same port; dnsmasq-rs was never restarted.
    stack.start_kubedns().await?;
    Stack::wait_for_answer(
        &dnsmasq,
        late,
        RecordType::A,
        Transport::Udp,
        Duration::from_secs(15),
        |m| answer_ips(m) == vec![IpAddr::from([10, 0, 0, 88])],
    )
    .await?;
    let m = dnsmasq
        .udp("absent.default.svc.cluster.local.", RecordType::A)
        .await?;
    // After recovery the real negative answer comes through (possibly after the 2 s SERVFAIL
    // cache of the outage expires).
    if rcode(&m) != ResponseCode::NXDomain {
        tokio::time::sleep(Duration::from_secs(3)).await;
        let m = dnsmasq
            .udp("absent.default.svc.cluster.local.", RecordType::A)
            .await?;
        assert_eq!(rcode(&m), ResponseCode::NXDomain, "{}", stack.describe());
    }
    let m = dnsmasq.udp(kubernetes, RecordType::A).await?;
    assert_eq!(answer_ips(&m), vec![IpAddr::from([10, 0, 0, 1])]);
    let process_alive = stack
        .dnsmasq_process()
        .map(|p| p.try_exit_status().is_none())
        .unwrap_or(false);
    assert!(process_alive, "dnsmasq-rs exited\n{}", stack.describe());
    Ok(())
}
