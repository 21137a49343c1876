//! `kube-apiserver-emulator`: runs the in-memory Kubernetes API emulator as a process.
//! Prints `listening on http://…` once ready; stops on Ctrl-C / SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use kube_emulator::{Emulator, EmulatorConfig, StoreConfig, authn, tls};

/// Kubernetes API server emulator for kube-dns-rs tests and the sandbox.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Address to listen on (port 0 = pick a free port).
    #[arg(long, default_value = "127.0.0.1:8080")]
    bind: SocketAddr,
    /// YAML file or directory to load at start (repeatable).
    #[arg(long = "manifests", short = 'f')]
    manifests: Vec<PathBuf>,
    /// Events kept for watches; older resourceVersions get 410 Gone.
    #[arg(long, default_value_t = kube_emulator::store::DEFAULT_HISTORY_LIMIT)]
    history_limit: usize,
    /// Seconds between BOOKMARK events on watches that allow them.
    #[arg(long, default_value_t = 10)]
    bookmark_interval_secs: u64,
    /// Require this bearer token on API requests (with --rbac: user `admin` in group
    /// `system:masters`).
    #[arg(long)]
    token: Option<String>,
    /// Enforce authentication (401) and RBAC authorization (403) like kube-apiserver with
    /// `--authorization-mode=RBAC`.
    #[arg(long)]
    rbac: bool,
    /// kube-apiserver static token file (`token,user,uid,"group1,group2"` per line); with
    /// --rbac.
    #[arg(long, alias = "token-auth-file", requires = "rbac")]
    token_file: Option<PathBuf>,
    /// Mint a bearer token for this service account (`<namespace>/<name>`, repeatable) and
    /// print it; with --rbac.
    #[arg(long, requires = "rbac")]
    service_account_token: Vec<String>,
    /// Serve HTTPS with a freshly generated self-signed certificate (needs `openssl`).
    #[arg(long, conflicts_with_all = ["tls_cert_file", "tls_key_file"])]
    tls_self_signed: bool,
    /// Serve HTTPS with this PEM certificate chain (with --tls-key-file).
    #[arg(long, requires = "tls_key_file")]
    tls_cert_file: Option<PathBuf>,
    /// PEM private key for --tls-cert-file.
    #[arg(long, requires = "tls_cert_file")]
    tls_key_file: Option<PathBuf>,
    /// Write `kubeconfig` (and `ca.crt` with HTTPS) into this directory once listening.
    #[arg(long)]
    kubeconfig_dir: Option<PathBuf>,
    /// Do not mirror Endpoints into EndpointSlices.
    #[arg(long)]
    no_mirror: bool,
    /// Build Endpoints (and EndpointSlices) for selector Services from matching Pods.
    #[arg(long)]
    endpoints_controller: bool,
    /// Do not seed namespaces and the default/kubernetes Service.
    #[arg(long)]
    no_seed: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    serverkit::logging::init("info", None);
    let args = Args::parse();
    let tls = match (&args.tls_cert_file, &args.tls_key_file) {
        (Some(c), Some(k)) => Some(tls::load(c, k)?),
        _ if args.tls_self_signed => Some(tls::generate_self_signed()?),
        _ => None,
    };
    let tokens = match &args.token_file {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("reading token file {}", p.display()))?;
            authn::parse_token_file(&text)
                .with_context(|| format!("parsing token file {}", p.display()))?
        }
        None => Vec::new(),
    };
    let mut service_accounts = Vec::new();
    for sa in &args.service_account_token {
        match sa.split_once('/') {
            Some((ns, name)) if !ns.is_empty() && !name.is_empty() => {
                service_accounts.push((ns.to_string(), name.to_string()))
            }
            _ => anyhow::bail!("--service-account-token {sa:?}: expected <namespace>/<name>"),
        }
    }
    let cfg = EmulatorConfig {
        rbac: args.rbac,
        tokens,
        tls,
        bind: args.bind,
        store: StoreConfig {
            history_limit: args.history_limit.max(1),
            mirror_endpoint_slices: !args.no_mirror,
            endpoints_controller: args.endpoints_controller,
        },
        bookmark_interval: Duration::from_secs(args.bookmark_interval_secs.max(1)),
        token: args.token,
        seed_defaults: !args.no_seed,
        manifests: args.manifests,
        ..EmulatorConfig::default()
    };
    let emu = Emulator::start(cfg).await?;
    if let Some(dir) = &args.kubeconfig_dir {
        std::fs::create_dir_all(dir)?;
        let path = emu.write_kubeconfig(dir)?;
        println!("kubeconfig written to {}", path.display());
    }
    for (ns, name) in &service_accounts {
        println!(
            "service account token for {ns}/{name}: {}",
            emu.service_account_token(ns, name)
        );
    }
    // Handlers go in before the ready line, so a signal sent right after it is seen.
    let shutdown = serverkit::lifecycle::Shutdown::new();
    serverkit::lifecycle::watch_signals(&shutdown).context("installing signal handlers")?;
    println!("listening on {}", emu.url());
    shutdown.requested().await;
    drop(emu);
    Ok(())
}
