//! Scenario 6 of the benchmark suite of the benchmark suite (`integration/bench/run.sh scale`).
//!
//! Runs the API emulator in-process, fills it with a large cluster (default 10k Services and
//! 100k endpoints: ClusterIP and headless, 1–1000 endpoints per Service, EndpointSlices of at
//! most 100 endpoints and the core/v1 Endpoints of every Service; objects shaped as a real
//! cluster serves them by default, see `harness::realistic`), emulating Kubernetes 1.32 so
//! that `resourceVersion=0` lists arrive unpaginated in one response as from a real watch
//! cache. For each endpoint source (`--endpoint-source=endpointslices` and `=endpoints`) it
//! spawns the release `kubedns` pinned to one core and measures:
//!
//! * time from spawn to `/readiness` 200, and the same for an empty cluster;
//! * memory from `/proc/<pid>/status`: `VmHWM` (peak RSS) at ready, `VmRSS` after the sync
//!   has settled (steady state), bytes per endpoint = (steady − empty) / endpoints;
//! * a forced full relist: the emulator cuts every watch and answers the re-watches with 410
//!   Gone, so kubedns lists everything again; time until a Service created then answers, and
//!   `VmHWM` afterwards (the relist peak);
//! * the size of one unpaginated LIST response of each resource;
//! * DNS programming latency at each `--latency-rates` (default 100 and 1000 updates/s): a
//!   stream of endpoint updates, each replacing one address of a small headless Service;
//!   after each API write a poller queries the Service name over UDP every
//!   `POLL_INTERVAL` until the new address is in the answer (p50/p90/p99);
//! * unless `--skip-load` (first endpoint source only): CPU per query with `dnsperf`
//!   (saturating by default, or at `--load-qps`), once without and once while updates flow at
//!   `--update-rate`, and CPU per endpoint update with the updates alone.
//!
//! Results go to stdout (human summary) and, with `--csv`, as long-format rows
//! `scenario,server,metric,value,unit` appended to a CSV the run script turns into tables;
//! metrics of the `endpoints` source carry the prefix `endpoints_source.`.
//! Every loop is bounded in count and time; children are killed on exit (kill-on-drop).
//!
//! Module map: `args` (the command line), `kubedns` (spawn, readiness), `updates` (the update
//! stream and programming latency), `relist` (the forced relist), `load` (the dnsperf phases), `source`
//! (every measurement of one endpoint source); `/proc` readings, percentiles and the CSV rows
//! are [`crate::measure`]'s. This file owns [`run`]: the empty-cluster
//! baseline, populating the emulator, the LIST sizes and one round per endpoint source.

use std::time::Duration;

use anyhow::{Context, bail};
use integration::harness::scale::{self, Shape};
use kube_emulator::Emulator;
use tokio::time::Instant;

use crate::measure::{Rows, clk_tck, mib, status_kib};
use kubedns::{SERVER, STOP_GRACE, spawn_kubedns, wait_ready};
use source::measure_source;

mod args;
mod kubedns;
mod load;
mod relist;
mod source;
mod updates;

pub use args::{Args, Source};

/// Runs the whole scenario with `args` (see the module documentation).
pub async fn run(args: Args) -> anyhow::Result<()> {
    let kubedns_bin = match &args.kubedns {
        Some(p) => p.clone(),
        None => std::env::current_exe()?
            .parent()
            .context("binary has no directory")?
            .join("kubedns"),
    };
    if !kubedns_bin.exists() {
        bail!(
            "kubedns binary not found at {} (build it with cargo build --release -p kubedns)",
            kubedns_bin.display()
        );
    }
    let tmp = tempfile::tempdir()?;
    let work = args
        .work
        .clone()
        .unwrap_or_else(|| tmp.path().to_path_buf());
    std::fs::create_dir_all(&work)?;
    let tck = clk_tck();
    let mut rows = Rows::new("scale");
    let timeout = Duration::from_secs(args.ready_timeout_secs);
    let emu_cfg = || {
        let mut c = scale::emulator_config();
        c.minor = args.minor;
        c.watch_list = args.watch_list;
        c
    };
    let first_source = args
        .endpoint_source
        .first()
        .copied()
        .unwrap_or(Source::Endpointslices);

    // 1. Baseline: an empty cluster.
    println!("scale: baseline kubedns against an empty cluster");
    let (rss_empty, ready_empty) = {
        let emu = Emulator::start(emu_cfg()).await?;
        let start = Instant::now();
        let mut k = spawn_kubedns(
            &kubedns_bin,
            &emu.url(),
            args.server_cpu,
            &work,
            "kubedns-empty",
            first_source,
        )?;
        let ready = wait_ready(&mut k, start, timeout).await?;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let rss = status_kib(k.pid, "VmRSS")?;
        k.proc.stop(STOP_GRACE);
        (rss, ready)
    };
    rows.add(SERVER, "ready_empty_s", ready_empty.as_secs_f64(), "s");
    rows.add(SERVER, "rss_empty_mib", mib(rss_empty), "MiB");

    // 2. Populate the emulator.
    let specs = scale::cluster(args.services, args.endpoints, args.namespaces);
    let n_endpoints: usize = specs.iter().map(|s| s.endpoints).sum();
    let n_headless = specs.iter().filter(|s| s.headless).count();
    let emu = Emulator::start(emu_cfg()).await?;
    let t = std::time::Instant::now();
    let populated = scale::populate(&emu, &specs, args.namespaces, args.objects)?;
    println!(
        "scale: emulator (v1.{}) holds {} Services ({} headless), {} EndpointSlices, {} Endpoints, \
         {} endpoints ({} API objects, {:?} shape) after {:.1} s",
        args.minor,
        specs.len(),
        n_headless,
        populated.slices,
        populated.endpoints_objects,
        n_endpoints,
        populated.objects,
        args.objects,
        t.elapsed().as_secs_f64()
    );
    rows.add(SERVER, "services", specs.len() as f64, "count");
    rows.add(SERVER, "headless_services", n_headless as f64, "count");
    rows.add(SERVER, "endpoints", n_endpoints as f64, "count");
    rows.add(SERVER, "endpointslices", populated.slices as f64, "count");
    rows.add(SERVER, "emulated_minor", f64::from(args.minor), "");
    rows.add(
        SERVER,
        "watch_list",
        f64::from(u8::from(args.watch_list)),
        "bool",
    );
    rows.add(
        SERVER,
        "realistic_objects",
        f64::from(u8::from(args.objects == Shape::Realistic)),
        "bool",
    );
    // What one unpaginated `resourceVersion=0` LIST of each resource weighs.
    let client = emu.kube_client()?;
    for path in [
        "/api/v1/services",
        "/apis/discovery.k8s.io/v1/endpointslices",
        "/api/v1/endpoints",
    ] {
        // As client-go's reflector asks (kube-rs would drop resourceVersion=0 next to a limit).
        let req = axum::http::Request::get(format!("{path}?limit=500&resourceVersion=0"))
            .body(Vec::new())?;
        let body = client.request_text(req).await?;
        let name = path.rsplit('/').next().unwrap_or(path);
        rows.add(
            SERVER,
            &format!("list_mib_{name}"),
            body.len() as f64 / 1048576.0,
            "MiB",
        );
    }
    drop(client);
    for (i, source) in args.endpoint_source.iter().copied().enumerate() {
        println!("scale: kubedns --endpoint-source={}", source.flag());
        rows.set_metric_prefix(source.prefix());
        measure_source(
            &args,
            &kubedns_bin,
            &emu,
            &specs,
            &work,
            source,
            i,
            rss_empty,
            tck,
            &mut rows,
        )
        .await?;
    }
    if let Some(csv) = &args.csv {
        rows.append_csv(csv)?;
    }
    Ok(())
}
