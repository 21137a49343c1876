//! The measured kubedns: spawned pinned to a CPU against the emulator, and the wait for
//! its `/readiness`.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use integration::harness::ports::{free_dns_port, free_tcp_port};
use integration::harness::process::{ChildProcess, ProcessSpec};
use integration::harness::wait::http_get;
use tokio::time::Instant;

use super::args::Source;

/// The server every row of this benchmark measures.
pub(super) const SERVER: &str = "kubedns";

/// Readiness poll period.
pub(super) const READY_POLL: Duration = Duration::from_millis(5);
/// Grace period for SIGTERM before SIGKILL when stopping kubedns.
pub(super) const STOP_GRACE: Duration = Duration::from_secs(3);

/// A running kubedns with its ports.
pub(super) struct Kubedns {
    pub(super) proc: ChildProcess,
    pub(super) pid: u32,
    pub(super) dns: SocketAddr,
    pub(super) healthz: SocketAddr,
}

pub(super) fn spawn_kubedns(
    bin: &Path,
    api_url: &str,
    cpu: u32,
    log_dir: &Path,
    name: &str,
    source: Source,
) -> anyhow::Result<Kubedns> {
    let dns_port = free_dns_port()?;
    let hz_port = free_tcp_port()?;
    let spec = ProcessSpec::new(name, "taskset").args([
        "-c".to_string(),
        cpu.to_string(),
        bin.display().to_string(),
        "--domain=cluster.local.".into(),
        format!("--dns-port={dns_port}"),
        "--dns-bind-address=127.0.0.1".into(),
        format!("--healthz-port={hz_port}"),
        format!("--kube-master-url={api_url}"),
        format!("--endpoint-source={}", source.flag()),
        "--v=0".into(),
    ]);
    let proc = ChildProcess::spawn(spec, log_dir)?;
    let pid = proc.pid().context("kubedns has no pid")?;
    Ok(Kubedns {
        proc,
        pid,
        dns: SocketAddr::from((Ipv4Addr::LOCALHOST, dns_port)),
        healthz: SocketAddr::from((Ipv4Addr::LOCALHOST, hz_port)),
    })
}

/// Polls `/readiness` until 200; returns the time since `start`.
pub(super) async fn wait_ready(
    k: &mut Kubedns,
    start: Instant,
    timeout: Duration,
) -> anyhow::Result<Duration> {
    let deadline = start + timeout;
    while Instant::now() < deadline {
        if let Ok((200, _)) = http_get(k.healthz, "/readiness").await {
            return Ok(start.elapsed());
        }
        if k.proc.try_exit_status().is_some() {
            bail!("kubedns exited before ready:\n{}", k.proc.describe());
        }
        tokio::time::sleep(READY_POLL).await;
    }
    bail!(
        "kubedns not ready after {timeout:?}:\n{}",
        k.proc.describe()
    )
}
