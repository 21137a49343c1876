//! The DNS servers compared against the real control plane, each started from a kubeconfig,
//! pinned to one CPU (`taskset -c`), on free loopback ports, with its own readiness endpoint:
//!
//! | server | readiness | reads |
//! |---|---|---|
//! | kubedns (ours) | healthz `/readiness` | Services, EndpointSlices |
//! | CoreDNS, `kubernetes` plugin | `ready` plugin `/ready` | Services, EndpointSlices |
//! | legacy kube-dns (fallback pin) | `--healthz-port` `/readiness` | Services, v1 Endpoints |
//!
//! CoreDNS runs `integration/peers/Corefile.kube-dns-migration` (kubeadm v1.34's default),
//! in one of three [`CoreCache`] variants so that the cache in play is always stated.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use integration::harness::ports::{free_dns_port, free_tcp_port};
use integration::harness::process::{ChildProcess, ProcessSpec};
use integration::harness::wait::http_get;
use tokio::time::Instant;

/// Poll period of the readiness wait.
pub const READY_POLL: Duration = Duration::from_millis(10);
/// SIGTERM grace when stopping a server (CoreDNS's `health` lameduck is 5 s).
pub const STOP_GRACE: Duration = Duration::from_secs(8);

/// The cache block of the migration Corefile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CoreCache {
    /// As kubeadm ≥ 1.34 writes it: `cache 30` with success and denial caching disabled for
    /// the cluster domain (so cluster answers are not cached; reverse zones are).
    Migration,
    /// A plain `cache 30`, as the kube-dns → CoreDNS migration and older kubeadm wrote it.
    Plain,
    /// No `cache` plugin at all.
    None,
}

impl CoreCache {
    /// Row label of a CoreDNS with this cache.
    pub fn label(self) -> &'static str {
        match self {
            CoreCache::Migration => "CoreDNS (kubeadm 1.34 Corefile: cluster domain not cached)",
            CoreCache::Plain => "CoreDNS (cache 30)",
            CoreCache::None => "CoreDNS (no cache)",
        }
    }
}

/// Which server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// kubedns; `Some(n)` passes `--reply-cache-entries=n` (0 = off).
    Kubedns(Option<u32>),
    /// CoreDNS with the migration Corefile in this cache variant.
    CoreDns(CoreCache),
    /// Legacy kube-dns.
    LegacyKubeDns,
}

impl Kind {
    /// Row label.
    pub fn label(self) -> String {
        match self {
            Kind::Kubedns(None) => "kubedns".into(),
            Kind::Kubedns(Some(0)) => "kubedns (reply cache off)".into(),
            Kind::Kubedns(Some(n)) => format!("kubedns (reply cache {n})"),
            Kind::CoreDns(c) => c.label().into(),
            Kind::LegacyKubeDns => "kube-dns (legacy)".into(),
        }
    }
}

/// Where the binaries are.
#[derive(Debug, Clone)]
pub struct Binaries {
    /// Release kubedns.
    pub kubedns: PathBuf,
    /// CoreDNS of `integration/peers/build.sh`.
    pub coredns: PathBuf,
    /// Legacy kube-dns of `integration/peers/build.sh`.
    pub kube_dns: PathBuf,
    /// `integration/peers/Corefile.kube-dns-migration`.
    pub corefile: PathBuf,
}

/// A running server.
pub struct Running {
    /// The process (killed on drop).
    pub proc: ChildProcess,
    /// Its pid (the `taskset` exec'd into the server).
    pub pid: u32,
    /// DNS address (UDP and TCP).
    pub dns: SocketAddr,
    /// Readiness endpoint.
    pub ready: (SocketAddr, &'static str),
}

impl Running {
    /// Polls the readiness endpoint until 200; returns the time since `start`.
    pub async fn wait_ready(
        &mut self,
        start: Instant,
        timeout: Duration,
    ) -> anyhow::Result<Duration> {
        while start.elapsed() < timeout {
            if let Ok((200, _)) = http_get(self.ready.0, self.ready.1).await {
                return Ok(start.elapsed());
            }
            if let Some(st) = self.proc.try_exit_status() {
                let name = self.proc.name().to_string();
                bail!(
                    "{name} exited before ready ({st}):\n{}",
                    self.proc.describe()
                );
            }
            tokio::time::sleep(READY_POLL).await;
        }
        let name = self.proc.name().to_string();
        bail!(
            "{name} not ready after {timeout:?}:\n{}",
            self.proc.describe()
        )
    }
}

/// What [`render_corefile`] substitutes into the migration Corefile template.
#[derive(Debug, Clone, Copy)]
pub struct CorefileParams<'a> {
    /// Cache variant.
    pub cache: CoreCache,
    /// DNS port (UDP and TCP) on 127.0.0.1.
    pub dns_port: u16,
    /// `ready` plugin address.
    pub ready: SocketAddr,
    /// `health` plugin address.
    pub health: SocketAddr,
    /// `prometheus` plugin address.
    pub metrics: SocketAddr,
    /// Kubeconfig of the `kubernetes` plugin.
    pub kubeconfig: &'a Path,
    /// resolv.conf of the `forward` plugin.
    pub resolv_conf: &'a Path,
}

/// Renders the migration Corefile template with every placeholder substituted.
pub fn render_corefile(template: &str, p: &CorefileParams<'_>) -> anyhow::Result<String> {
    let (cache, dns_port, ready, health, metrics, kubeconfig, resolv_conf) = (
        p.cache,
        p.dns_port,
        p.ready,
        p.health,
        p.metrics,
        p.kubeconfig,
        p.resolv_conf,
    );
    let subst = [
        ("__DNS_PORT__", dns_port.to_string()),
        ("__BIND_ADDR__", "127.0.0.1".to_string()),
        ("__HEALTH_ADDR__", health.to_string()),
        ("__READY_ADDR__", ready.to_string()),
        ("__METRICS_ADDR__", metrics.to_string()),
        ("__CLUSTER_DOMAIN__", "cluster.local".to_string()),
        ("__KUBECONFIG__", kubeconfig.display().to_string()),
        ("__RESOLV_CONF__", resolv_conf.display().to_string()),
    ];
    let mut out = String::new();
    // Inside a `cache { ... }` block that is being dropped.
    let mut skip_block = false;
    for line in template.lines() {
        let t = line.trim();
        if t.starts_with('#') {
            continue;
        }
        if skip_block {
            skip_block = t != "}";
            continue;
        }
        if t.starts_with("cache ") && cache != CoreCache::Migration {
            if cache == CoreCache::Plain {
                let indent = &line[..line.len() - line.trim_start().len()];
                out.push_str(&format!("{indent}cache 30\n"));
            }
            skip_block = t.ends_with('{');
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    for (k, v) in subst {
        out = out.replace(k, &v);
    }
    if let Some(i) = out.find("__") {
        let rest = &out[i..];
        if rest.len() > 2 && rest[2..].starts_with(|c: char| c.is_ascii_uppercase()) {
            bail!(
                "unsubstituted placeholder in the Corefile near {:?}",
                &rest[..rest.len().min(30)]
            );
        }
    }
    Ok(out)
}

/// Starts `kind` against `kubeconfig` on `cpu`; logs and generated files go to `work`.
pub fn spawn(
    kind: Kind,
    bins: &Binaries,
    kubeconfig: &Path,
    cpu: u32,
    work: &Path,
    name: &str,
) -> anyhow::Result<Running> {
    let dns_port = free_dns_port()?;
    let lo = |p: u16| SocketAddr::from((Ipv4Addr::LOCALHOST, p));
    let mut args = vec!["-c".to_string(), cpu.to_string()];
    let ready = match kind {
        Kind::Kubedns(cache) => {
            let hz = free_tcp_port()?;
            args.extend([
                bins.kubedns.display().to_string(),
                "--domain=cluster.local.".into(),
                format!("--dns-port={dns_port}"),
                "--dns-bind-address=127.0.0.1".into(),
                format!("--healthz-port={hz}"),
                format!("--kubecfg-file={}", kubeconfig.display()),
                "--v=0".into(),
            ]);
            if let Some(n) = cache {
                args.push(format!("--reply-cache-entries={n}"));
            }
            (lo(hz), "/readiness")
        }
        Kind::CoreDns(cache) => {
            let (r, h, m) = (free_tcp_port()?, free_tcp_port()?, free_tcp_port()?);
            // Forwarded names go nowhere (only cluster names are asked); the loop plugin's
            // probe simply fails, as in integration/peers/smoke.sh.
            let resolv = work.join(format!("{name}.resolv.conf"));
            std::fs::write(&resolv, "nameserver 127.0.0.1\n")?;
            let template = std::fs::read_to_string(&bins.corefile)
                .with_context(|| format!("reading {}", bins.corefile.display()))?;
            let text = render_corefile(
                &template,
                &CorefileParams {
                    cache,
                    dns_port,
                    ready: lo(r),
                    health: lo(h),
                    metrics: lo(m),
                    kubeconfig,
                    resolv_conf: &resolv,
                },
            )?;
            let conf = work.join(format!("{name}.Corefile"));
            std::fs::write(&conf, text)?;
            args.extend([
                bins.coredns.display().to_string(),
                "-conf".into(),
                conf.display().to_string(),
            ]);
            (lo(r), "/ready")
        }
        Kind::LegacyKubeDns => {
            let hz = free_tcp_port()?;
            args.extend([
                bins.kube_dns.display().to_string(),
                format!("--kubecfg-file={}", kubeconfig.display()),
                "--domain=cluster.local.".into(),
                "--dns-bind-address=127.0.0.1".into(),
                format!("--dns-port={dns_port}"),
                format!("--healthz-port={hz}"),
            ]);
            (lo(hz), "/readiness")
        }
    };
    let proc = ChildProcess::spawn(ProcessSpec::new(name, "taskset").args(args), work)?;
    let pid = proc.pid().context("server has no pid")?;
    Ok(Running {
        proc,
        pid,
        dns: lo(dns_port),
        ready,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEMPLATE: &str = "# comment __X__\n.:__DNS_PORT__ {\n    bind __BIND_ADDR__\n    ready __READY_ADDR__\n    health __HEALTH_ADDR__\n    prometheus __METRICS_ADDR__\n    kubernetes __CLUSTER_DOMAIN__ {\n       kubeconfig __KUBECONFIG__\n    }\n    forward . __RESOLV_CONF__\n    cache 30 {\n       disable success __CLUSTER_DOMAIN__\n    }\n    loop\n}\n";

    fn render(c: CoreCache) -> String {
        let a = SocketAddr::from((Ipv4Addr::LOCALHOST, 1));
        let p = CorefileParams {
            cache: c,
            dns_port: 53,
            ready: a,
            health: a,
            metrics: a,
            kubeconfig: Path::new("/k"),
            resolv_conf: Path::new("/r"),
        };
        render_corefile(TEMPLATE, &p).unwrap()
    }

    #[test]
    fn corefile_cache_variants() {
        let m = render(CoreCache::Migration);
        assert!(
            m.contains("cache 30 {\n       disable success cluster.local\n    }\n    loop"),
            "{m}"
        );
        let p = render(CoreCache::Plain);
        assert!(p.contains("    cache 30\n    loop"), "{p}");
        assert!(!p.contains("disable"));
        let n = render(CoreCache::None);
        assert!(!n.contains("cache"), "{n}");
        assert!(n.contains("forward . /r\n    loop"), "{n}");
        for t in [m, p, n] {
            assert!(!t.contains("__"), "{t}");
            assert!(t.contains(".:53 {") && t.contains("kubeconfig /k"));
        }
    }
}
