//! Scenario `scale-k8s`: kubedns, CoreDNS and legacy kube-dns against the **real** control
//! plane holding a large cluster (default 10,000 Services and 100,000 endpoints, the shape of
//! `integration::harness::scale`: ≈ 30 % headless, 1–1000 endpoints per Service,
//! EndpointSlices of ≤ 100 plus the v1 Endpoints of every Service, selectorless). Each server
//! runs alone, pinned to the server CPU, while etcd and kube-apiserver sit on the client CPU:
//!
//! * time from spawn to its readiness endpoint (see [`crate::servers`]) and to the first
//!   correct answer for the last Service created;
//! * `VmRSS` at ready and after [`SETTLE`], `VmHWM` (peak RSS) at ready and at the end;
//! * event → answer latency: `rate` endpoint updates per second for `secs` seconds, each
//!   replacing one address of a small headless Service by writing **both** its v1 Endpoints
//!   and its EndpointSlice (merge patches, sent together; the clock starts before them), then,
//!   once both are acknowledged (no server can know the address earlier; polling while a slow
//!   write is in flight only loads the box), polling the server over UDP every
//!   [`POLL_INTERVAL`] until the new address is answered
//!   (nearest-rank p50/p90/p99/max; updates not visible within [`VISIBLE_TIMEOUT`] counted).
//!   A Service is not updated again while its previous update is still being polled for.
//!   The time until the API acknowledged both writes is reported too (p50/p99): on a loaded
//!   box it is most of the event → answer time, and it is the same for every server.

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use hickory_proto::rr::RecordType;
use integration::controlplane::{ControlPlane, ControlPlaneOptions};
use integration::harness::dns::{DnsClient, answer_ips};
use integration::harness::objects;
use integration::harness::scale::{self, SLICE_MAX, Shape, SvcSpec};
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::loader;
use crate::measure::{Rows, children, mib, percentile, pin, status_kib};
use crate::servers::{self, Binaries, Kind};

/// Scenario name in the CSV.
pub const SCENARIO: &str = "scale-k8s";
/// Poll period of the event → answer pollers.
pub const POLL_INTERVAL: Duration = Duration::from_millis(1);
/// An update not answered within this is counted as not visible.
pub const VISIBLE_TIMEOUT: Duration = Duration::from_secs(5);
/// Timeout of one poll query.
pub const POLL_QUERY_TIMEOUT: Duration = Duration::from_millis(250);
/// Wait after ready before the steady RSS reading.
pub const SETTLE: Duration = Duration::from_secs(2);
/// Headless Services with at most this many endpoints take the updates.
pub const UPDATE_POOL_MAX_ENDPOINTS: usize = 4;
/// Offset of the first benchmark ClusterIP in 10.0.0.0/16 (10.0.0.1 is `kubernetes`).
pub const CLUSTER_IP_OFFSET: u32 = 16;
/// ClusterIPs available in the control plane's 10.0.0.0/16.
pub const MAX_SERVICES: usize = 65_536 - CLUSTER_IP_OFFSET as usize - 1;

/// Settings of one run.
#[derive(Debug, Clone)]
pub struct ScaleArgs {
    /// Services.
    pub services: usize,
    /// Endpoints in total.
    pub endpoints: usize,
    /// Namespaces.
    pub namespaces: usize,
    /// Loader concurrency.
    pub concurrency: usize,
    /// Servers to measure, in order.
    pub servers: Vec<Kind>,
    /// Binaries.
    pub bins: Binaries,
    /// CPU of the server under test.
    pub server_cpu: u32,
    /// CPU of etcd, kube-apiserver and this tool after loading.
    pub client_cpu: u32,
    /// Endpoint updates per second.
    pub rate: u32,
    /// Seconds of updates.
    pub secs: u32,
    /// Bound on readiness.
    pub ready_timeout: Duration,
    /// Logs and generated files.
    pub work: PathBuf,
    /// CSV to append rows to.
    pub csv: Option<PathBuf>,
}

/// ClusterIP of Service `i` inside the control plane's Service CIDR.
pub fn cluster_ip(i: usize) -> String {
    Ipv4Addr::from(u32::from_be_bytes([10, 0, 0, 0]) + CLUSTER_IP_OFFSET + i as u32).to_string()
}

/// Namespaces, selectorless Services, EndpointSlices and v1 Endpoints of `specs`.
pub fn cluster_objects(specs: &[SvcSpec], namespaces: usize) -> Vec<Value> {
    let mut out: Vec<Value> = (0..namespaces.max(1))
        .map(|n| objects::namespace(&format!("ns{n}")))
        .collect();
    for (i, s) in specs.iter().enumerate() {
        let mut svc = scale::service_object(specs, i, Shape::Lean);
        if !s.headless {
            svc["spec"]["clusterIP"] = json!(cluster_ip(i));
        }
        out.push(svc);
        let ips = scale::service_ips(s);
        for (c, chunk) in ips.chunks(SLICE_MAX).enumerate() {
            out.push(scale::slice_object(
                specs,
                i,
                c,
                s.first_endpoint + c * SLICE_MAX,
                chunk,
                Shape::Lean,
            ));
        }
        out.push(scale::endpoints_object(specs, i, &ips, Shape::Lean));
    }
    out
}

/// Pins etcd, kube-apiserver (the children of this process) and this process to `cpu`.
pub fn pin_control_plane(cpu: u32) -> anyhow::Result<Vec<(u32, String)>> {
    let kids = children();
    for (pid, _) in &kids {
        pin(*pid, cpu)?;
    }
    pin(std::process::id(), cpu)?;
    Ok(kids)
}

/// One small headless Service that takes updates.
struct Target {
    ns: String,
    name: String,
    ips: Vec<String>,
    /// An update of this Service is still being polled for (it is not updated again until
    /// then, so no update is overwritten before it was seen).
    busy: Arc<AtomicBool>,
}

/// Result of one update stream.
#[derive(Debug, Default)]
struct Latencies {
    sent: usize,
    /// Time until both API writes were acknowledged (ms, sorted).
    write_ms: Vec<f64>,
    /// Ticks with every pool Service still busy (no update sent).
    skipped: usize,
    ms: Vec<f64>,
    not_visible: usize,
    elapsed: Duration,
}

/// Writes the new address set of `t` to its Endpoints and its EndpointSlice together.
async fn write_both(client: &kube::Client, t: &Target) -> anyhow::Result<()> {
    let port = json!([{"name": "http", "port": 8080, "protocol": "TCP"}]);
    let ep_patch = json!({"subsets": [{
        "addresses": t.ips.iter().map(|ip| json!({"ip": ip})).collect::<Vec<_>>(),
        "ports": port}]});
    let slice_patch = json!({"endpoints": t.ips.iter().map(|ip| json!({
        "addresses": [ip], "conditions": {"ready": true, "serving": true, "terminating": false}}))
        .collect::<Vec<_>>()});
    let patch = |path: String, body: Value| {
        let client = client.clone();
        async move {
            let req = http::Request::patch(&path)
                .header(http::header::CONTENT_TYPE, "application/merge-patch+json")
                .body(serde_json::to_vec(&body)?)?;
            client
                .request_text(req)
                .await
                .with_context(|| format!("PATCH {path}"))
        }
    };
    tokio::try_join!(
        patch(
            format!("/api/v1/namespaces/{}/endpoints/{}", t.ns, t.name),
            ep_patch
        ),
        patch(
            format!(
                "/apis/discovery.k8s.io/v1/namespaces/{}/endpointslices/{}-0",
                t.ns, t.name
            ),
            slice_patch
        ),
    )?;
    Ok(())
}

/// Polls `fqdn` A every [`POLL_INTERVAL`] until `want` is answered; the time since `t0`.
async fn poll_until(dns: SocketAddr, fqdn: String, want: IpAddr, t0: Instant) -> Option<Duration> {
    let mut client = DnsClient::new(dns);
    client.timeout = POLL_QUERY_TIMEOUT;
    let mut tick = tokio::time::interval(POLL_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while t0.elapsed() < VISIBLE_TIMEOUT {
        tick.tick().await;
        if let Ok(m) = client.udp(&fqdn, RecordType::A).await
            && answer_ips(&m).contains(&want)
        {
            return Some(t0.elapsed());
        }
    }
    None
}

/// `rate` updates per second for `secs` seconds against the server at `dns`.
async fn update_stream(
    client: &kube::Client,
    pool: &mut VecDeque<Target>,
    dns: SocketAddr,
    rate: u32,
    secs: u32,
    next_ip: &mut u32,
) -> anyhow::Result<Latencies> {
    let total = (rate * secs) as usize;
    let mut tick = tokio::time::interval(Duration::from_secs(1) / rate.max(1));
    let mut tasks = tokio::task::JoinSet::new();
    let start = Instant::now();
    let mut sent = 0;
    let mut skipped = 0;
    for _ in 0..total {
        tick.tick().await;
        let Some(pos) = pool.iter().position(|t| !t.busy.load(Ordering::Acquire)) else {
            skipped += 1;
            continue;
        };
        pool.rotate_left(pos);
        let mut t = pool.pop_front().context("empty update pool")?;
        t.busy.store(true, Ordering::Release);
        let busy = t.busy.clone();
        sent += 1;
        let ip = Ipv4Addr::from(u32::from_be_bytes([10, 200, 0, 0]) + *next_ip);
        *next_ip += 1;
        t.ips[0] = ip.to_string();
        let snapshot = Target {
            ns: t.ns.clone(),
            name: t.name.clone(),
            ips: t.ips.clone(),
            busy: t.busy.clone(),
        };
        pool.push_back(t);
        let client = client.clone();
        tasks.spawn(async move {
            let t0 = Instant::now();
            let fqdn = format!("{}.{}.svc.cluster.local", snapshot.name, snapshot.ns);
            // Polling starts once both writes are acknowledged (no server can answer the
            // address before the API holds it); the latency still counts from before them.
            let r = match write_both(&client, &snapshot).await {
                Ok(()) => {
                    let acked = t0.elapsed();
                    Ok((acked, poll_until(dns, fqdn, IpAddr::V4(ip), t0).await))
                }
                Err(e) => Err(e),
            };
            busy.store(false, Ordering::Release);
            r
        });
    }
    let mut out = Latencies {
        sent,
        skipped,
        elapsed: start.elapsed(),
        ..Latencies::default()
    };
    while let Some(r) = tasks.join_next().await {
        let (acked, seen) = r.context("update task panicked")??;
        out.write_ms.push(acked.as_secs_f64() * 1000.0);
        match seen {
            Some(d) => out.ms.push(d.as_secs_f64() * 1000.0),
            None => out.not_visible += 1,
        }
    }
    out.write_ms.sort_by(f64::total_cmp);
    out.ms.sort_by(f64::total_cmp);
    Ok(out)
}

/// The whole scenario; appends its rows to `args.csv`.
pub async fn run(args: ScaleArgs) -> anyhow::Result<()> {
    if args.services > MAX_SERVICES {
        bail!("at most {MAX_SERVICES} Services fit the control plane's 10.0.0.0/16");
    }
    std::fs::create_dir_all(&args.work)?;
    let mut rows = Rows::new(SCENARIO);
    let cp_label = "control plane";
    let t = Instant::now();
    let cp = ControlPlane::start(ControlPlaneOptions::default()).await?;
    println!(
        "scale-k8s: {} started in {:.1} s",
        cp.versions(),
        t.elapsed().as_secs_f64()
    );
    let client = cp
        .client(integration::controlplane::Identity::Admin)
        .await?;
    let kubeconfig = cp.kubeconfig(integration::controlplane::Identity::Admin);

    let specs = scale::cluster(args.services, args.endpoints, args.namespaces);
    let objs = cluster_objects(&specs, args.namespaces);
    let stats = loader::create_all(&client, &objs, args.concurrency).await?;
    let n_eps: usize = specs.iter().map(|s| s.endpoints).sum();
    println!(
        "scale-k8s: loaded {} objects ({:?}) in {:.1} s, {} retries",
        stats.objects(),
        stats.per_kind,
        stats.elapsed.as_secs_f64(),
        stats.retries
    );
    rows.add(cp_label, "services", specs.len() as f64, "count");
    rows.add(
        cp_label,
        "headless_services",
        specs.iter().filter(|s| s.headless).count() as f64,
        "count",
    );
    rows.add(cp_label, "endpoints", n_eps as f64, "count");
    rows.add(
        cp_label,
        "endpointslices",
        *stats.per_kind.get("EndpointSlice").unwrap_or(&0) as f64,
        "count",
    );
    rows.add(cp_label, "api_objects", stats.objects() as f64, "count");
    rows.add(cp_label, "load_s", stats.elapsed.as_secs_f64(), "s");
    rows.add(
        cp_label,
        "load_objects_per_s",
        stats.objects() as f64 / stats.elapsed.as_secs_f64().max(1e-9),
        "/s",
    );
    let pinned = pin_control_plane(args.client_cpu)?;
    println!(
        "scale-k8s: pinned {pinned:?} and this tool to CPU {}",
        args.client_cpu
    );

    let (last_i, last) = specs
        .iter()
        .enumerate()
        .rev()
        .find(|(_, s)| !s.headless)
        .context("no ClusterIP Service")?;
    let probe = format!("{}.{}.svc.cluster.local", last.name, last.ns);
    let probe_ip: IpAddr = cluster_ip(last_i).parse()?;
    let mut pool: VecDeque<Target> = specs
        .iter()
        .filter(|s| s.headless && s.endpoints <= UPDATE_POOL_MAX_ENDPOINTS)
        .map(|s| Target {
            ns: s.ns.clone(),
            name: s.name.clone(),
            ips: scale::service_ips(s),
            busy: Arc::new(AtomicBool::new(false)),
        })
        .collect();
    let mut next_ip = 0u32;
    for (n, kind) in args.servers.iter().copied().enumerate() {
        let label = kind.label();
        println!("scale-k8s: {label}");
        let start = Instant::now();
        let mut srv = servers::spawn(
            kind,
            &args.bins,
            &kubeconfig,
            args.server_cpu,
            &args.work,
            &format!("scale-{n}"),
        )?;
        let ready = srv.wait_ready(start, args.ready_timeout).await?;
        let rss_ready = status_kib(srv.pid, "VmRSS")?;
        let hwm_ready = status_kib(srv.pid, "VmHWM")?;
        let dns = DnsClient::new(srv.dns);
        let answered = loop {
            if let Ok(m) = dns.udp(&probe, RecordType::A).await
                && answer_ips(&m) == [probe_ip]
            {
                break start.elapsed();
            }
            if start.elapsed() > args.ready_timeout {
                bail!(
                    "{label}: {probe} not answered {probe_ip} within {:?}",
                    args.ready_timeout
                );
            }
            tokio::time::sleep(servers::READY_POLL).await;
        };
        tokio::time::sleep(SETTLE).await;
        let rss_steady = status_kib(srv.pid, "VmRSS")?;
        rows.add(&label, "ready_s", ready.as_secs_f64(), "s");
        rows.add(&label, "first_answer_s", answered.as_secs_f64(), "s");
        rows.add(&label, "rss_ready_mib", mib(rss_ready), "MiB");
        rows.add(&label, "peak_rss_at_ready_mib", mib(hwm_ready), "MiB");
        rows.add(&label, "rss_steady_mib", mib(rss_steady), "MiB");
        let lat = update_stream(
            &client,
            &mut pool,
            srv.dns,
            args.rate,
            args.secs,
            &mut next_ip,
        )
        .await?;
        rows.add(&label, "updates_sent", lat.sent as f64, "count");
        rows.add(
            &label,
            "update_rate",
            lat.sent as f64 / lat.elapsed.as_secs_f64().max(1e-9),
            "/s",
        );
        rows.add(&label, "updates_skipped_busy", lat.skipped as f64, "count");
        rows.add(
            &label,
            "updates_not_visible_5s",
            lat.not_visible as f64,
            "count",
        );
        for (p, m) in [(50.0, "p50"), (90.0, "p90"), (99.0, "p99"), (100.0, "max")] {
            rows.add(
                &label,
                &format!("event_answer_{m}_ms"),
                percentile(&lat.ms, p),
                "ms",
            );
        }
        for (p, m) in [(50.0, "p50"), (99.0, "p99")] {
            rows.add(
                &label,
                &format!("api_write_{m}_ms"),
                percentile(&lat.write_ms, p),
                "ms",
            );
        }
        rows.add(
            &label,
            "peak_rss_mib",
            mib(status_kib(srv.pid, "VmHWM")?),
            "MiB",
        );
        rows.add(
            &label,
            "rss_end_mib",
            mib(status_kib(srv.pid, "VmRSS")?),
            "MiB",
        );
        if let Some(st) = srv.proc.try_exit_status() {
            bail!(
                "{label} exited during the run ({st}):\n{}",
                srv.proc.describe()
            );
        }
        srv.proc.stop(servers::STOP_GRACE);
    }
    if let Some(csv) = &args.csv {
        rows.append_csv(csv)?;
    }
    drop(cp);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_are_consistent() {
        let specs = scale::cluster(200, 2000, 4);
        let objs = cluster_objects(&specs, 4);
        let count = |k: &str| objs.iter().filter(|o| o["kind"] == k).count();
        assert_eq!(count("Namespace"), 4);
        assert_eq!(count("Service"), 200);
        assert_eq!(count("Endpoints"), 200);
        // Every endpoint is in exactly one slice and in its Service's Endpoints.
        let in_slices: usize = objs
            .iter()
            .filter(|o| o["kind"] == "EndpointSlice")
            .map(|o| o["endpoints"].as_array().map_or(0, Vec::len))
            .sum();
        let in_endpoints: usize = objs
            .iter()
            .filter(|o| o["kind"] == "Endpoints")
            .map(|o| o["subsets"][0]["addresses"].as_array().map_or(0, Vec::len))
            .sum();
        let total: usize = specs.iter().map(|s| s.endpoints).sum();
        assert!(total > 0);
        assert_eq!(in_slices, total);
        assert_eq!(in_endpoints, total);
        // ClusterIPs inside 10.0.0.0/16, none is the kubernetes Service's.
        for o in objs.iter().filter(|o| o["kind"] == "Service") {
            let ip = o["spec"]["clusterIP"].as_str().unwrap();
            assert!(
                ip == "None" || (ip.starts_with("10.0.") && ip != "10.0.0.1"),
                "{ip}"
            );
        }
        assert_eq!(cluster_ip(MAX_SERVICES - 1), "10.0.255.254");
    }
}
