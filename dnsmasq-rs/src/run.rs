//! Serving: binding the listening sockets ([`bind_sockets`], policy in [`serverkit::net`]),
//! [`start`] (everything `main` does once the configuration is known) and [`run`], which
//! serves pre-bound sockets until cancelled and then drains. Graceful shutdown follows
//! [`serverkit::lifecycle`] (house style A6.9, threat B4 row 27):
//!
//! 1. SIGTERM or SIGINT: keep answering for the lame-duck period (`--lame-duck`), because
//!    kube-proxy and clients keep sending to the pod until its endpoint removal propagates
//!    (a second signal ends the period early);
//! 2. cancel the serving token: UDP workers and TCP accept loops stop;
//! 3. [`run`] drains in-flight upstream resolutions and open TCP connections within
//!    `--drain-timeout`;
//! 4. `main` exits 0.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
pub use serverkit::lifecycle::Drain;
use serverkit::lifecycle::{self, Shutdown};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Config;
use crate::engine::Engine;
use crate::flags::Invocation;
use crate::nanny::SystemResolver;
use crate::observe::{serve_metrics, stats_logger};
use crate::reload::{Reloader, parse_kubedns_server, reload_loop};
use crate::server::{self, TcpLimits};
use crate::upstream::RealTransport;

/// kubedns address when `-kubednsServer` is not given (the nanny's default).
pub const DEFAULT_KUBEDNS_SERVER: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 10053);

/// Pre-bound sockets for [`run`].
pub struct Sockets {
    /// UDP sockets (any blocking mode; each gets one loop thread of
    /// [`serverkit::serve::udp`]).
    pub udp: Vec<std::net::UdpSocket>,
    pub tcp: Vec<TcpListener>,
    pub metrics: Option<TcpListener>,
}

/// Serves until `cancel` fires, then stops accepting (UDP workers, TCP accept loops, the
/// metrics endpoint, the reload loop) and waits at most `drain_timeout` for in-flight
/// upstream resolutions and open TCP connections to finish.
pub async fn run(
    engine: Arc<Engine>,
    sockets: Sockets,
    reloader: Option<Reloader>,
    log_interval: Duration,
    drain_timeout: Duration,
    cancel: CancellationToken,
) -> Drain {
    let tracker = TaskTracker::new();
    let mut tasks = tokio::task::JoinSet::new();
    let limits = TcpLimits {
        max_connections: engine.config().tcp_max_connections,
        ..TcpLimits::default()
    };
    let udp = server::udp_config(drain_timeout);
    if let Err(e) =
        serverkit::serve::udp::spawn_udp(Arc::clone(&engine), sockets.udp, udp, &tracker, &cancel)
    {
        tracing::error!(error = %e, "cannot serve UDP; stopping");
        cancel.cancel();
    }
    let permits = limits.connection_permits();
    for l in sockets.tcp {
        tasks.spawn(server::serve_tcp(
            Arc::clone(&engine),
            l,
            Arc::clone(&permits),
            limits,
            tracker.clone(),
            cancel.clone(),
        ));
    }
    if let Some(m) = sockets.metrics {
        tasks.spawn(serve_metrics(Arc::clone(&engine), m, cancel.clone()));
    }
    if let Some(r) = reloader {
        tasks.spawn(reload_loop(Arc::clone(&engine), r, cancel.clone()));
    }
    tasks.spawn(stats_logger(
        Arc::clone(&engine),
        log_interval,
        cancel.clone(),
    ));
    if engine.config().loop_detect {
        engine.start_loop_probes();
    }
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            r = tasks.join_next() => if r.is_none() { break },
        }
    }
    cancel.cancel();
    tracing::info!(in_flight = tracker.len(), "stopped accepting queries");
    tracker.close();
    let drained = async {
        while tasks.join_next().await.is_some() {}
        tracker.wait().await;
    };
    let drain = lifecycle::drain(drained, drain_timeout).await;
    if drain == Drain::TimedOut {
        tracing::warn!(in_flight = tracker.len(), "abandoned in-flight work");
    }
    drain
}

/// Binds the DNS sockets (`workers` UDP sockets and one TCP listener per listen address, or
/// on all addresses without `--listen-address`; none with `--port=0`) and the metrics port.
pub async fn bind_sockets(cfg: &Config, workers: usize) -> anyhow::Result<Sockets> {
    let mut sockets = Sockets {
        udp: Vec::new(),
        tcp: Vec::new(),
        metrics: None,
    };
    let mut bound = Vec::new();
    if cfg.port != 0 && cfg.listen_addresses.is_empty() {
        bound.push(
            serverkit::net::bind_dns_wildcard(cfg.port, workers, server::UDP_SO_RCVBUF)
                .with_context(|| format!("cannot bind port {}", cfg.port))?,
        );
    } else if cfg.port != 0 {
        for ip in &cfg.listen_addresses {
            let addr = SocketAddr::new(*ip, cfg.port);
            bound.push(
                serverkit::net::bind_dns(addr, workers, server::UDP_SO_RCVBUF)
                    .with_context(|| format!("cannot bind {addr}"))?,
            );
        }
    }
    for (udp, tcp) in bound {
        tracing::info!(addr = ?tcp.local_addr().ok(), workers, "listening");
        sockets.udp.extend(udp);
        sockets.tcp.push(TcpListener::from_std(tcp)?);
    }
    if let Some(m) = cfg.metrics_address {
        let l = TcpListener::bind(m).await;
        sockets.metrics = Some(l.with_context(|| format!("cannot bind metrics {m}"))?);
    }
    Ok(sockets)
}

/// Everything after flag parsing: signal handlers first (a SIGTERM during startup is not
/// lost), sockets, the engine, the first ConfigMap read (before serving, as the nanny read it
/// before starting dnsmasq), then [`run`] until the lame-duck period after a signal ends.
pub async fn start(
    inv: Invocation,
    cfg: Config,
    warnings: Vec<String>,
    workers: usize,
    default_conf: PathBuf,
) -> anyhow::Result<()> {
    let shutdown = Shutdown::new();
    lifecycle::watch_signals(&shutdown).context("cannot install signal handlers")?;
    if let Some(user) = cfg.user.as_deref().filter(|u| *u != "root") {
        tracing::warn!(%user, "--user accepted; dnsmasq-rs does not change user (run the container as the desired UID)");
    }
    let sockets = bind_sockets(&cfg, workers).await?;
    let transport = Arc::new(RealTransport);
    let engine = Engine::new(cfg, transport.clone());
    let nanny = inv.nanny.as_ref();
    let kubedns_server = nanny
        .and_then(|n| parse_kubedns_server(&n.kubedns_server))
        .unwrap_or(DEFAULT_KUBEDNS_SERVER);
    let resolver = Arc::new(SystemResolver {
        kubedns_server,
        transport,
    });
    let mut reloader = Reloader::new(
        inv.dnsmasq_args.clone(),
        Some(default_conf),
        inv.nanny.clone(),
        resolver,
    );
    reloader.mark_warned(&warnings);
    if let Some(new) = reloader.poll(&engine.config()).await {
        engine.apply_config(new);
    }
    let log_interval = nanny.map_or(Duration::ZERO, |n| n.log_interval);
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
    let reloader = Some(reloader);
    run(
        engine,
        sockets,
        reloader,
        log_interval,
        cfg.drain_timeout,
        cancel,
    )
    .await;
    tracing::info!("exiting");
    Ok(())
}
