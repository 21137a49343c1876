//! The kube-dns pod on loopback: an in-process emulator (or a real API server given by
//! [`StackOptions::api`], e.g. a [`crate::controlplane::ControlPlane`]) plus the real `kubedns`,
//! `dnsmasq-rs` (optional) and `healthz` (optional) binaries on ephemeral ports, started with
//! the legacy manifest's arguments and waited for (kubedns `/readiness` 200, dnsmasq-rs
//! answering DNS, healthz `/metrics` 200). Dropping the [`Stack`] kills every child.

use std::ffi::OsString;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use hickory_proto::op::Message;
use hickory_proto::rr::RecordType;

use super::bins::binary_path;
use super::dns::{DnsClient, Transport};
use super::ports::{free_dns_port, free_tcp_port};
use super::process::{ChildProcess, ProcessSpec};
use super::wait;
use kube_emulator::{Emulator, EmulatorConfig};

/// Default readiness timeout per component.
pub const DEFAULT_READY_TIMEOUT: Duration = Duration::from_secs(30);

/// What to start.
#[derive(Debug, Clone)]
pub struct StackOptions {
    /// Cluster domain (`--domain`), with trailing dot.
    pub domain: String,
    /// Emulator settings (bind is forced to 127.0.0.1:0 unless changed).
    pub emulator: EmulatorConfig,
    /// A real API server to watch instead of starting the emulator.
    pub api: Option<ExternalApi>,
    /// Start dnsmasq-rs in front of kubedns.
    pub dnsmasq: bool,
    /// Start healthz (sidecar probes + metrics).
    pub healthz: bool,
    /// Extra kubedns arguments.
    pub kubedns_args: Vec<String>,
    /// Extra dnsmasq arguments (appended after `--`, i.e. dnsmasq options).
    pub dnsmasq_args: Vec<String>,
    /// Extra nanny arguments (before `--`).
    pub nanny_args: Vec<String>,
    /// Extra healthz arguments.
    pub healthz_args: Vec<String>,
    /// Extra environment for every child.
    pub env: Vec<(String, String)>,
    /// Explicit binary paths (default: found by [`binary_path`]).
    pub kubedns_bin: Option<PathBuf>,
    /// See `kubedns_bin`.
    pub dnsmasq_bin: Option<PathBuf>,
    /// See `kubedns_bin`.
    pub healthz_bin: Option<PathBuf>,
    /// Readiness timeout per component.
    pub ready_timeout: Duration,
    /// Seconds between healthz probes (legacy manifests use 5).
    pub probe_interval_secs: u32,
}

impl Default for StackOptions {
    fn default() -> Self {
        StackOptions {
            domain: "cluster.local.".into(),
            emulator: EmulatorConfig::default(),
            api: None,
            dnsmasq: false,
            healthz: false,
            kubedns_args: Vec::new(),
            dnsmasq_args: Vec::new(),
            nanny_args: Vec::new(),
            healthz_args: Vec::new(),
            env: Vec::new(),
            kubedns_bin: None,
            dnsmasq_bin: None,
            healthz_bin: None,
            ready_timeout: DEFAULT_READY_TIMEOUT,
            probe_interval_secs: 1,
        }
    }
}

impl StackOptions {
    /// kubedns only.
    pub fn kubedns_only() -> Self {
        Self::default()
    }

    /// kubedns + dnsmasq-rs + healthz.
    pub fn full() -> Self {
        StackOptions {
            dnsmasq: true,
            healthz: true,
            ..Self::default()
        }
    }
}

/// A real API server: kubedns gets `--kubecfg-file` (server URL, CA, bearer token).
#[derive(Debug, Clone)]
pub struct ExternalApi {
    /// The kubeconfig kubedns uses.
    pub kubeconfig: PathBuf,
}

impl ExternalApi {
    /// kubedns authenticated as `who` on `cp`.
    pub fn control_plane(
        cp: &crate::controlplane::ControlPlane,
        who: crate::controlplane::Identity,
    ) -> Self {
        ExternalApi {
            kubeconfig: cp.kubeconfig(who),
        }
    }
}

/// Ports of a running stack.
#[derive(Debug, Clone, Copy)]
pub struct Ports {
    /// kubedns DNS (UDP+TCP).
    pub kubedns_dns: u16,
    /// kubedns `--healthz-port` (`/readiness`, `/cache`).
    pub kubedns_healthz: u16,
    /// kubedns `PROMETHEUS_PORT` (`/metrics`).
    pub kubedns_metrics: u16,
    /// dnsmasq-rs DNS, if started.
    pub dnsmasq_dns: Option<u16>,
    /// healthz HTTP, if started.
    pub healthz_http: Option<u16>,
}

/// A running stack; drop to stop everything.
pub struct Stack {
    /// The API emulator (mutate objects, inject faults); `None` on a real API server.
    emulator: Option<Emulator>,
    /// Ports.
    pub ports: Ports,
    opts: StackOptions,
    kubedns: Option<ChildProcess>,
    dnsmasq: Option<ChildProcess>,
    healthz: Option<ChildProcess>,
    dnsmasq_config_dir: PathBuf,
    logs: tempfile::TempDir,
}

impl Drop for Stack {
    /// Children first (they would otherwise log API errors while the emulator stops).
    fn drop(&mut self) {
        self.healthz = None;
        self.dnsmasq = None;
        self.kubedns = None;
    }
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

/// kubedns arguments as in the legacy manifest, remapped to loopback ports. `--lame-duck=0`:
/// a local stack has no Service endpoints to drain from, so children stop at once (tests that
/// exercise the lame-duck period pass their own arguments).
pub fn kubedns_args(domain: &str, dns_port: u16, healthz_port: u16, api_url: &str) -> Vec<String> {
    vec![
        "--lame-duck=0s".into(),
        format!("--domain={domain}"),
        format!("--dns-port={dns_port}"),
        "--dns-bind-address=127.0.0.1".into(),
        format!("--healthz-port={healthz_port}"),
        format!("--kube-master-url={api_url}"),
        "--v=2".into(),
    ]
}

/// dnsmasq-nanny arguments as in the legacy manifest (`-v=2 -configDir=… -restartDnsmasq=true
/// -- -k --cache-size=1000 --no-negcache --dns-loop-detect --log-facility=- --server=…`), plus
/// `--port`, `--listen-address=127.0.0.1` and `--lame-duck=0` (see [`kubedns_args`]).
pub fn dnsmasq_args(domain: &str, config_dir: &Path, port: u16, kubedns_port: u16) -> Vec<String> {
    let d = domain.trim_end_matches('.');
    vec![
        "-v=2".into(),
        format!("-configDir={}", config_dir.display()),
        "-restartDnsmasq=true".into(),
        "--".into(),
        "-k".into(),
        "--cache-size=1000".into(),
        "--no-negcache".into(),
        "--dns-loop-detect".into(),
        "--log-facility=-".into(),
        format!("--server=/{d}/127.0.0.1#{kubedns_port}"),
        format!("--server=/in-addr.arpa/127.0.0.1#{kubedns_port}"),
        format!("--server=/ip6.arpa/127.0.0.1#{kubedns_port}"),
        format!("--port={port}"),
        "--listen-address=127.0.0.1".into(),
        "--lame-duck=0".into(),
    ]
}

/// Sidecar (healthz) arguments as in the legacy manifest, on loopback ports.
pub fn healthz_args(
    domain: &str,
    kubedns_port: u16,
    dnsmasq_port: u16,
    http_port: u16,
    interval: u32,
) -> Vec<String> {
    let d = domain.trim_end_matches('.');
    vec![
        "--v=2".into(),
        "--logtostderr".into(),
        format!(
            "--probe=kubedns,127.0.0.1:{kubedns_port},kubernetes.default.svc.{d},{interval},SRV"
        ),
        format!(
            "--probe=dnsmasq,127.0.0.1:{dnsmasq_port},kubernetes.default.svc.{d},{interval},SRV"
        ),
        "--prometheus-addr=127.0.0.1".into(),
        format!("--prometheus-port={http_port}"),
        format!("--dnsmasq-port={dnsmasq_port}"),
    ]
}

impl Stack {
    /// Starts the emulator and the selected binaries and waits until all are ready.
    pub async fn start(opts: StackOptions) -> anyhow::Result<Stack> {
        let emulator = match opts.api {
            Some(_) => None,
            None => Some(
                Emulator::start(opts.emulator.clone())
                    .await
                    .context("starting the API emulator")?,
            ),
        };
        let logs = tempfile::Builder::new()
            .prefix("kube-dns-rs-stack-")
            .tempdir()
            .context("log directory")?;
        let dnsmasq_config_dir = logs.path().join("dnsmasq-nanny");
        std::fs::create_dir_all(&dnsmasq_config_dir).context("dnsmasq config dir")?;
        let ports = Ports {
            kubedns_dns: free_dns_port()?,
            kubedns_healthz: free_tcp_port()?,
            kubedns_metrics: free_tcp_port()?,
            dnsmasq_dns: if opts.dnsmasq {
                Some(free_dns_port()?)
            } else {
                None
            },
            healthz_http: if opts.healthz {
                Some(free_tcp_port()?)
            } else {
                None
            },
        };
        let mut stack = Stack {
            emulator,
            ports,
            opts,
            kubedns: None,
            dnsmasq: None,
            healthz: None,
            dnsmasq_config_dir,
            logs,
        };
        stack.start_kubedns().await?;
        if stack.opts.dnsmasq {
            stack.start_dnsmasq().await?;
        }
        if stack.opts.healthz {
            stack.start_healthz().await?;
        }
        Ok(stack)
    }

    fn spec(
        &self,
        name: &str,
        explicit: &Option<PathBuf>,
        args: Vec<String>,
    ) -> anyhow::Result<ProcessSpec> {
        let program = match explicit {
            Some(p) => p.clone(),
            None => binary_path(name)?,
        };
        let mut spec = ProcessSpec::new(name, program).args(args);
        for (k, v) in &self.opts.env {
            spec = spec.env(k, v);
        }
        if std::env::var_os("RUST_LOG").is_none() {
            spec = spec.env("RUST_LOG", "info");
        }
        Ok(spec)
    }

    async fn ready_or_explain(
        child: &mut ChildProcess,
        r: Result<impl Sized, wait::WaitError>,
    ) -> anyhow::Result<()> {
        match r {
            Ok(_) => Ok(()),
            Err(e) => bail!("{e}\n{}", child.describe()),
        }
    }

    /// (Re)starts kubedns with the stack's ports and waits for `/readiness`.
    pub async fn start_kubedns(&mut self) -> anyhow::Result<()> {
        self.kubedns = None;
        let kubeconfig = match (&self.emulator, &self.opts.api) {
            (_, Some(api)) => Some(api.kubeconfig.clone()),
            // HTTPS or a bearer token: hand kubedns a kubeconfig (CA file + token).
            (Some(emu), None)
                if emu.shared().cfg.tls.is_some() || emu.shared().cfg.token.is_some() =>
            {
                Some(emu.write_kubeconfig(self.logs.path())?)
            }
            _ => None,
        };
        let url = self
            .emulator
            .as_ref()
            .map(Emulator::url)
            .unwrap_or_default();
        let mut args = kubedns_args(
            &self.opts.domain,
            self.ports.kubedns_dns,
            self.ports.kubedns_healthz,
            &url,
        );
        if let Some(kubeconfig) = kubeconfig {
            args.retain(|a| !a.starts_with("--kube-master-url="));
            args.push(format!("--kubecfg-file={}", kubeconfig.display()));
        }
        args.extend(self.opts.kubedns_args.iter().cloned());
        let spec = self
            .spec("kubedns", &self.opts.kubedns_bin, args)?
            .env("PROMETHEUS_PORT", self.ports.kubedns_metrics.to_string());
        let mut child = ChildProcess::spawn(spec, self.logs.path())?;
        let r = wait::http_ok(
            loopback(self.ports.kubedns_healthz),
            "/readiness",
            self.opts.ready_timeout,
        )
        .await;
        Self::ready_or_explain(&mut child, r).await?;
        self.kubedns = Some(child);
        Ok(())
    }

    /// (Re)starts dnsmasq-rs and waits until it answers DNS.
    pub async fn start_dnsmasq(&mut self) -> anyhow::Result<()> {
        self.dnsmasq = None;
        let port = self
            .ports
            .dnsmasq_dns
            .context("stack started without dnsmasq")?;
        let mut args: Vec<String> = self.opts.nanny_args.clone();
        let mut legacy = dnsmasq_args(
            &self.opts.domain,
            &self.dnsmasq_config_dir,
            port,
            self.ports.kubedns_dns,
        );
        let sep = legacy
            .iter()
            .position(|a| a == "--")
            .unwrap_or(legacy.len());
        let tail = legacy.split_off(sep);
        legacy.append(&mut args);
        legacy.extend(tail);
        legacy.extend(self.opts.dnsmasq_args.iter().cloned());
        let spec = self.spec("dnsmasq-rs", &self.opts.dnsmasq_bin, legacy)?;
        let mut child = ChildProcess::spawn(spec, self.logs.path())?;
        let name = format!("kubernetes.default.svc.{}", self.opts.domain);
        let r = wait::dns_responds(
            loopback(port),
            &name,
            RecordType::A,
            self.opts.ready_timeout,
        )
        .await;
        Self::ready_or_explain(&mut child, r).await?;
        self.dnsmasq = Some(child);
        Ok(())
    }

    /// (Re)starts healthz and waits for `/metrics` 200.
    pub async fn start_healthz(&mut self) -> anyhow::Result<()> {
        self.healthz = None;
        let http = self
            .ports
            .healthz_http
            .context("stack started without healthz")?;
        let dnsmasq_port = self.ports.dnsmasq_dns.unwrap_or(self.ports.kubedns_dns);
        let mut args = healthz_args(
            &self.opts.domain,
            self.ports.kubedns_dns,
            dnsmasq_port,
            http,
            self.opts.probe_interval_secs,
        );
        args.extend(self.opts.healthz_args.iter().cloned());
        let spec = self.spec("healthz", &self.opts.healthz_bin, args)?;
        let mut child = ChildProcess::spawn(spec, self.logs.path())?;
        let r = wait::http_ok(loopback(http), "/metrics", self.opts.ready_timeout).await;
        Self::ready_or_explain(&mut child, r).await?;
        self.healthz = Some(child);
        Ok(())
    }

    /// The API emulator (mutate objects, inject faults).
    ///
    /// # Panics
    /// When the stack runs on a real API server ([`StackOptions::api`]).
    pub fn emulator(&self) -> &Emulator {
        self.emulator
            .as_ref()
            .expect("this stack runs on a real API server, not the emulator")
    }

    /// kubedns's DNS address.
    pub fn kubedns_addr(&self) -> SocketAddr {
        loopback(self.ports.kubedns_dns)
    }

    /// dnsmasq-rs's DNS address, if started.
    pub fn dnsmasq_addr(&self) -> Option<SocketAddr> {
        self.ports.dnsmasq_dns.map(loopback)
    }

    /// healthz's HTTP address, if started.
    pub fn healthz_addr(&self) -> Option<SocketAddr> {
        self.ports.healthz_http.map(loopback)
    }

    /// kubedns's `--healthz-port` address.
    pub fn kubedns_healthz_addr(&self) -> SocketAddr {
        loopback(self.ports.kubedns_healthz)
    }

    /// kubedns's metrics address.
    pub fn kubedns_metrics_addr(&self) -> SocketAddr {
        loopback(self.ports.kubedns_metrics)
    }

    /// A DNS client for kubedns.
    pub fn kubedns(&self) -> DnsClient {
        DnsClient::new(self.kubedns_addr())
    }

    /// A DNS client for dnsmasq-rs (kubedns when dnsmasq-rs was not started).
    pub fn dnsmasq(&self) -> DnsClient {
        DnsClient::new(self.dnsmasq_addr().unwrap_or_else(|| self.kubedns_addr()))
    }

    /// The dnsmasq-nanny `-configDir` (write ConfigMap keys here as files).
    pub fn dnsmasq_config_dir(&self) -> &Path {
        &self.dnsmasq_config_dir
    }

    /// Directory holding the children's log files.
    pub fn log_dir(&self) -> &Path {
        self.logs.path()
    }

    /// The kubedns child (logs, signals, kill).
    pub fn kubedns_process(&mut self) -> Option<&mut ChildProcess> {
        self.kubedns.as_mut()
    }

    /// The dnsmasq-rs child.
    pub fn dnsmasq_process(&mut self) -> Option<&mut ChildProcess> {
        self.dnsmasq.as_mut()
    }

    /// The healthz child.
    pub fn healthz_process(&mut self) -> Option<&mut ChildProcess> {
        self.healthz.as_mut()
    }

    /// Queries `server` until `accept(response)` holds or `timeout` passes (then the error
    /// carries the last response or error).
    pub async fn wait_for_answer<F>(
        client: &DnsClient,
        name: &str,
        rtype: RecordType,
        transport: Transport,
        timeout: Duration,
        accept: F,
    ) -> anyhow::Result<Message>
    where
        F: Fn(&Message) -> bool,
    {
        let what = format!("{name} {rtype} over {transport:?} from {}", client.server);
        let accept = &accept;
        let r = wait::until(&what, timeout, || async move {
            let m = client
                .query(name, rtype, transport)
                .await
                .map_err(|e| e.to_string())?;
            if accept(&m) {
                Ok(Some(m))
            } else {
                Err(format!(
                    "{} {:?}",
                    m.metadata.response_code,
                    super::dns::answer_strings(&m)
                ))
            }
        })
        .await?;
        Ok(r)
    }

    /// Logs of every child, for failure messages.
    pub fn describe(&mut self) -> String {
        let mut out = String::new();
        for c in [
            self.kubedns.as_mut(),
            self.dnsmasq.as_mut(),
            self.healthz.as_mut(),
        ]
        .into_iter()
        .flatten()
        {
            out.push_str(&c.describe());
            out.push('\n');
        }
        out
    }

    /// Environment variables given to children (for tests that start extra processes).
    pub fn child_env(&self) -> Vec<(OsString, OsString)> {
        self.opts
            .env
            .iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect()
    }
}
