//! The dnsperf phases: queries alone, queries while updates flow, updates alone; CPU per
//! query and per update.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use integration::harness::process::{ChildProcess, ProcessSpec};
use integration::harness::scale::SvcSpec;
use kube_emulator::Emulator;
use tokio::time::Instant;

use super::args::{Args, Source};
use super::kubedns::{Kubedns, SERVER};
use super::updates::{PoolEntry, UPDATE_POOL_MAX_ENDPOINTS, UpdatePlan, update_stream};
use crate::measure::Rows;
use crate::measure::cpu_ticks;

/// Runs dnsperf against `server` for `secs` at `qps`; returns (completed queries, log).
pub(super) async fn run_dnsperf(
    args: &Args,
    server: SocketAddr,
    queries: &Path,
    log_dir: &Path,
    name: &str,
) -> anyhow::Result<(u64, String)> {
    let spec = ProcessSpec::new(name, "taskset").args([
        "-c".to_string(),
        args.client_cpu.to_string(),
        args.dnsperf.display().to_string(),
        "-s".into(),
        server.ip().to_string(),
        "-p".into(),
        server.port().to_string(),
        "-d".into(),
        queries.display().to_string(),
        "-l".into(),
        args.phase_secs.to_string(),
        "-c".into(),
        "10".into(),
        "-q".into(),
        "200".into(),
    ]);
    let spec = if args.load_qps > 0 {
        spec.args(["-Q".to_string(), args.load_qps.to_string()])
    } else {
        spec
    };
    let mut p = ChildProcess::spawn(spec, log_dir)?;
    let deadline = Instant::now() + Duration::from_secs(args.phase_secs + 30);
    while p.try_exit_status().is_none() {
        if Instant::now() > deadline {
            bail!("dnsperf did not finish:\n{}", p.describe());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let log = p.log();
    let completed = log
        .lines()
        .find_map(|l| l.trim().strip_prefix("Queries completed:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .with_context(|| format!("no 'Queries completed' in dnsperf output:\n{log}"))?;
    Ok((completed, log))
}

/// dnsperf without updates, with updates, and updates alone: CPU per query and per update.
#[allow(clippy::too_many_arguments)]
pub(super) async fn load_phases(
    args: &Args,
    emu: &Emulator,
    specs: &[SvcSpec],
    work: &Path,
    k: &Kubedns,
    pool: &mut VecDeque<PoolEntry>,
    source: Source,
    tck: f64,
    rows: &mut Rows,
) -> anyhow::Result<()> {
    // Query file: every ClusterIP Service and the small headless ones.
    let qfile = work.join("scale-queries.txt");
    let mut q = String::new();
    for s in specs
        .iter()
        .filter(|s| !s.headless || s.endpoints <= UPDATE_POOL_MAX_ENDPOINTS)
    {
        let _ = writeln!(q, "{}.{}.svc.cluster.local A", s.name, s.ns);
    }
    std::fs::write(&qfile, q)?;
    let c0 = cpu_ticks(k.pid)?;
    let (done, _) = run_dnsperf(args, k.dns, &qfile, work, "dnsperf-scale-idle").await?;
    let c1 = cpu_ticks(k.pid)?;
    let cpu_idle = (c1 - c0) as f64 / tck * 1e6 / done.max(1) as f64;
    rows.add(
        SERVER,
        "qps_no_updates",
        done as f64 / args.phase_secs as f64,
        "qps",
    );
    rows.add(SERVER, "cpu_us_per_query_no_updates", cpu_idle, "us");
    let plan = UpdatePlan {
        rate: args.update_rate,
        secs: args.phase_secs,
        source,
        shape: args.objects,
    };
    let c0 = cpu_ticks(k.pid)?;
    let dnsperf = run_dnsperf(args, k.dns, &qfile, work, "dnsperf-scale-updates");
    let updates = update_stream(emu, specs, pool, k.dns, plan);
    let ((done, _), upd) = tokio::try_join!(dnsperf, updates)?;
    let c1 = cpu_ticks(k.pid)?;
    let cpu_s = (c1 - c0) as f64 / tck;
    let answered = done + upd.poll_queries;
    rows.add(
        SERVER,
        "qps_with_updates",
        answered as f64 / args.phase_secs as f64,
        "qps",
    );
    rows.add(
        SERVER,
        "cpu_us_per_query_with_updates",
        cpu_s * 1e6 / answered.max(1) as f64,
        "us",
    );
    // Updates alone (no query load), so their own cost is not lost in the noise of the
    // query load: kubedns CPU net of the few latency polls, per update.
    let c0 = cpu_ticks(k.pid)?;
    let alone = update_stream(emu, specs, pool, k.dns, plan).await?;
    let c1 = cpu_ticks(k.pid)?;
    let cpu_alone_us = (c1 - c0) as f64 / tck * 1e6;
    let polls_us = cpu_idle * alone.poll_queries as f64;
    rows.add(
        SERVER,
        "cpu_us_per_update",
        (cpu_alone_us - polls_us).max(0.0) / alone.sent.max(1) as f64,
        "us",
    );
    Ok(())
}
