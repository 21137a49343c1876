//! What a running control plane exposes: its directory and binaries, the API server and etcd
//! addresses, the CA certificate, each identity's token and kubeconfig, and kube clients.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use super::{ControlPlane, Identity, K8sBinaries};

impl ControlPlane {
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
}
