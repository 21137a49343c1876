//! Drop-in under the memory limit (issue 15): the kubedns container of
//! `manifests/kube-dns.yaml` runs with the memory limit its manifest sets, enforced by a cgroup
//! (v2 `memory.max`, or v1 `memory.limit_in_bytes`, whichever the machine has), against a
//! cluster of 10,000 Services and 100,000 endpoints shaped as a real cluster serves them
//! (`harness::realistic`), every LIST answered with the whole collection in one response (as a
//! pre-1.33 watch cache answers `resourceVersion=0`; emulated here by a server that ignores
//! `limit` altogether, so the result does not depend on what kubedns asks for). It must not be OOM-killed, must become ready,
//! answer spot names right, and survive a forced full relist (410 Gone) at that size.
//!
//! Requirements: root and a writable memory cgroup controller. Without them the test prints
//! `SKIPPED:` and passes locally; under CI (`CI` set) it fails instead ([`requirement`]).
//! Loopback only; every child is killed on drop and the child cgroup removed.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use hickory_proto::rr::RecordType;
use integration::harness::DnsClient;
use integration::harness::bins::{binary_path, skip_without_binaries};
use integration::harness::dns::answer_ips;
use integration::harness::objects;
use integration::harness::ports::{free_dns_port, free_tcp_port};
use integration::harness::process::{ChildProcess, ProcessSpec};
use integration::harness::scale::{self, Shape};
use integration::harness::wait::http_get;
use kube_emulator::Emulator;
use serde_json::Value;
use tokio::time::Instant;

/// Cluster size of the test (the 10k/100k).
const SERVICES: usize = 10_000;
const ENDPOINTS: usize = 100_000;
const NAMESPACES: usize = 100;
/// Emulated minor version that ignores `limit` on every list (before APIListChunking).
const UNPAGINATED_ANY_LIST_MINOR: u32 = 8;
/// Time to ready allowed (debug builds decode several times slower than release).
const READY_TIMEOUT: Duration = Duration::from_secs(600);
/// Time allowed for the forced relist.
const RELIST_TIMEOUT: Duration = Duration::from_secs(600);
/// Poll period of the waits.
const POLL: Duration = Duration::from_millis(50);

/// Skip-or-fail for a missing machine requirement through [`serverkit::require`] (one line
/// locally, a failure under CI).
fn requirement<T>(r: Result<T, String>) -> Option<T> {
    match r {
        Ok(v) => Some(v),
        Err(why) => {
            let need = serverkit::require::Need::custom(why, false);
            let _ = serverkit::require::need(&[need]);
            None
        }
    }
}

/// The kubedns container's memory limit in `manifests/kube-dns.yaml`, in bytes.
fn manifest_memory_limit() -> anyhow::Result<u64> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../manifests/kube-dns.yaml");
    let text = std::fs::read_to_string(&path)?;
    let docs: Vec<Value> = serde_saphyr::from_multiple(&text)?;
    let limit = docs
        .iter()
        .filter(|d| d["kind"] == "Deployment")
        .flat_map(|d| {
            d["spec"]["template"]["spec"]["containers"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .find(|c| c["name"] == "kubedns")
        .and_then(|c| {
            c["resources"]["limits"]["memory"]
                .as_str()
                .map(str::to_string)
        })
        .context("no kubedns container memory limit in manifests/kube-dns.yaml")?;
    parse_quantity(&limit).with_context(|| format!("memory limit {limit:?}"))
}

/// A Kubernetes memory quantity (`170Mi`, `1Gi`, `200M`, plain bytes).
fn parse_quantity(q: &str) -> Option<u64> {
    const UNITS: &[(&str, u64)] = &[
        ("Ki", 1 << 10),
        ("Mi", 1 << 20),
        ("Gi", 1 << 30),
        ("k", 1000),
        ("M", 1_000_000),
        ("G", 1_000_000_000),
    ];
    for (suffix, mult) in UNITS {
        if let Some(n) = q.strip_suffix(suffix) {
            return n.parse::<u64>().ok().map(|n| n * mult);
        }
    }
    q.parse().ok()
}

/// Effective uid 0, from `/proc/self/status`.
fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|st| {
        st.lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|ids| ids.split_whitespace().nth(1).map(|e| e == "0"))
            .unwrap_or(false)
    })
}

/// A child memory cgroup with a limit, removed on drop.
struct MemCgroup {
    dir: PathBuf,
    v2: bool,
}

impl MemCgroup {
    /// Creates `<own memory cgroup>/kube-dns-rs-memtest-<pid>` limited to `limit` bytes.
    fn create(limit: u64) -> Result<Self, String> {
        if !is_root() {
            return Err("needs root to create a memory cgroup".into());
        }
        let own = std::fs::read_to_string("/proc/self/cgroup")
            .map_err(|e| format!("reading /proc/self/cgroup: {e}"))?;
        let name = format!("kube-dns-rs-memtest-{}", std::process::id());
        let v2_root = Path::new("/sys/fs/cgroup");
        let v2 = std::fs::read_to_string(v2_root.join("cgroup.controllers"))
            .is_ok_and(|c| c.split_whitespace().any(|x| x == "memory"));
        let (base, file) = if v2 {
            let rel = own
                .lines()
                .find_map(|l| l.strip_prefix("0::"))
                .ok_or("no cgroup v2 entry in /proc/self/cgroup")?;
            (v2_root.join(rel.trim_start_matches('/')), "memory.max")
        } else {
            let rel = own
                .lines()
                .find_map(|l| {
                    let mut f = l.splitn(3, ':');
                    let (_, ctrl, path) = (f.next()?, f.next()?, f.next()?);
                    ctrl.split(',').any(|c| c == "memory").then_some(path)
                })
                .ok_or("no memory controller (cgroup v1 or v2) on this machine")?;
            (
                Path::new("/sys/fs/cgroup/memory").join(rel.trim_start_matches('/')),
                "memory.limit_in_bytes",
            )
        };
        let dir = base.join(name);
        std::fs::create_dir(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        let cg = MemCgroup { dir, v2 };
        cg.write(file, &limit.to_string())?;
        Ok(cg)
    }

    fn write(&self, file: &str, value: &str) -> Result<(), String> {
        let p = self.dir.join(file);
        std::fs::write(&p, value).map_err(|e| format!("writing {}: {e}", p.display()))
    }

    fn read(&self, file: &str) -> String {
        std::fs::read_to_string(self.dir.join(file)).unwrap_or_default()
    }

    /// OOM kills in this cgroup so far.
    fn oom_kills(&self) -> u64 {
        let text = if self.v2 {
            self.read("memory.events")
        } else {
            self.read("memory.oom_control")
        };
        text.lines()
            .find_map(|l| l.strip_prefix("oom_kill "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    }

    /// Peak memory charged to the cgroup (bytes), when the kernel reports it.
    fn peak(&self) -> Option<u64> {
        let f = if self.v2 {
            "memory.peak"
        } else {
            "memory.max_usage_in_bytes"
        };
        self.read(f).trim().parse().ok()
    }

    fn procs(&self) -> PathBuf {
        self.dir.join("cgroup.procs")
    }
}

impl Drop for MemCgroup {
    fn drop(&mut self) {
        // The children are gone by now (killed on drop before this guard); rmdir may still
        // race their exit, so retry briefly.
        for _ in 0..50 {
            if std::fs::remove_dir(&self.dir).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        eprintln!("warning: could not remove {}", self.dir.display());
    }
}

/// Waits until the forced 410 was served (kubedns re-watched), so a probe written next
/// cannot reach kubedns through the watch being cut.
async fn gone_consumed(emu: &Emulator) -> anyhow::Result<()> {
    let t = Instant::now();
    while emu.shared().faults_view().gone_next_watches > 0 {
        if t.elapsed() > RELIST_TIMEOUT {
            bail!("kubedns did not re-watch within {RELIST_TIMEOUT:?}");
        }
        tokio::time::sleep(POLL).await;
    }
    Ok(())
}

/// Polls `name` until `want` is among its addresses; fails if kubedns exits or
/// [`RELIST_TIMEOUT`] passes.
async fn wait_for(
    k: &mut ChildProcess,
    cg: &MemCgroup,
    client: &DnsClient,
    name: &str,
    want: IpAddr,
) -> anyhow::Result<()> {
    let t = Instant::now();
    while !answers(client, name, false).await.contains(&want) {
        if k.try_exit_status().is_some() {
            bail!(
                "kubedns exited during the relist (OOM kills: {}):\n{}",
                cg.oom_kills(),
                k.describe()
            );
        }
        if t.elapsed() > RELIST_TIMEOUT {
            bail!(
                "{name} not answered {RELIST_TIMEOUT:?} after the forced relist:\n{}",
                k.describe()
            );
        }
        tokio::time::sleep(POLL).await;
    }
    Ok(())
}

async fn answers(client: &DnsClient, name: &str, tcp: bool) -> Vec<IpAddr> {
    let r = if tcp {
        client.tcp(name, RecordType::A).await
    } else {
        client.udp(name, RecordType::A).await
    };
    r.map(|m| answer_ips(&m)).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubedns_fits_the_manifest_memory_limit_at_10k_services_100k_endpoints()
-> anyhow::Result<()> {
    if skip_without_binaries() {
        return Ok(());
    }
    let limit = manifest_memory_limit()?;
    let Some(cg) = requirement(MemCgroup::create(limit)) else {
        return Ok(());
    };
    // Every list unpaginated whatever the client asks (a server without list chunking), so
    // the test does not depend on kubedns sending resourceVersion=0.
    let mut cfg = scale::emulator_config();
    cfg.minor = UNPAGINATED_ANY_LIST_MINOR;
    let emu = Emulator::start(cfg).await?;
    let specs = scale::cluster(SERVICES, ENDPOINTS, NAMESPACES);
    let populated = scale::populate(&emu, &specs, NAMESPACES, Shape::Realistic)?;
    eprintln!(
        "cluster: {} Services, {} EndpointSlices, {ENDPOINTS} endpoints; limit {} MiB",
        specs.len(),
        populated.slices,
        limit >> 20
    );

    let logs = tempfile::tempdir()?;
    let dns_port = free_dns_port()?;
    let hz_port = free_tcp_port()?;
    let kubedns = binary_path("kubedns")?;
    // The manifest's arguments (port and config dir adapted), started inside the cgroup: the
    // shell moves itself there, then execs kubedns, so no allocation escapes the limit.
    let script = format!(
        "echo $$ > {procs} && exec {bin} --domain=cluster.local. --dns-port={dns_port} \
         --dns-bind-address=127.0.0.1 --healthz-port={hz_port} --config-dir={cfg} \
         --kube-master-url={url} --v=2",
        procs = cg.procs().display(),
        bin = kubedns.display(),
        cfg = logs.path().join("kube-dns-config").display(),
        url = emu.url(),
    );
    let mut k = ChildProcess::spawn(
        ProcessSpec::new("kubedns-memlimit", "sh").args(["-c", &script]),
        logs.path(),
    )?;
    let dns = SocketAddr::from((Ipv4Addr::LOCALHOST, dns_port));
    let healthz = SocketAddr::from((Ipv4Addr::LOCALHOST, hz_port));

    let start = Instant::now();
    loop {
        if let Ok((200, _)) = http_get(healthz, "/readiness").await {
            break;
        }
        if k.try_exit_status().is_some() {
            bail!(
                "kubedns exited before ready (OOM kills in the cgroup: {}):\n{}",
                cg.oom_kills(),
                k.describe()
            );
        }
        if start.elapsed() > READY_TIMEOUT {
            bail!(
                "kubedns not ready after {READY_TIMEOUT:?}:\n{}",
                k.describe()
            );
        }
        tokio::time::sleep(POLL).await;
    }
    eprintln!("ready after {:.1} s", start.elapsed().as_secs_f64());

    // Spot answers: the last ClusterIP Service, a 1000-endpoint headless one (over TCP), a
    // small headless one.
    let client = DnsClient::new(dns);
    let (i, last) = specs
        .iter()
        .enumerate()
        .rev()
        .find(|(_, s)| !s.headless)
        .context("no ClusterIP Service")?;
    let want: IpAddr = scale::cluster_ip(i).parse()?;
    let got = answers(
        &client,
        &format!("{}.{}.svc.cluster.local", last.name, last.ns),
        false,
    )
    .await;
    assert_eq!(got, vec![want], "ClusterIP answer");
    for s in [
        specs.iter().find(|s| s.headless && s.endpoints == 1000),
        specs.iter().find(|s| s.headless && s.endpoints < 10),
    ]
    .into_iter()
    .flatten()
    {
        let mut got = answers(
            &client,
            &format!("{}.{}.svc.cluster.local", s.name, s.ns),
            true,
        )
        .await;
        got.sort();
        let mut want: Vec<IpAddr> = scale::service_ips(s)
            .iter()
            .map(|ip| ip.parse().expect("ip"))
            .collect();
        want.sort();
        assert_eq!(got, want, "headless answer for {}/{}", s.ns, s.name);
    }

    // Forced full relist at this size, one resource after the other: the next watch of the
    // resource is answered 410 Gone and every watch is cut; a probe written then answers once
    // that resource is relisted.
    let t = Instant::now();
    emu.force_gone(1, Some("services"));
    emu.close_watches();
    gone_consumed(&emu).await?;
    emu.create(objects::service(
        "ns0",
        "relist-probe",
        "10.95.0.1",
        &[("http", 80, "TCP")],
    ))
    .map_err(|e| anyhow::anyhow!("creating the probe: {e}"))?;
    wait_for(
        &mut k,
        &cg,
        &client,
        "relist-probe.ns0.svc.cluster.local",
        "10.95.0.1".parse()?,
    )
    .await?;
    let (i, s) = specs
        .iter()
        .enumerate()
        .find(|(_, s)| s.headless && s.endpoints < 10)
        .context("no small headless Service")?;
    let mut ips = scale::service_ips(s);
    ips[0] = "10.94.0.1".into();
    emu.force_gone(1, Some("endpointslices"));
    emu.close_watches();
    gone_consumed(&emu).await?;
    emu.apply(scale::slice_object(
        &specs,
        i,
        0,
        s.first_endpoint,
        &ips,
        Shape::Realistic,
    ))
    .map_err(|e| anyhow::anyhow!("writing the endpoints probe: {e}"))?;
    wait_for(
        &mut k,
        &cg,
        &client,
        &format!("{}.{}.svc.cluster.local", s.name, s.ns),
        "10.94.0.1".parse()?,
    )
    .await?;
    eprintln!(
        "relist survived in {:.1} s; cgroup peak {:?} MiB of {} MiB",
        t.elapsed().as_secs_f64(),
        cg.peak().map(|p| p >> 20),
        limit >> 20
    );
    assert_eq!(cg.oom_kills(), 0, "OOM kills in the kubedns cgroup");
    assert!(k.try_exit_status().is_none(), "kubedns still running");
    k.stop(Duration::from_secs(3));
    drop(k);
    drop(cg);
    Ok(())
}

#[test]
fn quantities() {
    // (quantity, bytes)
    let cases: &[(&str, Option<u64>)] = &[
        ("170Mi", Some(170 << 20)),
        ("70Mi", Some(70 << 20)),
        ("1Gi", Some(1 << 30)),
        ("200M", Some(200_000_000)),
        ("4096", Some(4096)),
        ("lots", None),
    ];
    for (q, want) in cases {
        assert_eq!(parse_quantity(q), *want, "{q}");
    }
    assert_eq!(manifest_memory_limit().expect("limit"), 170 << 20);
}
