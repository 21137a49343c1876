//! The control plane's processes: etcd, kube-apiserver (its flags, start/stop/restart and
//! `/readyz` wait) and kube-controller-manager, plus etcd revision and compaction.

use std::time::{Duration, Instant};

use anyhow::bail;

use super::{
    APISERVER_READY_TIMEOUT, CONTROLLERS_READY_TIMEOUT, ControlPlane, ETCD_READY_TIMEOUT, Identity,
    SERVICE_CIDR, STOP_GRACE, etcd,
};
use crate::harness::ports::free_tcp_port;
use crate::harness::process::{ChildProcess, ProcessSpec};
use crate::harness::wait;

impl ControlPlane {
    fn spec(&self, name: &str, args: Vec<String>) -> ProcessSpec {
        ProcessSpec::new(name, self.bins.path(name)).args(args)
    }

    pub(super) async fn start_etcd(&mut self) -> anyhow::Result<()> {
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

    pub(super) async fn start_controller_manager(
        &mut self,
        controllers: &str,
    ) -> anyhow::Result<()> {
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
}
