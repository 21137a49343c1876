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
//! kubeconfigs), [`etcd`] (revision and compaction through etcd's JSON gateway).

pub mod bins;
pub mod etcd;
pub mod pki;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

pub use bins::{K8sBinaries, Release};
use pki::Pki;

use crate::harness::ports::free_tcp_port;
use crate::harness::process::{ChildProcess, ProcessSpec};
use crate::harness::wait;

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

/// Who a kubeconfig or token authenticates as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Identity {
    /// `kube-dns-rs-admin` in `system:masters`.
    Admin,
    /// `system:serviceaccount:kube-system:kube-dns`, which the bootstrap
    /// `system:kube-dns` ClusterRoleBinding binds to the `system:kube-dns` ClusterRole.
    KubeDns,
}

impl Identity {
    /// Every identity a control plane provisions.
    pub const ALL: [Identity; 2] = [Identity::Admin, Identity::KubeDns];

    /// User name.
    pub fn user(self) -> &'static str {
        match self {
            Identity::Admin => "kube-dns-rs-admin",
            Identity::KubeDns => "system:serviceaccount:kube-system:kube-dns",
        }
    }

    /// UID in the token file.
    pub fn uid(self) -> &'static str {
        match self {
            Identity::Admin => "admin",
            Identity::KubeDns => "kube-dns-sa",
        }
    }

    /// Groups (besides `system:authenticated`, which the server adds).
    pub fn groups(self) -> &'static [&'static str] {
        match self {
            Identity::Admin => &["system:masters"],
            Identity::KubeDns => &[
                "system:serviceaccounts",
                "system:serviceaccounts:kube-system",
            ],
        }
    }

    fn file_stem(self) -> &'static str {
        match self {
            Identity::Admin => "admin",
            Identity::KubeDns => "kube-dns",
        }
    }
}

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

    /// The control plane's working directory (certificates, kubeconfigs, logs, etcd data).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The binaries used.
    pub fn binaries(&self) -> &K8sBinaries {
        &self.bins
    }

    /// `kube-apiserver vX, etcd vY, kubectl vZ` (for test logs).
    pub fn versions(&self) -> String {
        format!(
            "{}; {}",
            self.bins.version("kube-apiserver"),
            self.bins.version("etcd")
        )
    }

    /// The API server's address.
    pub fn apiserver_addr(&self) -> SocketAddr {
        SocketAddr::new(self.opts.bind, self.apiserver_port)
    }

    /// `https://<bind>:<port>`.
    pub fn url(&self) -> String {
        format!("https://{}", self.apiserver_addr())
    }

    /// etcd's client address.
    pub fn etcd_addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.etcd_port))
    }

    /// The CA certificate clients trust (the in-cluster `ca.crt`).
    pub fn ca_crt(&self) -> &Path {
        &self.pki.ca_crt
    }

    /// The bearer token of `who`.
    pub fn token(&self, who: Identity) -> &str {
        self.tokens
            .iter()
            .find(|(i, _)| *i == who)
            .map(|(_, t)| t.as_str())
            .unwrap_or_default()
    }

    /// The kubeconfig of `who`.
    pub fn kubeconfig(&self, who: Identity) -> PathBuf {
        self.dir
            .path()
            .join(format!("{}.kubeconfig", who.file_stem()))
    }

    /// A kube client authenticated as `who`.
    pub async fn client(&self, who: Identity) -> anyhow::Result<kube::Client> {
        let kubeconfig = kube::config::Kubeconfig::read_from(self.kubeconfig(who))?;
        let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default()).await?;
        Ok(kube::Client::try_from(config)?)
    }

    /// The built kubectl with the admin's kubeconfig, to add arguments (and environment) to.
    pub fn kubectl_command(&self) -> std::process::Command {
        let mut cmd = std::process::Command::new(self.bins.path("kubectl"));
        cmd.arg(format!(
            "--kubeconfig={}",
            self.kubeconfig(Identity::Admin).display()
        ));
        cmd
    }

    /// Runs the built kubectl as the admin; returns its output (whatever the exit status).
    pub fn kubectl<I, S>(&self, args: I) -> std::io::Result<std::process::Output>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        self.kubectl_command().args(args).output()
    }

    /// [`Self::kubectl`] that fails unless kubectl exits 0; returns stdout.
    pub fn kubectl_ok<I, S>(&self, args: I) -> anyhow::Result<String>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let args: Vec<std::ffi::OsString> =
            args.into_iter().map(|a| a.as_ref().to_owned()).collect();
        let out = self.kubectl(&args)?;
        if !out.status.success() {
            bail!(
                "kubectl {:?} failed ({}): {}",
                args,
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// `kubectl apply -f -` with `yaml` (or JSON) on stdin, as the admin.
    pub fn kubectl_apply(&self, yaml: &str) -> anyhow::Result<String> {
        self.kubectl_stdin(["apply", "-f", "-"], yaml)
    }

    /// Runs kubectl as the admin with `input` on stdin; fails unless it exits 0.
    pub fn kubectl_stdin<I, S>(&self, args: I, input: &str) -> anyhow::Result<String>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        use std::io::Write as _;
        use std::process::Stdio;
        let args: Vec<std::ffi::OsString> =
            args.into_iter().map(|a| a.as_ref().to_owned()).collect();
        let mut child = self
            .kubectl_command()
            .args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        child
            .stdin
            .take()
            .context("kubectl stdin")?
            .write_all(input.as_bytes())?;
        let out = child.wait_with_output()?;
        if !out.status.success() {
            bail!(
                "kubectl {args:?} failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// `kubectl apply -f path` (a fixture file), then for every Pod in it whose manifest
    /// carries `status.podIP` (which a create ignores) [`Self::schedule_and_ready`]: fixtures
    /// written for the emulator become real cluster state, Endpoints and EndpointSlices coming
    /// from the controllers.
    pub fn apply_fixture(&self, path: &Path) -> anyhow::Result<()> {
        self.kubectl_ok(["apply", "-f", &path.display().to_string()])
            .with_context(|| format!("applying {}", path.display()))?;
        let text = std::fs::read_to_string(path)?;
        let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple(&text)
            .map_err(|e| anyhow::anyhow!("parsing {}: {e}", path.display()))?;
        for doc in docs {
            if doc["kind"] == "Pod"
                && let Some(ip) = doc["status"]["podIP"].as_str()
            {
                let ns = doc["metadata"]["namespace"].as_str().unwrap_or("default");
                let name = doc["metadata"]["name"].as_str().unwrap_or_default();
                self.schedule_and_ready(ns, name, ip)?;
            }
        }
        Ok(())
    }

    /// Creates the Node `name` (what a kubelet registers) with zone/region labels, if absent.
    pub fn ensure_node(&self, name: &str) -> anyhow::Result<()> {
        self.kubectl_apply(&format!(
            "apiVersion: v1\nkind: Node\nmetadata:\n  name: {name}\n  labels:\n    \
             topology.kubernetes.io/zone: {TEST_ZONE}\n    topology.kubernetes.io/region: {TEST_REGION}\n"
        ))?;
        Ok(())
    }

    /// Does for an existing Pod what the scheduler and a kubelet would: binds it to
    /// [`TEST_NODE`] (the `binding` subresource) and reports it Running and Ready with `ip`
    /// (the `status` subresource), so the endpoint controllers include it.
    pub fn schedule_and_ready(&self, ns: &str, pod: &str, ip: &str) -> anyhow::Result<()> {
        self.ensure_node(TEST_NODE)?;
        let bound = self.kubectl_ok([
            "-n",
            ns,
            "get",
            "pod",
            pod,
            "-o",
            "jsonpath={.spec.nodeName}",
        ])?;
        if bound.trim().is_empty() {
            let binding = format!(
                r#"{{"apiVersion":"v1","kind":"Binding","metadata":{{"name":"{pod}"}},"target":{{"apiVersion":"v1","kind":"Node","name":"{TEST_NODE}"}}}}"#
            );
            self.kubectl_stdin(
                [
                    "create",
                    "--raw",
                    &format!("/api/v1/namespaces/{ns}/pods/{pod}/binding"),
                    "-f",
                    "-",
                ],
                &binding,
            )?;
        }
        let status = format!(
            r#"{{"status":{{"phase":"Running","podIP":"{ip}","podIPs":[{{"ip":"{ip}"}}],"conditions":[{{"type":"Ready","status":"True"}}]}}}}"#
        );
        self.kubectl_ok([
            "-n",
            ns,
            "patch",
            "pod",
            pod,
            "--subresource=status",
            "--type=merge",
            "-p",
            &status,
        ])?;
        Ok(())
    }

    fn spec(&self, name: &str, args: Vec<String>) -> ProcessSpec {
        ProcessSpec::new(name, self.bins.path(name)).args(args)
    }

    async fn start_etcd(&mut self) -> anyhow::Result<()> {
        let client = format!("http://127.0.0.1:{}", self.etcd_port);
        let peer = format!("http://127.0.0.1:{}", self.etcd_peer_port);
        let data = self.dir.path().join("etcd-data");
        let args = vec![
            "--name=test".into(),
            format!("--data-dir={}", data.display()),
            format!("--listen-client-urls={client}"),
            format!("--advertise-client-urls={client}"),
            format!("--listen-peer-urls={peer}"),
            format!("--initial-advertise-peer-urls={peer}"),
            format!("--initial-cluster=test={peer}"),
            // A test cluster: durability across power loss is not what is being tested.
            "--unsafe-no-fsync=true".into(),
            "--log-level=warn".into(),
        ];
        let mut child = ChildProcess::spawn(self.spec("etcd", args), self.dir.path())?;
        let r = wait::http_ok(self.etcd_addr(), "/health", ETCD_READY_TIMEOUT).await;
        if let Err(e) = r {
            bail!("etcd did not become healthy: {e}\n{}", child.describe());
        }
        self.etcd = Some(child);
        Ok(())
    }

    fn apiserver_args(&self) -> Vec<String> {
        let d = self.dir.path();
        let mut args = vec![
            format!("--etcd-servers=http://127.0.0.1:{}", self.etcd_port),
            format!("--bind-address={}", self.opts.bind),
            format!("--advertise-address={}", self.opts.bind),
            format!("--secure-port={}", self.apiserver_port),
            format!("--tls-cert-file={}", self.pki.serving_crt.display()),
            format!("--tls-private-key-file={}", self.pki.serving_key.display()),
            format!("--client-ca-file={}", self.pki.ca_crt.display()),
            format!("--token-auth-file={}", self.pki.token_file.display()),
            "--authorization-mode=Node,RBAC".into(),
            format!("--service-cluster-ip-range={SERVICE_CIDR}"),
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local".into(),
            format!("--service-account-key-file={}", self.pki.sa_pub.display()),
            format!(
                "--service-account-signing-key-file={}",
                self.pki.sa_key.display()
            ),
            format!("--cert-dir={}", d.join("apiserver-certs").display()),
            // Tests compact etcd themselves (to provoke a real 410 on demand).
            "--etcd-compaction-interval=0".into(),
            // A loopback advertise address cannot be an Endpoints address; nothing here
            // needs the `kubernetes` Service's endpoints.
            "--endpoint-reconciler-type=none".into(),
            "--profiling=false".into(),
            "--v=1".into(),
        ];
        args.extend(self.opts.apiserver_args.iter().cloned());
        args
    }

    /// Starts kube-apiserver (again) against the running etcd and waits for `/readyz`.
    pub async fn start_apiserver(&mut self) -> anyhow::Result<()> {
        self.apiserver = None;
        let mut child = ChildProcess::spawn(
            self.spec("kube-apiserver", self.apiserver_args()),
            self.dir.path(),
        )?;
        let r = self.wait_readyz().await;
        if let Err(e) = r {
            bail!(
                "kube-apiserver did not become ready: {e:#}\n{}",
                child.describe()
            );
        }
        self.apiserver = Some(child);
        Ok(())
    }

    async fn wait_readyz(&self) -> anyhow::Result<()> {
        let client = self.client(Identity::Admin).await?;
        let start = Instant::now();
        loop {
            let req = http::Request::get("/readyz").body(Vec::new())?;
            let last = match client.request_text(req).await {
                Ok(body) if body.trim() == "ok" => return Ok(()),
                Ok(body) => body,
                Err(e) => e.to_string(),
            };
            if start.elapsed() > APISERVER_READY_TIMEOUT {
                bail!("no /readyz ok after {:?}; last: {last}", start.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Stops kube-apiserver (SIGTERM, then SIGKILL after [`STOP_GRACE`]); etcd keeps its data.
    pub fn stop_apiserver(&mut self) {
        if let Some(mut c) = self.apiserver.take() {
            c.stop(STOP_GRACE);
        }
    }

    /// Whether kube-apiserver is running.
    pub fn apiserver_running(&self) -> bool {
        self.apiserver.is_some()
    }

    async fn start_controller_manager(&mut self, controllers: &str) -> anyhow::Result<()> {
        let kubeconfig = self.kubeconfig(Identity::Admin);
        let args = vec![
            format!("--kubeconfig={}", kubeconfig.display()),
            format!("--authentication-kubeconfig={}", kubeconfig.display()),
            format!("--authorization-kubeconfig={}", kubeconfig.display()),
            format!("--controllers={controllers}"),
            "--leader-elect=false".into(),
            "--bind-address=127.0.0.1".into(),
            format!("--secure-port={}", free_tcp_port()?),
            format!("--cert-dir={}", self.dir.path().join("kcm-certs").display()),
            format!("--root-ca-file={}", self.pki.ca_crt.display()),
            format!(
                "--service-account-private-key-file={}",
                self.pki.sa_key.display()
            ),
            "--use-service-account-credentials=false".into(),
            "--v=1".into(),
        ];
        let mut child =
            ChildProcess::spawn(self.spec("kube-controller-manager", args), self.dir.path())?;
        // The serviceaccount controller creating `default/default` shows the controllers run.
        let client = self.client(Identity::Admin).await?;
        let sas: kube::Api<k8s_openapi::api::core::v1::ServiceAccount> =
            kube::Api::namespaced(client, "default");
        let start = Instant::now();
        loop {
            if matches!(sas.get_opt("default").await, Ok(Some(_))) {
                break;
            }
            if let Some(status) = child.try_exit_status() {
                bail!(
                    "kube-controller-manager exited ({status})\n{}",
                    child.describe()
                );
            }
            if start.elapsed() > CONTROLLERS_READY_TIMEOUT {
                bail!(
                    "kube-controller-manager: no default ServiceAccount after {:?}\n{}",
                    start.elapsed(),
                    child.describe()
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        self.controller_manager = Some(child);
        Ok(())
    }

    /// The current etcd revision.
    pub async fn etcd_revision(&self) -> anyhow::Result<i64> {
        etcd::revision(self.etcd_addr()).await
    }

    /// Compacts etcd at its current revision (physically), so any watch from an older
    /// resourceVersion that etcd must serve gets `410 Gone`.
    pub async fn compact_etcd(&self) -> anyhow::Result<i64> {
        let rev = self.etcd_revision().await?;
        etcd::compact(self.etcd_addr(), rev).await?;
        Ok(rev)
    }

    /// Adds a Service IP range as a `networking.k8s.io/v1` ServiceCIDR object (GA since 1.33),
    /// e.g. for fixtures whose ClusterIPs lie outside [`SERVICE_CIDR`], and waits until the
    /// allocator reports it ready.
    pub async fn add_service_cidr(&self, name: &str, cidr: &str) -> anyhow::Result<()> {
        self.kubectl_apply(&format!(
            "apiVersion: networking.k8s.io/v1\nkind: ServiceCIDR\nmetadata:\n  name: {name}\n\
             spec:\n  cidrs:\n  - {cidr}\n"
        ))?;
        let start = Instant::now();
        loop {
            let status = self.kubectl_ok([
                "get",
                "servicecidr",
                name,
                "-o",
                "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}",
            ])?;
            if status.trim() == "True" {
                return Ok(());
            }
            if start.elapsed() > CONTROLLERS_READY_TIMEOUT {
                bail!("ServiceCIDR {name} ({cidr}) not ready: {status:?}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
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
