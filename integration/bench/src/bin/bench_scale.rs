//! `bench_scale`: scenario 6 of the benchmark suite (`integration/bench/run.sh scale`).
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
//!   [`POLL_INTERVAL`] until the new address is in the answer (p50/p90/p99);
//! * unless `--skip-load` (first endpoint source only): CPU per query with `dnsperf`
//!   (saturating by default, or at `--load-qps`), once without and once while updates flow at
//!   `--update-rate`, and CPU per endpoint update with the updates alone.
//!
//! Results go to stdout (human summary) and, with `--csv`, as long-format rows
//! `scenario,server,metric,value,unit` appended to a CSV the run script turns into tables;
//! metrics of the `endpoints` source carry the prefix `endpoints_source.`.
//! Every loop is bounded in count and time; children are killed on exit (kill-on-drop).

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Parser;
use hickory_proto::rr::RecordType;
use integration::harness::dns::{DnsClient, answer_ips};
use integration::harness::objects;
use integration::harness::ports::{free_dns_port, free_tcp_port};
use integration::harness::process::{ChildProcess, ProcessSpec};
use integration::harness::scale::{self, Shape, SvcSpec};
use integration::harness::wait::http_get;
use kube_emulator::Emulator;
use tokio::time::Instant;

/// Period between DNS polls while waiting for an update to become visible.
const POLL_INTERVAL: Duration = Duration::from_millis(1);
/// Per-query timeout of the pollers.
const POLL_QUERY_TIMEOUT: Duration = Duration::from_millis(500);
/// An update not visible after this long counts as timed out.
const UPDATE_DEADLINE: Duration = Duration::from_secs(5);
/// Readiness poll period.
const READY_POLL: Duration = Duration::from_millis(5);
/// Largest headless Service used for updates (small answers, one slice).
const UPDATE_POOL_MAX_ENDPOINTS: usize = 8;
/// Linux `USER_HZ` (the unit of utime/stime in `/proc/<pid>/stat`) when `getconf` fails.
const DEFAULT_CLK_TCK: f64 = 100.0;
/// Grace period for SIGTERM before SIGKILL when stopping kubedns.
const STOP_GRACE: Duration = Duration::from_secs(3);
/// Wait after ready before the steady-state RSS is read (the sync's garbage is returned).
const SETTLE: Duration = Duration::from_secs(3);
/// Give up on the forced relist after this long.
const RELIST_TIMEOUT: Duration = Duration::from_secs(120);
/// Poll period while waiting for the relist probe.
const RELIST_POLL: Duration = Duration::from_millis(10);

/// Endpoint source kubedns is run with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Source {
    /// `--endpoint-source=endpointslices`.
    Endpointslices,
    /// `--endpoint-source=endpoints`.
    Endpoints,
}

impl Source {
    fn flag(self) -> &'static str {
        match self {
            Source::Endpointslices => "endpointslices",
            Source::Endpoints => "endpoints",
        }
    }

    /// Metric name prefix (none for EndpointSlices, the default source, so existing reports
    /// keep their names).
    fn prefix(self) -> &'static str {
        match self {
            Source::Endpointslices => "",
            Source::Endpoints => "endpoints_source.",
        }
    }
}

#[derive(Debug, Parser)]
#[command(about = "kube-dns-rs scale benchmark: kubedns fed by the in-process API emulator")]
struct Args {
    /// kubedns binary (default: `kubedns` next to this binary).
    #[arg(long)]
    kubedns: Option<PathBuf>,
    /// dnsperf binary.
    #[arg(long, default_value = "dnsperf")]
    dnsperf: PathBuf,
    /// Number of Services.
    #[arg(long, default_value_t = 10_000)]
    services: usize,
    /// Number of endpoints (addresses) over all Services.
    #[arg(long, default_value_t = 100_000)]
    endpoints: usize,
    /// Namespaces the Services are spread over.
    #[arg(long, default_value_t = 100)]
    namespaces: usize,
    /// Object shape: as a real cluster serves them, or only the fields kube-dns reads.
    #[arg(long, value_enum, default_value_t = Shape::Realistic)]
    objects: Shape,
    /// Endpoint sources to measure (comma-separated).
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "endpointslices,endpoints"
    )]
    endpoint_source: Vec<Source>,
    /// Emulated Kubernetes minor version: below 33 a `resourceVersion=0` list is served
    /// unpaginated, as by a real watch cache.
    #[arg(long, default_value_t = scale::UNPAGINATED_MINOR)]
    minor: u32,
    /// Let the emulator serve watch-list (`sendInitialEvents`), so kubedns streams its initial
    /// state instead of LISTing it.
    #[arg(long)]
    watch_list: bool,
    /// Skip the forced relist.
    #[arg(long)]
    skip_relist: bool,
    /// Update rates (updates/s) of the programming-latency phases (comma-separated; empty
    /// to skip).
    #[arg(long, value_delimiter = ',', default_value = "100,1000")]
    latency_rates: Vec<u32>,
    /// Seconds of each programming-latency phase.
    #[arg(long, default_value_t = 10)]
    latency_secs: u64,
    /// Skip the dnsperf CPU phases.
    #[arg(long)]
    skip_load: bool,
    /// Endpoint updates per second during the dnsperf phase with updates.
    #[arg(long, default_value_t = 100)]
    update_rate: u32,
    /// Seconds of each dnsperf phase (queries alone, queries with updates, updates alone).
    #[arg(long, default_value_t = 20)]
    phase_secs: u64,
    /// dnsperf rate (queries per second) during both load phases; 0 = saturation
    /// (`-c 10 -q 200`, as scenario 3, so CPU per query is comparable).
    #[arg(long, default_value_t = 0)]
    load_qps: u32,
    /// CPU kubedns is pinned to.
    #[arg(long, default_value_t = 0)]
    server_cpu: u32,
    /// CPU dnsperf is pinned to (run this binary on the same CPU).
    #[arg(long, default_value_t = 1)]
    client_cpu: u32,
    /// Give up when kubedns is not ready after this many seconds.
    #[arg(long, default_value_t = 120)]
    ready_timeout_secs: u64,
    /// Directory for logs and the query file (default: a temporary directory).
    #[arg(long)]
    work: Option<PathBuf>,
    /// Append `scenario,server,metric,value,unit` rows to this CSV.
    #[arg(long)]
    csv: Option<PathBuf>,
}

fn update_ip(k: u64) -> Ipv4Addr {
    Ipv4Addr::from(u32::from_be_bytes([10, 200, 0, 0]) + (k % (1 << 22)) as u32)
}

/// utime+stime of `pid` in clock ticks.
fn cpu_ticks(pid: u32) -> anyhow::Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .context("malformed /proc/pid/stat")?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 of stat(5); `rest` starts at field 3.
    let utime: u64 = f.get(11).and_then(|v| v.parse().ok()).context("utime")?;
    let stime: u64 = f.get(12).and_then(|v| v.parse().ok()).context("stime")?;
    Ok(utime + stime)
}

/// A `/proc/<pid>/status` field in KiB (`VmRSS`, `VmHWM`).
fn status_kib(pid: u32, field: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .with_context(|| format!("no {field} in /proc/{pid}/status"))
}

fn clk_tck() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok()?.trim().parse().ok())
        .unwrap_or(DEFAULT_CLK_TCK)
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// Percentile (nearest rank) of sorted samples.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Collected result rows.
#[derive(Default)]
struct Rows {
    rows: Vec<(String, f64, &'static str)>,
    prefix: &'static str,
}

impl Rows {
    fn add(&mut self, metric: &str, value: f64, unit: &'static str) {
        let metric = format!("{}{metric}", self.prefix);
        println!("  {metric:<48} {value:>12.3} {unit}");
        self.rows.push((metric, value, unit));
    }

    fn write_csv(&self, path: &Path) -> anyhow::Result<()> {
        let mut out = String::new();
        for (m, v, u) in &self.rows {
            let _ = writeln!(out, "scale,kubedns,{m},{v},{u}");
        }
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("opening {}", path.display()))?;
        f.write_all(out.as_bytes())?;
        Ok(())
    }
}

/// A running kubedns with its ports.
struct Kubedns {
    proc: ChildProcess,
    pid: u32,
    dns: SocketAddr,
    healthz: SocketAddr,
}

fn spawn_kubedns(
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
async fn wait_ready(
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

/// Runs dnsperf against `server` for `secs` at `qps`; returns (completed queries, log).
async fn run_dnsperf(
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

/// One Service whose first endpoint address is rewritten by the update stream.
struct PoolEntry {
    spec_index: usize,
    fqdn: String,
    ips: Vec<String>,
}

/// Outcome of the update stream.
struct UpdateResult {
    latencies_ms: Vec<f64>,
    sent: u64,
    timed_out: u64,
    poll_queries: u64,
    elapsed: Duration,
}

/// What the update stream writes, and how.
#[derive(Clone, Copy)]
struct UpdatePlan {
    rate: u32,
    secs: u64,
    source: Source,
    shape: Shape,
}

fn small_headless_pool(specs: &[SvcSpec]) -> VecDeque<PoolEntry> {
    specs
        .iter()
        .enumerate()
        .filter(|(_, s)| s.headless && s.endpoints <= UPDATE_POOL_MAX_ENDPOINTS)
        .map(|(i, s)| PoolEntry {
            spec_index: i,
            fqdn: format!("{}.{}.svc.cluster.local", s.name, s.ns),
            ips: scale::service_ips(s),
        })
        .collect()
}

async fn update_stream(
    emu: &Emulator,
    specs: &[SvcSpec],
    pool: &mut VecDeque<PoolEntry>,
    dns: SocketAddr,
    plan: UpdatePlan,
) -> anyhow::Result<UpdateResult> {
    if pool.len() < plan.rate as usize {
        bail!(
            "only {} small headless Services for {} updates/s",
            pool.len(),
            plan.rate
        );
    }
    let polls = Arc::new(AtomicU64::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    let mut ticker =
        tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(plan.rate.max(1))));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let start = Instant::now();
    let end = start + Duration::from_secs(plan.secs);
    let mut sent = 0u64;
    let mut latencies_ms = Vec::new();
    let mut timed_out = 0u64;
    let mut record = |r: Option<Duration>| match r {
        Some(d) => latencies_ms.push(d.as_secs_f64() * 1e3),
        None => timed_out += 1,
    };
    while Instant::now() < end {
        ticker.tick().await;
        let Some(mut e) = pool.pop_front() else {
            bail!("empty update pool");
        };
        let new_ip = update_ip(sent);
        if let Some(first) = e.ips.first_mut() {
            *first = new_ip.to_string();
        }
        let spec = &specs[e.spec_index];
        let obj = match plan.source {
            Source::Endpointslices => scale::slice_object(
                specs,
                e.spec_index,
                0,
                spec.first_endpoint,
                &e.ips,
                plan.shape,
            ),
            Source::Endpoints => scale::endpoints_object(specs, e.spec_index, &e.ips, plan.shape),
        };
        let t0 = Instant::now();
        emu.apply(obj)
            .map_err(|err| anyhow::anyhow!("updating endpoints: {err}"))?;
        sent += 1;
        let mut client = DnsClient::new(dns);
        client.timeout = POLL_QUERY_TIMEOUT;
        let fqdn = e.fqdn.clone();
        let polls = polls.clone();
        tasks.spawn(async move {
            let deadline = t0 + UPDATE_DEADLINE;
            while Instant::now() < deadline {
                polls.fetch_add(1, Ordering::Relaxed);
                if let Ok(m) = client.udp(&fqdn, RecordType::A).await
                    && answer_ips(&m).contains(&IpAddr::V4(new_ip))
                {
                    return Some(t0.elapsed());
                }
                tokio::time::sleep(POLL_INTERVAL).await;
            }
            None
        });
        pool.push_back(e);
        // Reap finished pollers so the set stays small.
        while let Some(r) = tasks.try_join_next() {
            record(r?);
        }
    }
    let elapsed = start.elapsed();
    // Every poller ends by UPDATE_DEADLINE; the extra second only bounds the wait.
    let drain_deadline = Instant::now() + UPDATE_DEADLINE + Duration::from_secs(1);
    while let Some(r) = tokio::time::timeout_at(drain_deadline, tasks.join_next())
        .await
        .ok()
        .flatten()
    {
        record(r?);
    }
    timed_out += tasks.len() as u64;
    Ok(UpdateResult {
        latencies_ms,
        sent,
        timed_out,
        poll_queries: polls.load(Ordering::Relaxed),
        elapsed,
    })
}

fn latency_rows(rows: &mut Rows, tag: &str, upd: &UpdateResult) {
    let mut lat = upd.latencies_ms.clone();
    lat.sort_by(f64::total_cmp);
    rows.add(&format!("updates_sent{tag}"), upd.sent as f64, "count");
    rows.add(
        &format!("update_rate{tag}"),
        upd.sent as f64 / upd.elapsed.as_secs_f64(),
        "/s",
    );
    rows.add(
        &format!("updates_not_visible_5s{tag}"),
        upd.timed_out as f64,
        "count",
    );
    for p in [50.0, 90.0, 99.0] {
        rows.add(
            &format!("prog_latency_p{p:.0}_ms{tag}"),
            percentile(&lat, p),
            "ms",
        );
    }
    rows.add(
        &format!("prog_latency_max_ms{tag}"),
        lat.last().copied().unwrap_or(f64::NAN),
        "ms",
    );
}

/// Forced full relist of both watched resources, one after the other: the next watch of the
/// resource is answered 410 Gone and every watch is cut, then a probe is written (a new
/// Service; a new address for a small headless Service's endpoints); it answers once kubedns
/// has relisted that resource. Returns the two relist times.
async fn forced_relist(
    emu: &Emulator,
    k: &mut Kubedns,
    round: usize,
    specs: &[SvcSpec],
    source: Source,
    shape: Shape,
) -> anyhow::Result<(Duration, Duration)> {
    let name = format!("relist-probe-{round}");
    let ip = format!("10.95.0.{}", round % 250 + 1);
    emu.force_gone(1, Some("services"));
    emu.close_watches();
    let t0 = Instant::now();
    gone_consumed(emu).await?;
    emu.create(objects::service("ns0", &name, &ip, &[("http", 80, "TCP")]))
        .map_err(|e| anyhow::anyhow!("creating the relist probe: {e}"))?;
    wait_answer(k, &format!("{name}.ns0.svc.cluster.local"), ip.parse()?, t0).await?;
    let services = t0.elapsed();

    let (i, s) = specs
        .iter()
        .enumerate()
        .find(|(_, s)| s.headless && s.endpoints <= UPDATE_POOL_MAX_ENDPOINTS)
        .context("no small headless Service")?;
    let mut ips = scale::service_ips(s);
    let new_ip = format!("10.94.0.{}", round % 250 + 1);
    ips[0] = new_ip.clone();
    let (plural, obj) = match source {
        Source::Endpointslices => (
            "endpointslices",
            scale::slice_object(specs, i, 0, s.first_endpoint, &ips, shape),
        ),
        Source::Endpoints => ("endpoints", scale::endpoints_object(specs, i, &ips, shape)),
    };
    emu.force_gone(1, Some(plural));
    emu.close_watches();
    let t0 = Instant::now();
    gone_consumed(emu).await?;
    emu.apply(obj)
        .map_err(|e| anyhow::anyhow!("writing the endpoints probe: {e}"))?;
    wait_answer(
        k,
        &format!("{}.{}.svc.cluster.local", s.name, s.ns),
        new_ip.parse()?,
        t0,
    )
    .await?;
    Ok((services, t0.elapsed()))
}

/// Waits until the forced 410 was served (the re-watch happened), so the probe written next
/// cannot reach kubedns through the watch being cut.
async fn gone_consumed(emu: &Emulator) -> anyhow::Result<()> {
    let t0 = Instant::now();
    while emu.shared().faults_view().gone_next_watches > 0 {
        if t0.elapsed() > RELIST_TIMEOUT {
            bail!("kubedns did not re-watch within {RELIST_TIMEOUT:?}");
        }
        tokio::time::sleep(RELIST_POLL).await;
    }
    Ok(())
}

async fn wait_answer(k: &mut Kubedns, fqdn: &str, want: IpAddr, t0: Instant) -> anyhow::Result<()> {
    let client = DnsClient::new(k.dns);
    while t0.elapsed() < RELIST_TIMEOUT {
        if let Ok(m) = client.udp(fqdn, RecordType::A).await
            && answer_ips(&m).contains(&want)
        {
            return Ok(());
        }
        if k.proc.try_exit_status().is_some() {
            bail!("kubedns exited during the relist:\n{}", k.proc.describe());
        }
        tokio::time::sleep(RELIST_POLL).await;
    }
    bail!("{fqdn} not answered {RELIST_TIMEOUT:?} after the forced relist")
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
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
    let mut rows = Rows::default();
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
    rows.add("ready_empty_s", ready_empty.as_secs_f64(), "s");
    rows.add("rss_empty_mib", mib(rss_empty), "MiB");

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
    rows.add("services", specs.len() as f64, "count");
    rows.add("headless_services", n_headless as f64, "count");
    rows.add("endpoints", n_endpoints as f64, "count");
    rows.add("endpointslices", populated.slices as f64, "count");
    rows.add("emulated_minor", f64::from(args.minor), "");
    rows.add("watch_list", f64::from(u8::from(args.watch_list)), "bool");
    rows.add(
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
            &format!("list_mib_{name}"),
            body.len() as f64 / 1048576.0,
            "MiB",
        );
    }
    drop(client);
    for (i, source) in args.endpoint_source.iter().copied().enumerate() {
        println!("scale: kubedns --endpoint-source={}", source.flag());
        rows.prefix = source.prefix();
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
        rows.write_csv(csv)?;
    }
    Ok(())
}

/// Every measurement of one endpoint source against the populated emulator.
#[allow(clippy::too_many_arguments)]
async fn measure_source(
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
    rows.add("ready_s", ready.as_secs_f64(), "s");
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
    rows.add("rss_at_ready_mib", mib(rss_at_ready), "MiB");
    rows.add("rss_ready_mib", mib(rss_steady), "MiB");
    rows.add(
        "peak_rss_at_ready_mib",
        mib(hwm_ready.max(status_kib(k.pid, "VmHWM")?)),
        "MiB",
    );
    let delta = rss_steady.saturating_sub(rss_empty) as f64 * 1024.0;
    rows.add("bytes_per_endpoint", delta / n_endpoints.max(1) as f64, "B");
    rows.add(
        "bytes_per_object",
        delta / (specs.len() + n_endpoints) as f64,
        "B",
    );

    // 4. Forced full relist (410) at this size.
    if !args.skip_relist {
        let (svc, eps) = forced_relist(emu, &mut k, round, specs, source, args.objects).await?;
        rows.add("relist_services_s", svc.as_secs_f64(), "s");
        rows.add("relist_endpoints_s", eps.as_secs_f64(), "s");
        rows.add(
            "peak_rss_after_relist_mib",
            mib(status_kib(k.pid, "VmHWM")?),
            "MiB",
        );
        tokio::time::sleep(SETTLE).await;
        rows.add(
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
    rows.add("peak_rss_mib", mib(status_kib(k.pid, "VmHWM")?), "MiB");
    rows.add("rss_end_mib", mib(status_kib(k.pid, "VmRSS")?), "MiB");
    if let Some(st) = k.proc.try_exit_status() {
        bail!(
            "kubedns exited during the run ({st}):\n{}",
            k.proc.describe()
        );
    }
    k.proc.stop(STOP_GRACE);
    Ok(())
}

/// dnsperf without updates, with updates, and updates alone: CPU per query and per update.
#[allow(clippy::too_many_arguments)]
async fn load_phases(
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
        "qps_no_updates",
        done as f64 / args.phase_secs as f64,
        "qps",
    );
    rows.add("cpu_us_per_query_no_updates", cpu_idle, "us");
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
        "qps_with_updates",
        answered as f64 / args.phase_secs as f64,
        "qps",
    );
    rows.add(
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
        "cpu_us_per_update",
        (cpu_alone_us - polls_us).max(0.0) / alone.sent.max(1) as f64,
        "us",
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), 50.0);
        assert_eq!(percentile(&v, 99.0), 99.0);
        assert_eq!(percentile(&v, 100.0), 100.0);
        assert!(percentile(&[], 50.0).is_nan());
    }
}
