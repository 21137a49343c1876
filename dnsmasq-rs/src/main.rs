//! `dnsmasq-rs` binary: parse argv (nanny or dnsmasq dialect), init logging, bind sockets,
//! apply the initial ConfigMap, and serve until SIGTERM/SIGINT; then lame-duck, drain, exit 0.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use dnsmasq_rs::config::LogTarget;
use dnsmasq_rs::engine::Engine;
use dnsmasq_rs::nanny::SystemResolver;
use dnsmasq_rs::run::{self, Reloader, Sockets};
use dnsmasq_rs::upstream::RealTransport;
use dnsmasq_rs::{flags, server};
use serverkit::lifecycle::{self, Shutdown};
use tokio_util::sync::CancellationToken;

const DEFAULT_CONF: &str = "/etc/dnsmasq.conf";
/// After `run` returns, leftover blocking work (a system-resolver lookup) gets this long.
const RUNTIME_SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_millis(500);

fn init_tracing(target: &LogTarget, verbosity: u32) {
    let default = if verbosity >= 4 { "debug" } else { "info" };
    let file = match target {
        LogTarget::File(p) => Some(p.as_path()),
        LogTarget::Stderr | LogTarget::Syslog(_) => None,
    };
    serverkit::logging::init(default, file);
}

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let inv = match flags::split_dialects(&args) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("dnsmasq-rs: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let default_conf = PathBuf::from(DEFAULT_CONF);
    let (cfg, warnings) = match run::build_config(&inv.dnsmasq_args, Some(&default_conf)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("dnsmasq-rs: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let verbosity = inv.nanny.as_ref().map_or(0, |n| n.verbosity);
    init_tracing(&cfg.log_facility, verbosity);
    for w in &warnings {
        tracing::warn!("{w}");
    }
    let workers = cfg
        .workers
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("dnsmasq-rs: cannot start runtime: {e}");
            return std::process::ExitCode::from(1);
        }
    };
    let result = rt.block_on(serve(inv, cfg, warnings, workers, default_conf));
    rt.shutdown_timeout(RUNTIME_SHUTDOWN_GRACE);
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            std::process::ExitCode::from(1)
        }
    }
}

async fn serve(
    inv: flags::Invocation,
    cfg: dnsmasq_rs::Config,
    warnings: Vec<String>,
    workers: usize,
    default_conf: PathBuf,
) -> anyhow::Result<()> {
    // Installed first, so a SIGTERM during startup is not lost (Kubernetes sends SIGTERM).
    let shutdown = Shutdown::new();
    lifecycle::watch_signals(&shutdown).context("cannot install signal handlers")?;
    if let Some(user) = cfg.user.as_deref().filter(|u| *u != "root") {
        tracing::warn!(%user, "--user accepted; dnsmasq-rs does not change user (run the container as the desired UID)");
    }
    let addrs: Vec<IpAddr> = if cfg.listen_addresses.is_empty() {
        vec![Ipv4Addr::UNSPECIFIED.into(), Ipv6Addr::UNSPECIFIED.into()]
    } else {
        cfg.listen_addresses.clone()
    };
    let wildcard = cfg.listen_addresses.is_empty();
    let mut sockets = Sockets {
        udp: Vec::new(),
        tcp: Vec::new(),
        metrics: None,
    };
    if cfg.port != 0 {
        for ip in addrs {
            let addr = SocketAddr::new(ip, cfg.port);
            let bound = server::bind_udp_workers(addr, workers)
                .and_then(|u| Ok((u, server::bind_tcp(addr)?)));
            match bound {
                Ok((udp, tcp)) => {
                    sockets.udp.extend(udp);
                    sockets.tcp.push(tokio::net::TcpListener::from_std(tcp)?);
                    tracing::info!(%addr, workers, "listening");
                }
                Err(e) if wildcard && ip.is_ipv6() => {
                    tracing::warn!(%addr, error = %e, "IPv6 not available")
                }
                Err(e) => return Err(e).with_context(|| format!("cannot bind {addr}")),
            }
        }
    }
    if let Some(m) = cfg.metrics_address {
        sockets.metrics = Some(
            tokio::net::TcpListener::bind(m)
                .await
                .with_context(|| format!("cannot bind metrics {m}"))?,
        );
    }
    let transport = Arc::new(RealTransport);
    let engine = Engine::new(cfg, transport.clone());
    let kubedns = inv
        .nanny
        .as_ref()
        .and_then(|n| run::parse_kubedns_server(&n.kubedns_server))
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 10053)));
    let resolver = Arc::new(SystemResolver {
        kubedns_server: kubedns,
        transport,
    });
    let mut reloader = Reloader::new(
        inv.dnsmasq_args.clone(),
        Some(default_conf),
        inv.nanny.clone(),
        resolver,
    );
    reloader.mark_warned(&warnings);
    // First ConfigMap read before serving, as the nanny did before starting dnsmasq.
    if let Some(new) = reloader.poll(&engine.config()).await {
        engine.apply_config(new);
    }
    let log_interval = inv
        .nanny
        .as_ref()
        .map_or(std::time::Duration::ZERO, |n| n.log_interval);
    let cfg = engine.config();
    let cancel = CancellationToken::new();
    tokio::spawn({
        let (cancel, lame_duck) = (cancel.clone(), cfg.lame_duck);
        async move {
            tokio::select! {
                _ = shutdown.requested() => lifecycle::lame_duck(&shutdown, lame_duck).await,
                // Serving ended on its own (a listener failed): nothing to wait for.
                _ = cancel.cancelled() => {}
            }
            cancel.cancel();
        }
    });
    run::run(
        engine,
        sockets,
        Some(reloader),
        log_interval,
        cfg.drain_timeout,
        cancel,
    )
    .await;
    tracing::info!("exiting");
    Ok(())
}
