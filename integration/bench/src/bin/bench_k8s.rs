//! `bench_k8s`: the Kubernetes side of the benchmark suite against the real control plane
//! (kube-apiserver + etcd of `integration/k8s/build.sh`). See `integration/bench/README.md`.
//!
//! * `up --objects FILE --env-file F` — starts the control plane, creates FILE's objects
//!   ([`bench::loader`]), pins etcd, kube-apiserver and itself to `--client-cpu`, writes
//!   `KUBECONFIG=…` and load figures to F, and holds everything until SIGTERM/SIGINT (used by
//!   `run.sh auth-k8s`; everything is stopped on exit, also on panic).
//! * `scale` — scenario `scale-k8s` ([`bench::k8s_scale`]).
//!   Default log filter: warnings, without kube-rs's per-request errors while the
//!   apiserver starts (`RUST_LOG` overrides).
//! * `corefile` — prints the migration Corefile rendered for a port and cache variant.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use bench::k8s_scale::{self, ScaleArgs};
use bench::loader;
use bench::servers::{self, Binaries, CoreCache, Kind};
use clap::{Parser, Subcommand};
use integration::controlplane::{ControlPlane, ControlPlaneOptions, Identity};
use tokio::time::Instant;

#[derive(Parser, Debug)]
#[command(about = "Kubernetes-side benchmarks against the real control plane")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(clap::Args, Debug)]
struct BinArgs {
    /// Release kubedns.
    #[arg(long, default_value = "target/release/kubedns")]
    kubedns: PathBuf,
    /// CoreDNS (integration/peers/build.sh).
    #[arg(long, default_value = "target/peers/current/bin/coredns")]
    coredns: PathBuf,
    /// Legacy kube-dns (integration/peers/build.sh).
    #[arg(long, default_value = "target/peers/current/bin/kube-dns")]
    kube_dns: PathBuf,
    /// The migration Corefile template.
    #[arg(long, default_value = "integration/peers/Corefile.kube-dns-migration")]
    corefile: PathBuf,
}

impl BinArgs {
    fn binaries(&self) -> anyhow::Result<Binaries> {
        for p in [&self.kubedns, &self.coredns, &self.kube_dns, &self.corefile] {
            if !p.exists() {
                anyhow::bail!(
                    "{} does not exist (build it, or pass its path)",
                    p.display()
                );
            }
        }
        Ok(Binaries {
            kubedns: self.kubedns.clone(),
            coredns: self.coredns.clone(),
            kube_dns: self.kube_dns.clone(),
            corefile: self.corefile.clone(),
        })
    }
}

/// Servers `scale` can measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ServerName {
    Kubedns,
    Coredns,
    KubeDns,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Start and load a control plane, then hold it until SIGTERM.
    Up {
        /// JSON List of the objects to create.
        #[arg(long)]
        objects: PathBuf,
        /// Written once loaded: KUBECONFIG=, API_URL=, LOAD_S=, OBJECTS=, OBJECTS_PER_S=.
        #[arg(long)]
        env_file: PathBuf,
        /// Creates in flight.
        #[arg(long, default_value_t = loader::DEFAULT_CONCURRENCY)]
        concurrency: usize,
        /// CPU for etcd, kube-apiserver and this tool once loaded.
        #[arg(long, default_value_t = 1)]
        client_cpu: u32,
        /// Upper bound on the hold (seconds), so a forgotten instance ends.
        #[arg(long, default_value_t = 3600)]
        max_hold_secs: u64,
    },
    /// Scenario scale-k8s.
    Scale {
        #[arg(long, default_value_t = 10_000)]
        services: usize,
        #[arg(long, default_value_t = 100_000)]
        endpoints: usize,
        #[arg(long, default_value_t = 100)]
        namespaces: usize,
        #[arg(long, default_value_t = loader::DEFAULT_CONCURRENCY)]
        concurrency: usize,
        /// Servers to measure, in order.
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "kubedns,coredns,kube-dns"
        )]
        servers: Vec<ServerName>,
        #[command(flatten)]
        bins: BinArgs,
        #[arg(long, default_value_t = 0)]
        server_cpu: u32,
        #[arg(long, default_value_t = 1)]
        client_cpu: u32,
        /// Endpoint updates per second.
        #[arg(long, default_value_t = 100)]
        rate: u32,
        /// Seconds of updates per server.
        #[arg(long, default_value_t = 20)]
        secs: u32,
        #[arg(long, default_value_t = 180)]
        ready_timeout_secs: u64,
        /// Logs and generated files (default: a temporary directory).
        #[arg(long)]
        work: Option<PathBuf>,
        /// CSV (run.sh's rows) to append to.
        #[arg(long)]
        csv: Option<PathBuf>,
    },
    /// Print the migration Corefile rendered for a port and a cache variant.
    Corefile {
        #[arg(long, default_value = "integration/peers/Corefile.kube-dns-migration")]
        template: PathBuf,
        #[arg(long, value_enum)]
        cache: CoreCache,
        #[arg(long)]
        dns_port: u16,
        #[arg(long)]
        ready_port: u16,
        #[arg(long)]
        health_port: u16,
        #[arg(long)]
        metrics_port: u16,
        #[arg(long)]
        kubeconfig: PathBuf,
        #[arg(long)]
        resolv_conf: PathBuf,
    },
}

async fn up(
    objects: PathBuf,
    env_file: PathBuf,
    concurrency: usize,
    client_cpu: u32,
    max_hold: Duration,
) -> anyhow::Result<()> {
    let objs = loader::read_objects(&objects)?;
    let t = Instant::now();
    let cp = ControlPlane::start(ControlPlaneOptions::default()).await?;
    eprintln!(
        "bench_k8s up: {} ready in {:.1} s",
        cp.versions(),
        t.elapsed().as_secs_f64()
    );
    let client = cp.client(Identity::Admin).await?;
    let stats = loader::create_all(&client, &objs, concurrency).await?;
    let secs = stats.elapsed.as_secs_f64();
    eprintln!(
        "bench_k8s up: created {} objects {:?} in {secs:.1} s ({:.0}/s, {} retries)",
        stats.objects(),
        stats.per_kind,
        stats.objects() as f64 / secs.max(1e-9),
        stats.retries
    );
    let pinned = k8s_scale::pin_control_plane(client_cpu)?;
    let env = format!(
        "KUBECONFIG={}\nAPI_URL={}\nLOAD_S={secs:.3}\nOBJECTS={}\nOBJECTS_PER_S={:.1}\nRETRIES={}\nPINNED={}\n",
        cp.kubeconfig(Identity::Admin).display(),
        cp.url(),
        stats.objects(),
        stats.objects() as f64 / secs.max(1e-9),
        stats.retries,
        pinned
            .iter()
            .map(|(p, c)| format!("{c}:{p}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    // Written under a temporary name and renamed, so a reader never sees half of it.
    let tmp = env_file.with_extension("tmp");
    std::fs::write(&tmp, env)?;
    std::fs::rename(&tmp, &env_file)?;
    tokio::select! {
        () = integration::harness::signals::wait_for_shutdown() => {}
        () = tokio::time::sleep(max_hold) => eprintln!("bench_k8s up: hold limit reached"),
    }
    drop(cp);
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    serverkit::logging::init("warn,kube_client::client::builder=off", None);
    match Cli::parse().cmd {
        Cmd::Up {
            objects,
            env_file,
            concurrency,
            client_cpu,
            max_hold_secs,
        } => {
            up(
                objects,
                env_file,
                concurrency,
                client_cpu,
                Duration::from_secs(max_hold_secs),
            )
            .await
        }
        Cmd::Scale {
            services,
            endpoints,
            namespaces,
            concurrency,
            servers,
            bins,
            server_cpu,
            client_cpu,
            rate,
            secs,
            ready_timeout_secs,
            work,
            csv,
        } => {
            let tmp = tempfile::tempdir()?;
            let work = work.unwrap_or_else(|| tmp.path().to_path_buf());
            let servers = servers
                .into_iter()
                .map(|s| match s {
                    ServerName::Kubedns => Kind::Kubedns(None),
                    ServerName::Coredns => Kind::CoreDns(CoreCache::Migration),
                    ServerName::KubeDns => Kind::LegacyKubeDns,
                })
                .collect();
            k8s_scale::run(ScaleArgs {
                services,
                endpoints,
                namespaces,
                concurrency,
                servers,
                bins: bins.binaries()?,
                server_cpu,
                client_cpu,
                rate,
                secs,
                ready_timeout: Duration::from_secs(ready_timeout_secs),
                work,
                csv,
            })
            .await
        }
        Cmd::Corefile {
            template,
            cache,
            dns_port,
            ready_port,
            health_port,
            metrics_port,
            kubeconfig,
            resolv_conf,
        } => {
            let lo = |p: u16| std::net::SocketAddr::from(([127, 0, 0, 1], p));
            let text = std::fs::read_to_string(&template)
                .with_context(|| format!("reading {}", template.display()))?;
            print!(
                "{}",
                servers::render_corefile(
                    &text,
                    &servers::CorefileParams {
                        cache,
                        dns_port,
                        ready: lo(ready_port),
                        health: lo(health_port),
                        metrics: lo(metrics_port),
                        kubeconfig: &kubeconfig,
                        resolv_conf: &resolv_conf,
                    }
                )?
            );
            Ok(())
        }
    }
}
