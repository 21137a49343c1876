//! `bench_scale`: scenario 6 of the benchmark suite (`integration/bench/run.sh scale`).
//!
//! Runs the API emulator in-process, fills it with a large cluster (default 10k Services and
//! 100k endpoints: ClusterIP and headless, 1–1000 endpoints per Service, EndpointSlices of at
//! most 100 endpoints), spawns the release `kubedns` pinned to one core and measures:
//!
//! * time from spawn to `/readiness` 200, and the same for an empty cluster;
//! * memory from `/proc/<pid>/status`: `VmRSS` at ready (empty and full cluster), `VmHWM`
//!   (peak RSS) at the end, bytes per object = RSS difference / (Services + endpoints);
//! * DNS programming latency: a stream of endpoint updates (default 100/s), each replacing one
//!   address of a small headless Service; after each API write a poller queries the Service
//!   name over UDP every [`POLL_INTERVAL`] until the new address is in the answer (p50/p90/p99);
//! * CPU per query: `dnsperf` against kubedns (saturating by default, or at `--load-qps`), once
//!   without and once while the updates flow, kubedns CPU from `/proc/<pid>/stat`
//!   (utime+stime) per answered query. The latency pollers run during the loaded phase;
//! * CPU per endpoint update: the same update stream once more without query load, kubedns CPU
//!   net of the latency polls (at the unloaded per-query cost) ÷ updates.
//!
//! Results go to stdout (human summary) and, with `--csv`, as long-format rows
//! `scenario,server,metric,value,unit` appended to a CSV the run script turns into tables.
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
use integration::emulator::{Emulator, EmulatorConfig, StoreConfig};
use integration::harness::dns::{DnsClient, answer_ips};
use integration::harness::objects::{self, Addr};
use integration::harness::ports::{free_dns_port, free_tcp_port};
use integration::harness::process::{ChildProcess, ProcessSpec};
use integration::harness::wait::http_get;
use serde_json::{Value, json};
use tokio::time::Instant;

/// Period between DNS polls while waiting for an update to become visible.
const POLL_INTERVAL: Duration = Duration::from_millis(1);
/// Per-query timeout of the pollers.
const POLL_QUERY_TIMEOUT: Duration = Duration::from_millis(500);
/// An update not visible after this long counts as timed out.
const UPDATE_DEADLINE: Duration = Duration::from_secs(5);
/// Readiness poll period.
const READY_POLL: Duration = Duration::from_millis(5);
/// Endpoints per EndpointSlice (the endpointslice controller's default maximum).
const SLICE_MAX: usize = 100;
/// Largest headless Service used for updates (small answers, one slice).
const UPDATE_POOL_MAX_ENDPOINTS: usize = 8;
/// Objects created per store lock (keeps the lock hold short).
const CREATE_BATCH: usize = 1000;
/// Linux `USER_HZ` (the unit of utime/stime in `/proc/<pid>/stat`) when `getconf` fails.
const DEFAULT_CLK_TCK: f64 = 100.0;
/// Events the emulator keeps for watch resumption.
const HISTORY_LIMIT: usize = 50_000;
/// Grace period for SIGTERM before SIGKILL when stopping kubedns.
const STOP_GRACE: Duration = Duration::from_secs(3);

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
    /// Endpoint updates per second during the latency phase.
    #[arg(long, default_value_t = 100)]
    update_rate: u32,
    /// Seconds of each phase (queries alone, queries with updates, updates alone).
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

/// One Service of the generated cluster.
struct SvcSpec {
    ns: String,
    name: String,
    headless: bool,
    endpoints: usize,
}

/// Endpoint counts per Service: 0.1 % with 1000, 0.9 % with 200, 9 % with 40, the rest share
/// what is left evenly (at least 1). For 10k/100k: 10×1000 + 90×200 + 900×40 + 9000×4.
fn endpoint_sizes(services: usize, endpoints: usize) -> Vec<usize> {
    let class = |i: usize| match i % 1000 {
        0 => Some(1000),
        1..=9 => Some(200),
        10..=99 => Some(40),
        _ => None,
    };
    let fixed: usize = (0..services).filter_map(class).sum();
    let n_small = (0..services).filter(|i| class(*i).is_none()).count().max(1);
    let rest = endpoints.saturating_sub(fixed);
    let (base, extra) = (rest / n_small, rest % n_small);
    let mut small_seen = 0;
    (0..services)
        .map(|i| {
            class(i).unwrap_or_else(|| {
                small_seen += 1;
                (base + usize::from(small_seen <= extra)).max(1)
            })
        })
        .collect()
}

fn cluster(args: &Args) -> Vec<SvcSpec> {
    endpoint_sizes(args.services, args.endpoints)
        .into_iter()
        .enumerate()
        .map(|(i, endpoints)| SvcSpec {
            ns: format!("ns{}", i % args.namespaces.max(1)),
            name: format!("svc{i}"),
            // About 30 % headless, spread over every size class.
            headless: (i / 7) % 10 < 3,
            endpoints,
        })
        .collect()
}

fn cluster_ip(i: usize) -> String {
    Ipv4Addr::from(u32::from_be_bytes([10, 96, 0, 0]) + i as u32).to_string()
}

fn endpoint_ip(k: usize) -> String {
    Ipv4Addr::from(u32::from_be_bytes([10, 128, 0, 0]) + k as u32).to_string()
}

fn update_ip(k: u64) -> Ipv4Addr {
    Ipv4Addr::from(u32::from_be_bytes([10, 200, 0, 0]) + (k % (1 << 22)) as u32)
}

fn slice(svc: &SvcSpec, chunk: usize, ips: &[String]) -> Value {
    let addrs: Vec<Addr> = ips.iter().map(|ip| Addr::ready(ip)).collect();
    let mut s = objects::endpoint_slice(
        &svc.ns,
        &format!("{}-{chunk}", svc.name),
        &svc.name,
        "IPv4",
        &addrs,
        &[("http", 8080, "TCP")],
    );
    s["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"] = json!("kube-dns-rs-bench");
    s
}

/// Creates every namespace, Service and EndpointSlice; returns (API objects, slices).
fn populate(
    emu: &Emulator,
    specs: &[SvcSpec],
    namespaces: usize,
) -> anyhow::Result<(usize, usize)> {
    let mut objs: Vec<Value> = (0..namespaces.max(1))
        .map(|n| objects::namespace(&format!("ns{n}")))
        .collect();
    let mut k = 0usize;
    let mut slices = 0usize;
    for (i, s) in specs.iter().enumerate() {
        let ip = if s.headless {
            "None".to_string()
        } else {
            cluster_ip(i)
        };
        objs.push(objects::service(
            &s.ns,
            &s.name,
            &ip,
            &[("http", 80, "TCP")],
        ));
        let ips: Vec<String> = (k..k + s.endpoints).map(endpoint_ip).collect();
        k += s.endpoints;
        for (c, chunk) in ips.chunks(SLICE_MAX).enumerate() {
            objs.push(slice(s, c, chunk));
            slices += 1;
        }
    }
    let total = objs.len();
    let mut it = objs.into_iter();
    loop {
        let batch: Vec<Value> = it.by_ref().take(CREATE_BATCH).collect();
        if batch.is_empty() {
            break;
        }
        let mut store = emu.shared().store();
        for o in batch {
            store
                .create_value(o)
                .map_err(|e| anyhow::anyhow!("creating an object: {e}"))?;
        }
    }
    Ok((total, slices))
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
struct Rows(Vec<(String, f64, &'static str)>);

impl Rows {
    fn add(&mut self, metric: &str, value: f64, unit: &'static str) {
        println!("  {metric:<32} {value:>12.3} {unit}");
        self.0.push((metric.to_string(), value, unit));
    }

    fn write_csv(&self, path: &Path) -> anyhow::Result<()> {
        let mut out = String::new();
        for (m, v, u) in &self.0 {
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

async fn update_stream(
    emu: &Emulator,
    specs: &[SvcSpec],
    pool: &mut VecDeque<PoolEntry>,
    dns: SocketAddr,
    args: &Args,
) -> anyhow::Result<UpdateResult> {
    let polls = Arc::new(AtomicU64::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(
        1.0 / f64::from(args.update_rate.max(1)),
    ));
    let start = Instant::now();
    let end = start + Duration::from_secs(args.phase_secs);
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
        let obj = slice(&specs[e.spec_index], 0, &e.ips);
        let t0 = Instant::now();
        emu.apply(obj)
            .map_err(|err| anyhow::anyhow!("updating a slice: {err}"))?;
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
    // History room for the whole update phase, so kubedns's watches stay resumable.
    let emu_cfg = || EmulatorConfig {
        store: StoreConfig {
            history_limit: HISTORY_LIMIT,
            ..StoreConfig::default()
        },
        ..EmulatorConfig::default()
    };

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
    let specs = cluster(&args);
    let n_endpoints: usize = specs.iter().map(|s| s.endpoints).sum();
    let n_headless = specs.iter().filter(|s| s.headless).count();
    let emu = Emulator::start(emu_cfg()).await?;
    let t = std::time::Instant::now();
    let (n_objects, n_slices) = populate(&emu, &specs, args.namespaces)?;
    println!(
        "scale: emulator holds {} Services ({} headless), {} EndpointSlices, {} endpoints ({} API objects) after {:.1} s",
        specs.len(),
        n_headless,
        n_slices,
        n_endpoints,
        n_objects,
        t.elapsed().as_secs_f64()
    );
    rows.add("services", specs.len() as f64, "count");
    rows.add("headless_services", n_headless as f64, "count");
    rows.add("endpoints", n_endpoints as f64, "count");
    rows.add("endpointslices", n_slices as f64, "count");

    // 3. kubedns against the full cluster: time to ready, memory.
    let start = Instant::now();
    let mut k = spawn_kubedns(
        &kubedns_bin,
        &emu.url(),
        args.server_cpu,
        &work,
        "kubedns-scale",
    )?;
    let ready = wait_ready(&mut k, start, timeout).await?;
    let hwm_ready = status_kib(k.pid, "VmHWM")?;
    rows.add("ready_s", ready.as_secs_f64(), "s");
    // Sanity: the last ClusterIP Service and a big headless one answer.
    let client = DnsClient::new(k.dns);
    let (last_ip, last_svc) = specs
        .iter()
        .enumerate()
        .rev()
        .find(|(_, s)| !s.headless)
        .map(|(i, s)| (cluster_ip(i), s))
        .context("no ClusterIP Service")?;
    let fq = format!("{}.{}.svc.cluster.local", last_svc.name, last_svc.ns);
    let m = client.udp(&fq, RecordType::A).await?;
    let got: Vec<String> = answer_ips(&m).iter().map(ToString::to_string).collect();
    if got != [last_ip.clone()] {
        bail!("kubedns answered {got:?} for {fq}, expected [{last_ip}]");
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_ready = status_kib(k.pid, "VmRSS")?;
    rows.add("rss_ready_mib", mib(rss_ready), "MiB");
    rows.add(
        "peak_rss_at_ready_mib",
        mib(hwm_ready.max(status_kib(k.pid, "VmHWM")?)),
        "MiB",
    );
    let delta = rss_ready.saturating_sub(rss_empty) as f64 * 1024.0;
    rows.add(
        "bytes_per_object",
        delta / (specs.len() + n_endpoints) as f64,
        "B",
    );
    rows.add(
        "bytes_per_api_object",
        delta / (specs.len() + n_slices) as f64,
        "B",
    );

    // 4. Query file: every ClusterIP Service and the small headless ones.
    let qfile = work.join("scale-queries.txt");
    let mut q = String::new();
    for s in specs
        .iter()
        .filter(|s| !s.headless || s.endpoints <= UPDATE_POOL_MAX_ENDPOINTS)
    {
        let _ = writeln!(q, "{}.{}.svc.cluster.local A", s.name, s.ns);
    }
    std::fs::write(&qfile, q)?;

    // 5. Load without updates.
    let c0 = cpu_ticks(k.pid)?;
    let (done, _) = run_dnsperf(&args, k.dns, &qfile, &work, "dnsperf-scale-idle").await?;
    let c1 = cpu_ticks(k.pid)?;
    let cpu_idle = (c1 - c0) as f64 / tck * 1e6 / done.max(1) as f64;
    rows.add(
        "qps_no_updates",
        done as f64 / args.phase_secs as f64,
        "qps",
    );
    rows.add("cpu_us_per_query_no_updates", cpu_idle, "us");

    // 6. Load while updates flow + programming latency.
    let mut pool: VecDeque<PoolEntry> = {
        let mut k = 0usize;
        let mut v = VecDeque::new();
        for (i, s) in specs.iter().enumerate() {
            if s.headless && s.endpoints <= UPDATE_POOL_MAX_ENDPOINTS {
                v.push_back(PoolEntry {
                    spec_index: i,
                    fqdn: format!("{}.{}.svc.cluster.local", s.name, s.ns),
                    ips: (k..k + s.endpoints).map(endpoint_ip).collect(),
                });
            }
            k += s.endpoints;
        }
        v
    };
    if pool.len() < args.update_rate as usize {
        bail!(
            "only {} small headless Services for {} updates/s",
            pool.len(),
            args.update_rate
        );
    }
    let c0 = cpu_ticks(k.pid)?;
    let dnsperf = run_dnsperf(&args, k.dns, &qfile, &work, "dnsperf-scale-updates");
    let updates = update_stream(&emu, &specs, &mut pool, k.dns, &args);
    let ((done, _), upd) = tokio::try_join!(dnsperf, updates)?;
    let c1 = cpu_ticks(k.pid)?;
    let cpu_s = (c1 - c0) as f64 / tck;
    let answered = done + upd.poll_queries;
    let cpu_upd = cpu_s * 1e6 / answered.max(1) as f64;
    let mut lat = upd.latencies_ms.clone();
    lat.sort_by(f64::total_cmp);
    rows.add("updates_sent", upd.sent as f64, "count");
    rows.add(
        "update_rate",
        upd.sent as f64 / upd.elapsed.as_secs_f64(),
        "/s",
    );
    rows.add("updates_not_visible_5s", upd.timed_out as f64, "count");
    rows.add("prog_latency_p50_ms", percentile(&lat, 50.0), "ms");
    rows.add("prog_latency_p90_ms", percentile(&lat, 90.0), "ms");
    rows.add("prog_latency_p99_ms", percentile(&lat, 99.0), "ms");
    rows.add(
        "prog_latency_max_ms",
        lat.last().copied().unwrap_or(f64::NAN),
        "ms",
    );
    rows.add(
        "qps_with_updates",
        answered as f64 / args.phase_secs as f64,
        "qps",
    );
    rows.add("cpu_us_per_query_with_updates", cpu_upd, "us");

    // 7. Updates alone (no query load), so their own cost is not lost in the noise of the
    // query load: kubedns CPU net of the few latency polls, per update.
    let c0 = cpu_ticks(k.pid)?;
    let alone = update_stream(&emu, &specs, &mut pool, k.dns, &args).await?;
    let c1 = cpu_ticks(k.pid)?;
    let cpu_alone_us = (c1 - c0) as f64 / tck * 1e6;
    let polls_us = cpu_idle * alone.poll_queries as f64;
    rows.add(
        "cpu_us_per_update",
        (cpu_alone_us - polls_us).max(0.0) / alone.sent.max(1) as f64,
        "us",
    );
    rows.add("peak_rss_mib", mib(status_kib(k.pid, "VmHWM")?), "MiB");
    if let Some(st) = k.proc.try_exit_status() {
        bail!(
            "kubedns exited during the run ({st}):\n{}",
            k.proc.describe()
        );
    }
    k.proc.stop(STOP_GRACE);
    if let Some(csv) = &args.csv {
        rows.write_csv(csv)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_sum_to_the_target() {
        let s = endpoint_sizes(10_000, 100_000);
        assert_eq!(s.iter().sum::<usize>(), 100_000);
        assert_eq!(s.iter().filter(|&&n| n == 1000).count(), 10);
        assert!(s.iter().all(|&n| (1..=1000).contains(&n)));
        let small = endpoint_sizes(100, 50);
        assert!(small.iter().all(|&n| n >= 1));
    }

    #[test]
    fn percentiles_use_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), 50.0);
        assert_eq!(percentile(&v, 99.0), 99.0);
        assert_eq!(percentile(&v, 100.0), 100.0);
        assert!(percentile(&[], 50.0).is_nan());
    }
}
