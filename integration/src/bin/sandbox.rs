//! `sandbox`: the whole kube-dns pod on loopback with one command.
//!
//! `cargo run -p integration --bin sandbox` starts the API emulator seeded with
//! `manifests/examples/` (or a built-in demo) — or, with `--real-control-plane`, etcd,
//! kube-apiserver and kube-controller-manager built by `integration/k8s/build.sh`, loaded with
//! the same files — then `kubedns`, `dnsmasq-rs` and `healthz` with
//! the legacy manifest's arguments (ports remapped only where binding is impossible, e.g. DNS
//! on 1053 instead of 53 without root), prints how to query it, and stops every child on
//! Ctrl-C / SIGTERM. Missing binaries are built first with `cargo build --workspace --bins`.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Parser;
use hickory_proto::rr::RecordType;
use integration::controlplane::bins::kubectl_path;
use integration::controlplane::{
    ControlPlane, ControlPlaneOptions, ENDPOINT_CONTROLLERS, Identity,
};
use integration::harness::bins::{WORKSPACE_BINARIES, binary_path, missing_binaries};
use integration::harness::dns::{DnsClient, answer_strings};
use integration::harness::process::{ChildProcess, ProcessSpec};
use integration::harness::stack::{dnsmasq_args, healthz_args, kubedns_args};
use integration::harness::{ports, signals, wait};
use kube_emulator::{Emulator, EmulatorConfig};

/// Grace period between SIGTERM and SIGKILL when stopping children.
const STOP_GRACE: Duration = Duration::from_secs(3);
/// Readiness timeout per component.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How often the supervisor checks that children are alive.
const SUPERVISE_EVERY: Duration = Duration::from_millis(500);

/// Service range of the demo cluster's ClusterIPs, added to a real control plane as a
/// ServiceCIDR (its primary range is `integration::controlplane::SERVICE_CIDR`).
const DEMO_SERVICE_CIDR: &str = "10.96.0.0/16";

/// Demo cluster used when `manifests/examples/` is absent.
const BUILTIN_DEMO: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: demo}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: demo}
spec:
  clusterIP: 10.0.0.100
  ports: [{name: http, port: 80, protocol: TCP}]
---
apiVersion: v1
kind: Endpoints
metadata: {name: web, namespace: demo}
subsets:
- addresses: [{ip: 10.244.1.5}, {ip: 10.244.2.7}]
  ports: [{name: http, port: 8080, protocol: TCP}]
---
apiVersion: v1
kind: Service
metadata: {name: db, namespace: demo}
spec:
  clusterIP: None
  ports: [{name: postgres, port: 5432, protocol: TCP}]
---
apiVersion: v1
kind: Endpoints
metadata: {name: db, namespace: demo}
subsets:
- addresses: [{ip: 10.244.1.20, hostname: db-0}, {ip: 10.244.2.21, hostname: db-1}]
  ports: [{name: postgres, port: 5432, protocol: TCP}]
---
apiVersion: v1
kind: Service
metadata: {name: search, namespace: demo}
spec: {type: ExternalName, externalName: www.example.com}
"#;

/// Run kube-dns-rs (kubedns + dnsmasq-rs + healthz) against an emulated cluster on loopback.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Start everything, print the summary, run one query, then stop (for tests and CI).
    #[arg(long)]
    exit_after_ready: bool,
    /// Never run `cargo build`; fail if a binary is missing.
    #[arg(long)]
    no_build: bool,
    /// Use free ephemeral ports everywhere instead of the legacy ports.
    #[arg(long)]
    ephemeral_ports: bool,
    /// YAML file or directory seeding the cluster (default: manifests/examples/).
    #[arg(long)]
    manifests: Option<PathBuf>,
    /// Cluster domain.
    #[arg(long, default_value = "cluster.local.")]
    domain: String,
    /// API emulator port (legacy insecure apiserver port).
    #[arg(long, default_value_t = 8080)]
    api_port: u16,
    /// Port for dnsmasq-rs (the pod's DNS port); 53 needs root, 1053 is used otherwise.
    #[arg(long)]
    dns_port: Option<u16>,
    /// Directory for the children's logs (default: a temporary directory removed at exit).
    #[arg(long)]
    log_dir: Option<PathBuf>,
    /// Run on the real control plane (etcd, kube-apiserver, kube-controller-manager built by
    /// `integration/k8s/build.sh`) instead of the emulator; `--api-port` is then unused.
    #[arg(long)]
    real_control_plane: bool,
}

/// The API the sandbox runs against.
enum Api {
    Emulator(Emulator),
    Real(Box<ControlPlane>),
}

impl Api {
    /// kubedns's API flags.
    fn kubedns_flags(&self) -> Vec<String> {
        match self {
            Api::Emulator(e) => vec![format!("--kube-master-url={}", e.url())],
            Api::Real(cp) => vec![format!(
                "--kubecfg-file={}",
                cp.kubeconfig(Identity::Admin).display()
            )],
        }
    }

    /// The kubectl command line a user types against it.
    fn kubectl(&self) -> String {
        let kubectl = kubectl_path();
        let bin = if kubectl.is_file() {
            kubectl.display().to_string()
        } else {
            "kubectl".into()
        };
        match self {
            Api::Emulator(e) => format!("{bin} --server {}", e.url()),
            Api::Real(cp) => format!(
                "{bin} --kubeconfig {}",
                cp.kubeconfig(Identity::Admin).display()
            ),
        }
    }

    fn describe(&self) -> String {
        match self {
            Api::Emulator(e) => format!("API emulator   {}", e.url()),
            Api::Real(cp) => format!("kube-apiserver {} ({})", cp.url(), cp.versions()),
        }
    }
}

fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// Builds the workspace binaries into the target directory this executable lives in.
fn build_binaries() -> anyhow::Result<()> {
    let exe = std::env::current_exe().context("locating the sandbox executable")?;
    let profile_dir = exe.parent().context("executable has no directory")?;
    let target_dir = profile_dir
        .parent()
        .context("executable is not inside a target directory")?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "--workspace", "--bins"])
        .current_dir(workspace_root())
        .env("CARGO_TARGET_DIR", target_dir);
    if profile_dir.file_name().is_some_and(|n| n == "release") {
        cmd.arg("--release");
    }
    eprintln!(
        "==> building the workspace binaries (cargo build --workspace --bins); this takes a few minutes the first time"
    );
    let status = cmd.status().context("running cargo")?;
    if !status.success() {
        bail!("cargo build --workspace --bins failed ({status})");
    }
    Ok(())
}

fn free_tcp(port: u16) -> bool {
    TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok()
}

/// `wanted` if it can be bound (both protocols for DNS), else the fallbacks in order, else
/// an ephemeral port; prints a note when remapping.
fn pick_port(
    what: &str,
    wanted: u16,
    fallbacks: &[u16],
    dns: bool,
    ephemeral: bool,
) -> anyhow::Result<u16> {
    let ok = |p: u16| {
        if dns {
            ports::dns_port_free(SocketAddr::from((Ipv4Addr::LOCALHOST, p)))
        } else {
            free_tcp(p)
        }
    };
    if !ephemeral {
        for p in std::iter::once(wanted).chain(fallbacks.iter().copied()) {
            if ok(p) {
                if p != wanted {
                    eprintln!(
                        "    note: {what} port {wanted} is not available here (needs root or is in use); using {p}"
                    );
                }
                return Ok(p);
            }
        }
    }
    let p = if dns {
        ports::free_dns_port()?
    } else {
        ports::free_tcp_port()?
    };
    if !ephemeral {
        eprintln!("    note: {what} port {wanted} is not available; using {p}");
    }
    Ok(p)
}

struct Children {
    list: Vec<ChildProcess>,
}

impl Children {
    fn stop_all(&mut self) {
        for c in self.list.iter_mut().rev() {
            eprintln!("    stopping {}", c.name());
            c.stop(STOP_GRACE);
        }
        self.list.clear();
    }

    /// The first child that exited, with its description.
    fn exited(&mut self) -> Option<String> {
        self.list
            .iter_mut()
            .find_map(|c| c.try_exit_status().is_some().then(|| c.describe()))
    }
}

async fn start_child(
    children: &mut Children,
    step: &str,
    spec: ProcessSpec,
    log_dir: &Path,
    ready: impl std::future::Future<Output = Result<(), wait::WaitError>>,
) -> anyhow::Result<()> {
    eprintln!("{step} starting {}", spec.command_line());
    let mut child = ChildProcess::spawn(spec, log_dir)?;
    let progress = tokio::spawn(async {
        let mut waited = 0u64;
        loop {
            tokio::time::sleep(Duration::from_secs(2)).await;
            waited += 2;
            eprintln!("    ... still waiting for readiness ({waited}s)");
        }
    });
    let r = ready.await;
    progress.abort();
    if let Err(e) = r {
        let d = child.describe();
        children.list.push(child);
        bail!("{e}\n{d}");
    }
    eprintln!("    ready");
    children.list.push(child);
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    serverkit::logging::init("warn", None);
    let args = Args::parse();
    let mut children = Children { list: Vec::new() };
    let result = run(&args, &mut children).await;
    children.stop_all();
    result
}

async fn run(args: &Args, children: &mut Children) -> anyhow::Result<()> {
    // 0. Binaries.
    let missing = missing_binaries();
    if !missing.is_empty() {
        if args.no_build {
            bail!("missing binaries {missing:?}; run `cargo build --workspace --bins` first");
        }
        eprintln!("==> binaries not built yet: {missing:?}");
        build_binaries()?;
    }
    let bins: Vec<PathBuf> = WORKSPACE_BINARIES
        .iter()
        .map(|b| binary_path(b))
        .collect::<Result<_, _>>()?;
    let (kubedns_bin, dnsmasq_bin, healthz_bin) = (&bins[0], &bins[1], &bins[2]);

    // 1. Ports (legacy values, remapped only when they cannot be bound).
    let eph = args.ephemeral_ports;
    let domain = if args.domain.ends_with('.') {
        args.domain.clone()
    } else {
        format!("{}.", args.domain)
    };
    let dns_wanted = args.dns_port.unwrap_or(53);
    let dns_port = pick_port("dnsmasq DNS", dns_wanted, &[1053, 5353], true, eph)?;
    let kubedns_port = pick_port("kubedns DNS", 10053, &[], true, eph)?;
    let readiness_port = pick_port("kubedns healthz", 8081, &[], false, eph)?;
    let metrics_port = pick_port("kubedns metrics", 10055, &[], false, eph)?;
    let sidecar_port = pick_port("healthz (sidecar)", 10054, &[], false, eph)?;
    let api_port = pick_port("API emulator", args.api_port, &[], false, eph)?;

    // 2. The API: emulator or real control plane, seeded with the same files.
    let manifests = match &args.manifests {
        Some(p) => Some(p.clone()),
        None => Some(workspace_root().join("manifests/examples")).filter(|p| p.is_dir()),
    };
    let seed = manifests
        .as_ref()
        .map_or("the built-in demo".to_string(), |p| p.display().to_string());
    let api = if args.real_control_plane {
        eprintln!("[1/4] real control plane (integration/k8s/build.sh), seeded from {seed}");
        let cp = ControlPlane::start(ControlPlaneOptions {
            controllers: Some(ENDPOINT_CONTROLLERS),
            ..ControlPlaneOptions::default()
        })
        .await
        .context("starting the control plane (build it with `bash integration/k8s/build.sh`)")?;
        cp.add_service_cidr("demo-range", DEMO_SERVICE_CIDR).await?;
        match &manifests {
            Some(p) => {
                let files: Vec<PathBuf> = if p.is_dir() {
                    let mut f: Vec<PathBuf> = std::fs::read_dir(p)?
                        .filter_map(|e| e.ok().map(|e| e.path()))
                        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
                        .collect();
                    f.sort();
                    f
                } else {
                    vec![p.clone()]
                };
                for f in files {
                    cp.apply_fixture(&f)?;
                }
            }
            None => {
                cp.kubectl_apply(BUILTIN_DEMO)?;
            }
        }
        Api::Real(Box::new(cp))
    } else {
        eprintln!("[1/4] API emulator on 127.0.0.1:{api_port}, seeded from {seed}");
        let emu = Emulator::start(EmulatorConfig {
            bind: SocketAddr::from((Ipv4Addr::LOCALHOST, api_port)),
            manifests: manifests.into_iter().collect(),
            ..EmulatorConfig::default()
        })
        .await?;
        if args.manifests.is_none() && !workspace_root().join("manifests/examples").is_dir() {
            emu.apply_yaml(BUILTIN_DEMO)?;
        }
        Api::Emulator(emu)
    };
    eprintln!("    ready: {}", api.describe());

    // 3. Children.
    let tmp = tempfile::Builder::new()
        .prefix("kube-dns-rs-sandbox-")
        .tempdir()?;
    let log_dir = args
        .log_dir
        .clone()
        .unwrap_or_else(|| tmp.path().join("logs"));
    std::fs::create_dir_all(&log_dir)?;
    let kubedns_cfg = tmp.path().join("kube-dns-config");
    let nanny_cfg = tmp.path().join("dnsmasq-nanny");
    std::fs::create_dir_all(&kubedns_cfg)?;
    std::fs::create_dir_all(&nanny_cfg)?;
    let log_env = std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into());

    let mut kargs = kubedns_args(&domain, kubedns_port, readiness_port, "");
    kargs.retain(|a| !a.starts_with("--kube-master-url="));
    kargs.extend(api.kubedns_flags());
    kargs.push(format!("--config-dir={}", kubedns_cfg.display()));
    let spec = ProcessSpec::new("kubedns", kubedns_bin)
        .args(kargs)
        .env("PROMETHEUS_PORT", metrics_port.to_string())
        .env("RUST_LOG", &log_env);
    let ready = wait::http_ok(
        SocketAddr::from((Ipv4Addr::LOCALHOST, readiness_port)),
        "/readiness",
        READY_TIMEOUT,
    );
    start_child(children, "[2/4]", spec, &log_dir, async {
        ready.await.map(|_| ())
    })
    .await?;

    let spec = ProcessSpec::new("dnsmasq-rs", dnsmasq_bin)
        .args(dnsmasq_args(&domain, &nanny_cfg, dns_port, kubedns_port))
        .env("RUST_LOG", &log_env);
    let probe_name = format!("kubernetes.default.svc.{domain}");
    let ready = wait::dns_responds(
        SocketAddr::from((Ipv4Addr::LOCALHOST, dns_port)),
        &probe_name,
        RecordType::A,
        READY_TIMEOUT,
    );
    start_child(children, "[3/4]", spec, &log_dir, ready).await?;

    let spec = ProcessSpec::new("healthz", healthz_bin)
        .args(healthz_args(
            &domain,
            kubedns_port,
            dns_port,
            sidecar_port,
            5,
        ))
        .env("RUST_LOG", &log_env);
    let ready = wait::http_ok(
        SocketAddr::from((Ipv4Addr::LOCALHOST, sidecar_port)),
        "/metrics",
        READY_TIMEOUT,
    );
    start_child(children, "[4/4]", spec, &log_dir, async {
        ready.await.map(|_| ())
    })
    .await?;

    let d = domain.trim_end_matches('.');
    println!();
    println!("kube-dns-rs sandbox is up (logs: {})", log_dir.display());
    println!("  {}", api.describe());
    println!("  dnsmasq-rs     127.0.0.1:{dns_port}   (pod DNS port)");
    println!(
        "  kubedns        127.0.0.1:{kubedns_port}  readiness http://127.0.0.1:{readiness_port}/readiness  metrics http://127.0.0.1:{metrics_port}/metrics"
    );
    println!("  healthz        http://127.0.0.1:{sidecar_port}/metrics");
    println!(
        "  config dirs    kubedns {}  dnsmasq-nanny {}",
        kubedns_cfg.display(),
        nanny_cfg.display()
    );
    println!();
    println!("Try:");
    println!("  dig @127.0.0.1 -p {dns_port} kubernetes.default.svc.{d}");
    println!("  dig @127.0.0.1 -p {dns_port} web.demo.svc.{d}");
    println!("  dig @127.0.0.1 -p {dns_port} _http._tcp.web.demo.svc.{d} SRV");
    println!("  curl http://127.0.0.1:{sidecar_port}/healthcheck/kubedns");
    let kubectl = api.kubectl();
    println!("  {kubectl} get svc -A");
    // kubectl's imperative generators send protobuf; both APIs read it.
    println!("  {kubectl} create service clusterip hello --tcp=80");
    println!("  dig @127.0.0.1 -p {dns_port} hello.default.svc.{d}");
    println!("  {kubectl} delete service hello");
    println!();

    let client = DnsClient::new(SocketAddr::from((Ipv4Addr::LOCALHOST, dns_port)));
    let m = client.udp(&probe_name, RecordType::A).await?;
    println!(
        "self-check: {probe_name} A -> {} {:?}",
        m.metadata.response_code,
        answer_strings(&m)
    );

    if args.exit_after_ready {
        println!("--exit-after-ready: stopping");
        return Ok(());
    }
    println!("Press Ctrl-C to stop.");
    let shutdown = signals::wait_for_shutdown();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => {
                eprintln!("==> stopping");
                return Ok(());
            }
            _ = tokio::time::sleep(SUPERVISE_EVERY) => {
                if let Some(d) = children.exited() {
                    bail!("a child exited unexpectedly:\n{d}");
                }
            }
        }
    }
}
