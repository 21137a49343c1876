#![allow(dead_code)] // each test file uses a subset
//! Shared pieces of the real-control-plane tests: starting a control plane (or skipping /
//! failing under CI when it is not built), a kubedns stack on it, and DNS expectations.

use std::time::Duration;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;
use integration::controlplane::bins::control_plane_needs;
use integration::controlplane::{ControlPlane, ControlPlaneOptions, Identity, Release};
use integration::harness::bins::binary_needs;
use integration::harness::dns::{Transport, answer_ips, rcode};
use integration::harness::{ExternalApi, Stack, StackOptions};

/// How long an object change may take to show in DNS (the controllers and the watch).
pub const CHANGE_TIMEOUT: Duration = Duration::from_secs(30);

/// Starts a control plane, or `None` (test skipped) when it or the workspace binaries are
/// not built; fails under CI in that case. Prints the versions under test.
pub async fn control_plane(opts: ControlPlaneOptions) -> anyhow::Result<Option<ControlPlane>> {
    let mut needs = control_plane_needs(opts.release);
    needs.extend(binary_needs());
    if !serverkit::require::need(&needs) {
        return Ok(None);
    }
    let t0 = std::time::Instant::now();
    let cp = ControlPlane::start(opts).await?;
    eprintln!(
        "control plane: {} (started in {} ms)",
        cp.versions(),
        t0.elapsed().as_millis()
    );
    Ok(Some(cp))
}

/// The primary release with the controllers.
pub fn with_controllers() -> ControlPlaneOptions {
    ControlPlaneOptions::with_controllers()
}

/// The primary release, API server and etcd only.
pub fn api_only() -> ControlPlaneOptions {
    ControlPlaneOptions {
        release: Release::Primary,
        ..ControlPlaneOptions::default()
    }
}

/// kubedns (and optionally dnsmasq-rs) on `cp`, authenticated as `who`.
pub async fn stack_on(
    cp: &ControlPlane,
    who: Identity,
    kubedns_args: &[&str],
) -> anyhow::Result<Stack> {
    Stack::start(StackOptions {
        api: Some(ExternalApi::control_plane(cp, who)),
        kubedns_args: kubedns_args.iter().map(|s| s.to_string()).collect(),
        ..StackOptions::kubedns_only()
    })
    .await
}

/// The sorted addresses of an answer.
pub fn ips(m: &Message) -> Vec<String> {
    answer_ips(m).iter().map(ToString::to_string).collect()
}

/// Waits until kubedns's answer to `name`/`rtype` satisfies `accept` (`what` describes it);
/// on timeout the error carries the stack's and the control plane's state.
pub async fn wait_until(
    cp: &ControlPlane,
    stack: &mut Stack,
    name: &str,
    rtype: RecordType,
    accept: impl Fn(&Message) -> bool,
) -> anyhow::Result<()> {
    let r = Stack::wait_for_answer(
        &stack.kubedns(),
        name,
        rtype,
        Transport::Udp,
        CHANGE_TIMEOUT,
        accept,
    )
    .await;
    r.map(|_| ())
        .map_err(|e| anyhow::anyhow!("{e}\n{}\n{}", stack.describe(), cp.describe()))
}

/// Waits until kubedns answers `name`/`rtype` with exactly `want` (sorted addresses).
pub async fn wait_ips(
    cp: &ControlPlane,
    stack: &mut Stack,
    name: &str,
    rtype: RecordType,
    want: &[&str],
) -> anyhow::Result<()> {
    wait_until(cp, stack, name, rtype, |m| {
        rcode(m) == ResponseCode::NoError && ips(m) == want
    })
    .await
}

/// Waits until kubedns answers `name` with `want`.
pub async fn wait_rcode(
    cp: &ControlPlane,
    stack: &mut Stack,
    name: &str,
    rtype: RecordType,
    want: ResponseCode,
) -> anyhow::Result<()> {
    wait_until(cp, stack, name, rtype, |m| rcode(m) == want).await
}

/// Waits until kubedns answers `name`/`rtype` with a CNAME to `target`.
pub async fn wait_cname(
    cp: &ControlPlane,
    stack: &mut Stack,
    name: &str,
    rtype: RecordType,
    target: &str,
) -> anyhow::Result<()> {
    wait_until(cp, stack, name, rtype, |m| {
        m.answers.iter().any(
            |r| matches!(&r.data, hickory_proto::rr::RData::CNAME(c) if c.0.to_ascii() == target),
        )
    })
    .await
}

/// The ClusterIP kube-apiserver allocated to a Service.
pub fn cluster_ip(cp: &ControlPlane, ns: &str, name: &str) -> anyhow::Result<String> {
    let ip = cp.kubectl_ok([
        "-n",
        ns,
        "get",
        "service",
        name,
        "-o",
        "jsonpath={.spec.clusterIP}",
    ])?;
    anyhow::ensure!(!ip.trim().is_empty(), "{ns}/{name} has no clusterIP");
    Ok(ip.trim().to_string())
}

/// A Pod selected by `app`, scheduled and made Ready with `ip` as the scheduler and a kubelet
/// would ([`ControlPlane::schedule_and_ready`]), so the real endpoint controllers pick it up.
pub fn ready_pod(
    cp: &ControlPlane,
    ns: &str,
    name: &str,
    app: &str,
    subdomain: Option<&str>,
    ip: &str,
) -> anyhow::Result<()> {
    let hostname = subdomain
        .map(|s| format!("  hostname: {name}\n  subdomain: {s}\n"))
        .unwrap_or_default();
    cp.kubectl_apply(&format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  namespace: {ns}\n  labels:\n    app: {app}\n\
         spec:\n{hostname}  automountServiceAccountToken: false\n  containers:\n  - name: c\n    image: registry.invalid/pause:1\n"
    ))?;
    cp.schedule_and_ready(ns, name, ip)
}

/// One metric line's value from kubedns's `/metrics` (`None` when absent).
pub async fn metric(stack: &Stack, series: &str) -> anyhow::Result<Option<f64>> {
    let body = integration::harness::wait::http_ok(
        stack.kubedns_metrics_addr(),
        "/metrics",
        Duration::from_secs(10),
    )
    .await?;
    Ok(body
        .lines()
        .find_map(|l| l.strip_prefix(series).and_then(|v| v.trim().parse().ok())))
}
