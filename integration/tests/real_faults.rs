//! kubedns through real control-plane faults: kube-apiserver restarted with etcd kept, down
//! for 30 s, and a real `410 Gone` (etcd compacted past kubedns's resourceVersion while its
//! watch was broken, served by an API server without a watch cache so the compaction reaches
//! the watch). In every case kubedns keeps serving its last state, stays ready (readiness
//! comes once, docs/kubedns.md), never exits, and converges on the server's state after.

#[path = "real/common.rs"]
mod common;

use std::time::{Duration, Instant};

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use integration::controlplane::{ControlPlaneOptions, Identity};
use integration::harness::wait;

use common::*;

/// How long the API server stays down in the outage test (the 30 s).
const OUTAGE: Duration = Duration::from_secs(30);
/// How often kubedns is probed during the outage.
const OUTAGE_PROBE: Duration = Duration::from_secs(1);

/// Probes that kubedns still answers `name` with `want`, is ready, and is running.
async fn still_serving(
    stack: &mut integration::harness::Stack,
    name: &str,
    want: &[&str],
) -> anyhow::Result<()> {
    let m = stack
        .kubedns()
        .query(name, RecordType::A, integration::harness::Transport::Udp)
        .await?;
    anyhow::ensure!(
        ips(&m) == want,
        "{name}: want {want:?}, got {:?}\n{}",
        ips(&m),
        stack.describe()
    );
    let (code, _) = wait::http_get(stack.kubedns_healthz_addr(), "/readiness").await?;
    anyhow::ensure!(code == 200, "/readiness {code} during the outage");
    let exited = stack.kubedns_process().and_then(|c| c.try_exit_status());
    anyhow::ensure!(exited.is_none(), "kubedns exited: {exited:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apiserver_restart_and_a_30s_outage() -> anyhow::Result<()> {
    let Some(mut cp) = control_plane(api_only()).await? else {
        return Ok(());
    };
    cp.kubectl_ok(["create", "service", "clusterip", "one", "--tcp=80"])?;
    let one = cluster_ip(&cp, "default", "one")?;
    let mut stack = stack_on(&cp, Identity::Admin, &[]).await?;
    let name = "one.default.svc.cluster.local.";
    wait_ips(&cp, &mut stack, name, RecordType::A, &[&one]).await?;

    // Restart with etcd kept: the watch reconnects and follows new objects.
    cp.stop_apiserver();
    still_serving(&mut stack, name, &[&one]).await?;
    cp.start_apiserver().await?;
    cp.kubectl_ok(["create", "service", "clusterip", "two", "--tcp=80"])?;
    let two = cluster_ip(&cp, "default", "two")?;
    wait_ips(
        &cp,
        &mut stack,
        "two.default.svc.cluster.local.",
        RecordType::A,
        &[&two],
    )
    .await?;

    // Down for 30 s: the last state is served throughout, readiness holds.
    cp.stop_apiserver();
    let start = Instant::now();
    let mut probes = 0;
    while start.elapsed() < OUTAGE {
        still_serving(&mut stack, name, &[&one]).await?;
        probes += 1;
        tokio::time::sleep(OUTAGE_PROBE).await;
    }
    assert!(probes >= 20, "only {probes} probes during the outage");
    cp.start_apiserver().await?;
    cp.kubectl_ok(["delete", "service", "one"])?;
    wait_rcode(&cp, &mut stack, name, RecordType::A, ResponseCode::NXDomain).await?;
    let errors = metric(&stack, "kubedns_watch_errors_total").await?;
    eprintln!("watch errors counted through the outages: {errors:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compacted_etcd_gives_a_real_410_and_a_relist() -> anyhow::Result<()> {
    let opts = ControlPlaneOptions {
        // Watches go straight to etcd, so a compaction makes an old resourceVersion 410.
        apiserver_args: vec!["--watch-cache=false".into()],
        ..api_only()
    };
    let Some(mut cp) = control_plane(opts).await? else {
        return Ok(());
    };
    cp.kubectl_ok(["create", "service", "clusterip", "stays", "--tcp=80"])?;
    cp.kubectl_ok(["create", "service", "clusterip", "goes", "--tcp=80"])?;
    let stays = cluster_ip(&cp, "default", "stays")?;
    let goes = cluster_ip(&cp, "default", "goes")?;
    let mut stack = stack_on(&cp, Identity::Admin, &[]).await?;
    wait_ips(
        &cp,
        &mut stack,
        "goes.default.svc.cluster.local.",
        RecordType::A,
        &[&goes],
    )
    .await?;

    // Freeze kubedns, break its watches by restarting the API server, change and compact,
    // then let it go: its watch resumes from a compacted resourceVersion.
    let kubedns = stack
        .kubedns_process()
        .ok_or_else(|| anyhow::anyhow!("kubedns not running"))?;
    kubedns.signal(libc::SIGSTOP);
    cp.stop_apiserver();
    cp.start_apiserver().await?;
    cp.kubectl_ok(["delete", "service", "goes"])?;
    cp.kubectl_ok(["create", "service", "clusterip", "new", "--tcp=80"])?;
    let new = cluster_ip(&cp, "default", "new")?;
    let rev = cp.compact_etcd().await?;
    if let Some(k) = stack.kubedns_process() {
        k.signal(libc::SIGCONT);
    }

    // The deletion can only be learned from a relist (its event was compacted away).
    wait_rcode(
        &cp,
        &mut stack,
        "goes.default.svc.cluster.local.",
        RecordType::A,
        ResponseCode::NXDomain,
    )
    .await?;
    wait_ips(
        &cp,
        &mut stack,
        "new.default.svc.cluster.local.",
        RecordType::A,
        &[&new],
    )
    .await?;
    still_serving(&mut stack, "stays.default.svc.cluster.local.", &[&stays]).await?;
    let log = stack.kubedns_process().map(|c| c.log()).unwrap_or_default();
    assert!(
        log.contains("too old resource version")
            || log.contains("resourceVersion for the provided watch is too old"),
        "kubedns should have met the real 410 (etcd compacted at {rev}):\n{}",
        log.lines().rev().take(40).collect::<Vec<_>>().join("\n")
    );
    Ok(())
}
