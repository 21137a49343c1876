//! Every measurement of one endpoint source against the populated emulator: time to
//! ready, memory, the forced relist, programming latency, the load phases.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use hickory_proto::rr::RecordType;
use integration::harness::dns::{DnsClient, answer_ips};
use integration::harness::scale::{self, SvcSpec};
use kube_emulator::Emulator;
use tokio::time::Instant;

use super::args::{Args, Source};
use super::kubedns::{SERVER, STOP_GRACE, spawn_kubedns, wait_ready};
use super::load::load_phases;
use super::relist::forced_relist;
use super::updates::{UpdatePlan, latency_rows, small_headless_pool, update_stream};
use crate::measure::Rows;
use crate::measure::{mib, status_kib};

/// Wait after ready before the steady-state RSS is read (the sync's garbage is returned).
pub(super) const SETTLE: Duration = Duration::from_secs(3);

/// Every measurement of one endpoint source against the populated emulator.
#[allow(clippy::too_many_arguments)]
pub(super) async fn measure_source(
    args: &Args,
    kubedns_bin: &Path,
    emu: &Emulator,
    specs: &[SvcSpec],
    work: &Path,
    source: Source,
    round: usize,
    rss_empty: u64,
    tck: f64,
    rows: &mut Rows,
) -> anyhow::Result<()> {
    let n_endpoints: usize = specs.iter().map(|s| s.endpoints).sum();
    let timeout = Duration::from_secs(args.ready_timeout_secs);
    // 3. kubedns against the full cluster: time to ready, memory.
    let start = Instant::now();
    let mut k = spawn_kubedns(
        kubedns_bin,
        &emu.url(),
        args.server_cpu,
        work,
        &format!("kubedns-scale-{}", source.flag()),
        source,
    )?;
    let ready = wait_ready(&mut k, start, timeout).await?;
    let hwm_ready = status_kib(k.pid, "VmHWM")?;
    let rss_at_ready = status_kib(k.pid, "VmRSS")?;
    rows.add(SERVER, "ready_s", ready.as_secs_f64(), "s");
    // Sanity: the last ClusterIP Service and a big headless one answer.
    let client = DnsClient::new(k.dns);
    let (last_ip, last_svc) = specs
        .iter()
        .enumerate()
        .rev()
        .find(|(_, s)| !s.headless)
        .map(|(i, s)| (scale::cluster_ip(i), s))
        .context("no ClusterIP Service")?;
    let fq = format!("{}.{}.svc.cluster.local", last_svc.name, last_svc.ns);
    let m = client.udp(&fq, RecordType::A).await?;
    let got: Vec<String> = answer_ips(&m).iter().map(ToString::to_string).collect();
    if got != [last_ip.clone()] {
        bail!("kubedns answered {got:?} for {fq}, expected [{last_ip}]");
    }
    if let Some(big) = specs.iter().find(|s| s.headless && s.endpoints >= 40) {
        let fq = format!("{}.{}.svc.cluster.local", big.name, big.ns);
        let m = client.tcp(&fq, RecordType::A).await?;
        let n = answer_ips(&m).len();
        if n != big.endpoints {
            bail!(
                "kubedns answered {n} addresses for {fq}, expected {}",
                big.endpoints
            );
        }
    }
    tokio::time::sleep(SETTLE).await;
    let rss_steady = status_kib(k.pid, "VmRSS")?;
    rows.add(SERVER, "rss_at_ready_mib", mib(rss_at_ready), "MiB");
    rows.add(SERVER, "rss_ready_mib", mib(rss_steady), "MiB");
    rows.add(
        SERVER,
        "peak_rss_at_ready_mib",
        mib(hwm_ready.max(status_kib(k.pid, "VmHWM")?)),
        "MiB",
    );
    let delta = rss_steady.saturating_sub(rss_empty) as f64 * 1024.0;
    rows.add(
        SERVER,
        "bytes_per_endpoint",
        delta / n_endpoints.max(1) as f64,
        "B",
    );
    rows.add(
        SERVER,
        "bytes_per_object",
        delta / (specs.len() + n_endpoints) as f64,
        "B",
    );

    // 4. Forced full relist (410) at this size.
    if !args.skip_relist {
        let (svc, eps) = forced_relist(emu, &mut k, round, specs, source, args.objects).await?;
        rows.add(SERVER, "relist_services_s", svc.as_secs_f64(), "s");
        rows.add(SERVER, "relist_endpoints_s", eps.as_secs_f64(), "s");
        rows.add(
            SERVER,
            "peak_rss_after_relist_mib",
            mib(status_kib(k.pid, "VmHWM")?),
            "MiB",
        );
        tokio::time::sleep(SETTLE).await;
        rows.add(
            SERVER,
            "rss_after_relist_mib",
            mib(status_kib(k.pid, "VmRSS")?),
            "MiB",
        );
    }

    // 5. Programming latency at each rate.
    let mut pool = small_headless_pool(specs);
    for &rate in &args.latency_rates {
        if pool.len() < rate as usize {
            println!(
                "  (skipping {rate} updates/s: only {} small headless Services)",
                pool.len()
            );
            continue;
        }
        let plan = UpdatePlan {
            rate,
            secs: args.latency_secs,
            source,
            shape: args.objects,
        };
        let upd = update_stream(emu, specs, &mut pool, k.dns, plan).await?;
        let tag = if rate == 100 {
            String::new()
        } else {
            format!("_at_{rate}")
        };
        latency_rows(rows, &tag, &upd);
    }

    // 6. CPU phases with dnsperf (first source only).
    if !args.skip_load && round == 0 {
        load_phases(args, emu, specs, work, &k, &mut pool, source, tck, rows).await?;
    }
    rows.add(
        SERVER,
        "peak_rss_mib",
        mib(status_kib(k.pid, "VmHWM")?),
        "MiB",
    );
    rows.add(
        SERVER,
        "rss_end_mib",
        mib(status_kib(k.pid, "VmRSS")?),
        "MiB",
    );
    if let Some(st) = k.proc.try_exit_status() {
        bail!(
            "kubedns exited during the run ({st}):\n{}",
            k.proc.describe()
        );
    }
    k.proc.stop(STOP_GRACE);
    Ok(())
}
