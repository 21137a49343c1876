//! A real Kubernetes control plane for tests, the way controller-runtime's envtest runs one:
//! etcd on a temp dir, kube-apiserver on loopback (generated CA and serving certificate,
//! service-account key pair, a static token file, `--authorization-mode=Node,RBAC` so the
//! bootstrap roles such as `system:kube-dns` are real) and, optionally,
//! kube-controller-manager with the endpoint, endpointslice, namespace and serviceaccount
//! controllers ([`ENDPOINT_CONTROLLERS`]), so Endpoints and EndpointSlices come from the real controllers. The binaries
//! come from `integration/k8s/build.sh` ([`bins`]). One kubeconfig per [`Identity`]; every
//! process is killed by PID (its process group) when the [`ControlPlane`] drops, also on panic.
//!
//! Module map: [`bins`] (locating the built binaries), [`pki`] (certificates, keys, tokens,
//! kubeconfigs), [`etcd`] (revision and compaction through etcd's JSON gateway),
//! `identity` ([`Identity`]), `processes` (starting and stopping etcd, kube-apiserver and
//! kube-controller-manager), `cluster` (kubectl as the admin, fixtures, scheduling Pods,
//! ServiceCIDRs), `accessors` (addresses, tokens, kubeconfigs, clients). This file owns the
//! settings, the [`ControlPlane`] handle, its start and failure descriptions.

mod accessors;
pub mod bins;
mod cluster;
pub mod etcd;
mod identity;
pub mod pki;
mod processes;

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use anyhow::Context;

pub use bins::{K8sBinaries, Release};
pub use identity::Identity;
use pki::Pki;

use crate::harness::ports::free_tcp_port;
use crate::harness::process::ChildProcess;

/// How long kube-apiserver may take to report `/readyz` (cold start on 2 cores takes ~10 s).
pub const APISERVER_READY_TIMEOUT: Duration = Duration::from_secs(120);
/// How long etcd may take to report `/health`.
pub const ETCD_READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the controllers may take to create the `default` ServiceAccount.
pub const CONTROLLERS_READY_TIMEOUT: Duration = Duration::from_secs(90);
/// Grace period for SIGTERM before SIGKILL when stopping a component.
pub const STOP_GRACE: Duration = Duration::from_secs(10);
/// The Service CIDRs (`--service-cluster-ip-range`, dual-stack); the `kubernetes` Service gets
/// the first IPv4 address. More ranges can be added at run time ([`ControlPlane::add_service_cidr`]).
pub const SERVICE_CIDR: &str = "10.0.0.0/16,fd00:10:96::/108";
/// The `kubernetes` Service's ClusterIP for [`SERVICE_CIDR`].
pub const KUBERNETES_SERVICE_IP: &str = "10.0.0.1";
/// Controllers that make Endpoints and EndpointSlices from Pods, as in a cluster, plus what
/// namespaces, ServiceAccounts and extra ServiceCIDRs need.
pub const ENDPOINT_CONTROLLERS: &str = "endpoints-controller,endpointslice-controller,\
    endpointslice-mirroring-controller,namespace-controller,serviceaccount-controller,\
    garbage-collector-controller,service-cidr-controller";
/// Controllers for fixtures that write their own Endpoints/EndpointSlices (the endpoint
/// controllers would replace them): namespaces, ServiceAccounts, extra ServiceCIDRs.
pub const BASIC_CONTROLLERS: &str =
    "namespace-controller,serviceaccount-controller,service-cidr-controller";

/// The Node test Pods are scheduled to ([`ControlPlane::schedule_and_ready`]).
pub const TEST_NODE: &str = "node-a";
/// `topology.kubernetes.io/zone` of [`TEST_NODE`].
pub const TEST_ZONE: &str = "z1";
/// `topology.kubernetes.io/region` of [`TEST_NODE`].
pub const TEST_REGION: &str = "r1";

/// What to start.
#[derive(Debug, Clone)]
pub struct ControlPlaneOptions {
    /// Which pinned release.
    pub release: Release,
    /// Run kube-controller-manager with these controllers (`--controllers`), e.g.
    /// [`ENDPOINT_CONTROLLERS`]; `None`: no controllers.
    pub controllers: Option<&'static str>,
    /// Address kube-apiserver binds (default loopback; a netns test uses its veth address).
    pub bind: IpAddr,
    /// Extra IPs for the serving certificate.
    pub extra_sans: Vec<String>,
    /// Extra kube-apiserver arguments (`--flag=value`), appended last.
    pub apiserver_args: Vec<String>,
}

impl Default for ControlPlaneOptions {
    fn default() -> Self {
        ControlPlaneOptions {
            release: Release::Primary,
            controllers: None,
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            extra_sans: Vec::new(),
            apiserver_args: Vec::new(),
        }
    }
}

impl ControlPlaneOptions {
    /// With kube-controller-manager.
    pub fn with_controllers() -> Self {
        ControlPlaneOptions {
            controllers: Some(ENDPOINT_CONTROLLERS),
            ..Self::default()
        }
    }
}

/// A running control plane; drop to stop every process and delete its directory.
pub struct ControlPlane {
    opts: ControlPlaneOptions,
    bins: K8sBinaries,
    pki: Pki,
    tokens: Vec<(Identity, String)>,
    etcd_port: u16,
    etcd_peer_port: u16,
    apiserver_port: u16,
    etcd: Option<ChildProcess>,
    apiserver: Option<ChildProcess>,
    controller_manager: Option<ChildProcess>,
    /// Declared last: removed after the children are killed.
    dir: tempfile::TempDir,
}

impl Drop for ControlPlane {
    /// Dependents first: controllers, API server, etcd (each killed by process group).
    fn drop(&mut self) {
        self.controller_manager = None;
        self.apiserver = None;
        self.etcd = None;
    }
}

fn random_token() -> String {
    use rand::Rng;
    let bytes: [u8; 16] = rand::rng().random();
    hex::encode(bytes)
}

impl ControlPlane {
    /// Starts etcd, kube-apiserver (and the controllers) and waits until they are ready.
    pub async fn start(opts: ControlPlaneOptions) -> anyhow::Result<ControlPlane> {
        let t0 = Instant::now();
        let bins = K8sBinaries::find(opts.release).map_err(|m| anyhow::anyhow!("missing {m}"))?;
        let dir = tempfile::Builder::new()
            .prefix("kube-dns-rs-cp-")
            .tempdir()
            .context("control-plane directory")?;
        let tokens: Vec<(Identity, String)> =
            Identity::ALL.iter().map(|&i| (i, random_token())).collect();
        let pki = Pki::generate(dir.path(), KUBERNETES_SERVICE_IP, &opts.extra_sans, &tokens)?;
        let mut cp = ControlPlane {
            bins,
            pki,
            tokens,
            etcd_port: free_tcp_port()?,
            etcd_peer_port: free_tcp_port()?,
            apiserver_port: free_tcp_port()?,
            etcd: None,
            apiserver: None,
            controller_manager: None,
            opts,
            dir,
        };
        for who in Identity::ALL {
            pki::write_kubeconfig(
                &cp.kubeconfig(who),
                &cp.url(),
                &cp.pki.ca_crt,
                cp.token(who),
                "default",
            )?;
        }
        cp.start_etcd().await?;
        cp.start_apiserver().await?;
        if let Some(controllers) = cp.opts.controllers {
            cp.start_controller_manager(controllers).await?;
        }
        tracing::info!(
            versions = %cp.versions(),
            elapsed_ms = t0.elapsed().as_millis() as u64,
            "control plane ready"
        );
        Ok(cp)
    }

    /// For failure messages: the workload objects of every namespace and the log tails.
    pub fn describe(&self) -> String {
        let objects = match self.kubectl([
            "get",
            "pods,services,endpoints,endpointslices,configmaps",
            "-A",
            "-o",
            "wide",
        ]) {
            Ok(o) => format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            ),
            Err(e) => format!("kubectl: {e}"),
        };
        let mut out = format!("---- control plane objects ----\n{objects}");
        for c in [&self.apiserver, &self.controller_manager]
            .into_iter()
            .flatten()
        {
            out.push_str(&format!(
                "---- {} log tail ----\n{}\n",
                c.name(),
                c.log_tail(30)
            ));
        }
        out
    }

    /// The log of a component (`etcd`, `kube-apiserver`, `kube-controller-manager`).
    pub fn log(&self, name: &str) -> String {
        [&self.etcd, &self.apiserver, &self.controller_manager]
            .into_iter()
            .flatten()
            .find(|c| c.name() == name)
            .map(ChildProcess::log)
            .unwrap_or_default()
    }
}
