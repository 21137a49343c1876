//! `run`: wires the parts of kubedns together on pre-bound sockets (house style A6.1–2).
//!
//! Order, as legacy (§1.5): the API client is configured, then the DNS server starts (cluster
//! queries get SERVFAIL until the sync), then the HTTP listeners (`/readiness` 503 until
//! synced), the config source and the watchers. `--initial-sync-timeout` bounds the wait for
//! the first complete list of Services and endpoints ([`RunError::InitialSyncTimeout`]).
//! A requested `shutdown` runs the graceful sequence of [`crate::lifecycle`].

use std::net::SocketAddr;
use std::time::Duration;

use kube::Client;
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::cli::{ConfigSource, Options};
use crate::config::{self, EffectiveConfig};
use crate::dns::{DnsMetrics, DnsServer, Limits};
use crate::http::{self, Readiness};
use crate::lifecycle::{self, Drain, Shutdown};
use crate::metrics::Metrics;
use crate::source::client::{ClientConfigError, client_config};
use crate::source::{self, Sources, SyncGate, nodes};
use crate::store::{self as records, ConfigHandle, DnsConfig, StoreOptions};

/// Fatal errors of [`run`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// No usable API configuration.
    #[error(transparent)]
    ClientConfig(#[from] ClientConfigError),
    /// The API client could not be built from the configuration.
    #[error("cannot create API client: {0}")]
    Client(#[source] kube::Error),
    /// Services and endpoints were not listed within `--initial-sync-timeout` (legacy: fatal).
    #[error(
        "timeout waiting for initialization: services and endpoints not synced within {0:?} (--initial-sync-timeout)"
    )]
    InitialSyncTimeout(Duration),
    /// The DNS server failed.
    #[error("DNS server failed: {0}")]
    Dns(String),
}

/// Kernel receive buffer requested for each UDP socket (best effort).
const UDP_RECV_BUFFER: usize = 4 << 20;

/// A listener could not be bound.
#[derive(Debug, thiserror::Error)]
#[error("cannot bind {what}: {source}")]
pub struct BindError {
    what: String,
    #[source]
    source: std::io::Error,
}

impl BindError {
    fn new(what: String, source: std::io::Error) -> Self {
        Self { what, source }
    }
}

/// Pre-bound sockets.
#[derive(Debug)]
pub struct Sockets {
    /// UDP DNS sockets (SO_REUSEPORT group).
    pub udp: Vec<UdpSocket>,
    /// TCP DNS listeners.
    pub tcp: Vec<TcpListener>,
    /// `--healthz-port` listener.
    pub healthz: TcpListener,
    /// `$PROMETHEUS_PORT` listener, when set.
    pub metrics: Option<TcpListener>,
}

/// The DNS server limits from the flags over the server's defaults.
pub fn limits(opts: &Options) -> Limits {
    let mut l = Limits::default();
    let o = &opts.limits;
    if let Some(v) = o.max_tcp_connections {
        l.max_tcp_connections = v;
    }
    if let Some(v) = o.tcp_idle_timeout {
        l.tcp_idle_timeout = v;
    }
    if let Some(v) = o.max_queries_per_tcp_connection {
        l.max_queries_per_tcp_connection = v;
    }
    if let Some(v) = o.max_inflight_udp {
        l.max_inflight_udp = v;
    }
    if let Some(v) = o.max_udp_payload {
        l.max_udp_payload = v;
    }
    if let Some(v) = o.reply_cache_entries {
        l.reply_cache_entries = v;
    }
    l.drain_timeout = opts.drain_timeout;
    l
}

fn to_dns_config(c: EffectiveConfig) -> DnsConfig {
    DnsConfig {
        federations: c.federations,
        upstreams: c.upstreams,
        resolv_conf_upstreams: c.resolv_conf_upstreams,
    }
}

/// A config sink that updates the config handle and the "federations configured" signal.
fn config_sink(
    config: ConfigHandle,
    federations_on: watch::Sender<bool>,
) -> impl FnMut(EffectiveConfig) + Send {
    move |c: EffectiveConfig| {
        let on = !c.federations.is_empty();
        federations_on.send_if_modified(|v| {
            let changed = *v != on;
            *v = on;
            changed
        });
        config.set(to_dns_config(c));
    }
}

/// Run kubedns until `shutdown` is requested (then shut down gracefully and return `Ok`),
/// with the API client the flags describe (`--kube-master-url`, `--kubecfg-file`, in-cluster).
pub async fn run(opts: Options, sockets: Sockets, shutdown: Shutdown) -> Result<(), RunError> {
    let client_cfg = client_config(
        opts.kube_master_url.as_deref(),
        opts.kubecfg_file.as_deref(),
    )
    .await?;
    tracing::info!(api = %client_cfg.cluster_url, "API server");
    let client = Client::try_from(client_cfg).map_err(RunError::Client)?;
    run_with_client(opts, sockets, client, shutdown).await
}

/// [`run`] with a given API client (tests pass one over an in-memory service, so the whole
/// start-up can run on paused time).
pub async fn run_with_client(
    opts: Options,
    sockets: Sockets,
    client: Client,
    shutdown: impl Into<Shutdown>,
) -> Result<(), RunError> {
    let shutdown: Shutdown = shutdown.into();
    // The store's handles go to their owners: the writer to the watchers, the config handle
    // to the config updater, the federation handle to the node watch, the sync flag to the
    // sync gate; everything else reads.
    let records::Handles {
        writer,
        reader: store,
        config,
        federation,
        synced,
    } = records::new(&opts.domain, StoreOptions { ttl: opts.dns_ttl });
    let (ns, sub) = opts.prometheus.as_ref().map_or(("skydns", "skydns"), |p| {
        (p.namespace.as_str(), p.subsystem.as_str())
    });
    let mut dns_metrics = None;
    let metrics = Metrics::new(|reg| dns_metrics = Some(DnsMetrics::register_with(reg, ns, sub)));
    let dns_metrics = dns_metrics.unwrap_or_else(DnsMetrics::unregistered);
    let readiness = Readiness::new(store.clone());

    // 1. DNS first: answers (SERVFAIL for the cluster zone) before the sync.
    let serving = CancellationToken::new();
    let server = DnsServer::new(store.clone(), limits(&opts), dns_metrics);
    let mut dns_task = tokio::spawn(server.run(sockets.udp, sockets.tcp, serving.clone()));

    // 2. HTTP.
    let background = CancellationToken::new();
    let mut tasks = JoinSet::new();
    let metrics_route = opts
        .prometheus
        .as_ref()
        .map(|p| (p.path.clone(), metrics.clone()));
    let router = http::router(readiness.clone(), store.clone(), metrics_route);
    tasks.spawn(log_http(http::serve(
        sockets.healthz,
        router.clone(),
        background.clone(),
    )));
    if let Some(l) = sockets.metrics {
        tasks.spawn(log_http(http::serve(l, router, background.clone())));
    }

    // 3. Config source and watchers.
    let (fed_tx, fed_rx) = watch::channel(false);
    let mut sink = config_sink(config, fed_tx);
    match opts.config_source.clone() {
        ConfigSource::None => sink(config::static_config(
            opts.federations.clone(),
            opts.nameservers.clone(),
            &opts.resolv_conf,
        )),
        ConfigSource::Dir { path, period } => {
            if !opts.federations.is_empty() || !opts.nameservers.is_empty() {
                tracing::warn!("--federations/--nameservers ignored: a config source is set");
            }
            tracing::info!(dir = %path.display(), ?period, "config source: directory");
            tasks.spawn(config::run_config_dir(
                path,
                period,
                opts.resolv_conf.clone(),
                sink,
                background.clone(),
            ));
        }
        ConfigSource::ConfigMap { name, namespace } => {
            tracing::info!(%namespace, %name, "config source: ConfigMap via the API");
            tasks.spawn(source::configmap::run_config_map(
                client.clone(),
                namespace,
                name,
                opts.resolv_conf.clone(),
                sink,
                metrics.watch.clone(),
                background.clone(),
            ));
        }
    }
    let gate = SyncGate::new(synced);
    let sources = Sources {
        client: client.clone(),
        writer,
        metrics: metrics.watch.clone(),
        gate: gate.clone(),
    };
    tasks.spawn(sources.clone().run_services(background.clone()));
    tasks.spawn(sources.run_endpoints(opts.endpoint_source, background.clone()));
    tasks.spawn(nodes::run_nodes(
        client,
        federation,
        metrics.watch.clone(),
        fed_rx,
        background.clone(),
    ));

    // 4. Initial sync (bounded like legacy), then serve until shutdown or a DNS failure.
    let deadline = async {
        match opts.initial_sync_timeout {
            Some(t) => tokio::time::sleep(t).await,
            None => std::future::pending().await,
        }
    };
    let mut fatal = None;
    tokio::select! {
        _ = shutdown.requested() => {}
        _ = gate.wait() => {}
        _ = deadline => {
            if !gate.is_synced() {
                fatal = Some(RunError::InitialSyncTimeout(opts.initial_sync_timeout.unwrap_or_default()));
            }
        }
        r = &mut dns_task => fatal = Some(dns_failure(r)),
    }
    if fatal.is_none() {
        tokio::select! {
            _ = shutdown.requested() => {}
            r = &mut dns_task => fatal = Some(dns_failure(r)),
        }
    }
    if let Some(err) = fatal {
        serving.cancel();
        background.cancel();
        tasks.shutdown().await;
        return Err(err);
    }

    // 5. Graceful shutdown.
    let drain = lifecycle::graceful_shutdown(
        &shutdown,
        &readiness,
        opts.lame_duck,
        &serving,
        &mut dns_task,
        opts.drain_timeout,
    )
    .await;
    if drain == Drain::TimedOut {
        dns_task.abort();
    }
    background.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    tasks.abort_all();
    tracing::info!("shutdown complete");
    Ok(())
}

fn dns_failure<E: std::fmt::Display>(r: Result<Result<(), E>, tokio::task::JoinError>) -> RunError {
    match r {
        Ok(Ok(())) => RunError::Dns("DNS server stopped unexpectedly".into()),
        Ok(Err(e)) => RunError::Dns(e.to_string()),
        Err(e) => RunError::Dns(e.to_string()),
    }
}

async fn log_http(f: impl std::future::Future<Output = std::io::Result<()>>) {
    if let Err(err) = f.await {
        tracing::error!(%err, "HTTP listener failed");
    }
}

/// Addresses of the bound sockets, for the start-up log line.
pub fn describe(
    sockets: &Sockets,
) -> (
    Vec<SocketAddr>,
    Vec<SocketAddr>,
    Option<SocketAddr>,
    Option<SocketAddr>,
) {
    let udp = sockets
        .udp
        .iter()
        .filter_map(|s| s.local_addr().ok())
        .collect();
    let tcp = sockets
        .tcp
        .iter()
        .filter_map(|s| s.local_addr().ok())
        .collect();
    (
        udp,
        tcp,
        sockets.healthz.local_addr().ok(),
        sockets.metrics.as_ref().and_then(|l| l.local_addr().ok()),
    )
}

/// Bind every listener the options ask for (called by `main`; tests bind their own):
/// `--udp-sockets` UDP sockets with `SO_REUSEPORT` and one TCP listener on
/// `--dns-bind-address:--dns-port` (port 0: all share the port the first one got), the
/// `--healthz-port` listener and the `$PROMETHEUS_PORT` listener on all addresses.
pub fn bind_sockets(opts: &Options) -> Result<Sockets, BindError> {
    let dns_addr = SocketAddr::new(opts.dns_bind_address, opts.dns_port);
    let n = match opts.udp_sockets {
        0 => std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        n => n,
    };
    let what = |kind: &str| format!("DNS {kind} socket {dns_addr}");
    let (udp, tcp) = serverkit::net::bind_dns(dns_addr, n, UDP_RECV_BUFFER)
        .map_err(|e| BindError::new(what("UDP/TCP"), e))?;
    let udp = udp
        .into_iter()
        .map(UdpSocket::from_std)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| BindError::new(what("UDP"), e))?;
    let tcp = TcpListener::from_std(tcp).map_err(|e| BindError::new(what("TCP"), e))?;
    let healthz = bind_all(opts.healthz_port)
        .map_err(|e| BindError::new(format!("healthz port {}", opts.healthz_port), e))?;
    let metrics = match &opts.prometheus {
        Some(p) => Some(
            bind_all(p.port)
                .map_err(|e| BindError::new(format!("PROMETHEUS_PORT {}", p.port), e))?,
        ),
        None => None,
    };
    Ok(Sockets {
        udp,
        tcp: vec![tcp],
        healthz,
        metrics,
    })
}

/// Bind an HTTP port on all addresses like Go's `:<port>` ([`serverkit::net::bind_tcp_all`]).
fn bind_all(port: u16) -> std::io::Result<TcpListener> {
    TcpListener::from_std(serverkit::net::bind_tcp_all(port)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn port_zero_sockets_share_one_port() {
        let args: Vec<String> = [
            "--dns-port=0",
            "--dns-bind-address=127.0.0.1",
            "--udp-sockets=3",
            "--healthz-port=0",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let opts = crate::cli::parse(&args, &Default::default()).unwrap();
        let sockets = bind_sockets(&opts).unwrap();
        let (udp, tcp, healthz, metrics) = describe(&sockets);
        assert_eq!(udp.len(), 3);
        assert_ne!(udp[0].port(), 0);
        assert!(udp.iter().all(|a| *a == udp[0]), "{udp:?}");
        assert_eq!(tcp, vec![udp[0]]);
        assert!(healthz.is_some_and(|a| a.port() != 0));
        assert!(metrics.is_none());
    }

    #[test]
    fn limits_override_defaults() {
        let args: Vec<String> = [
            "--max-tcp-connections=7",
            "--max-udp-payload=1400",
            "--reply-cache-entries=0",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let l = limits(&crate::cli::parse(&args, &Default::default()).unwrap());
        assert_eq!((l.max_tcp_connections, l.max_udp_payload), (7, 1400));
        assert_eq!(l.reply_cache_entries, 0);
        assert_eq!(
            l.max_queries_per_tcp_connection,
            Limits::default().max_queries_per_tcp_connection
        );
    }
}
