//! API client configuration, following legacy kube-dns `newKubeClient`:
//!
//! * only `--kube-master-url`: that URL, no credentials (a plain `http://` URL works, which is
//!   how the API emulator and `kubectl proxy` are used);
//! * `--kubecfg-file` (optionally with `--kube-master-url` overriding its server);
//! * neither: the in-cluster service account, else `$KUBECONFIG` / `~/.kube/config`.

use std::path::Path;

use kube::Config;
use kube::config::{KubeConfigOptions, Kubeconfig};

/// Why no client configuration could be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientConfigError {
    /// `--kube-master-url` does not parse as a URI.
    #[error("invalid --kube-master-url {url:?}: {reason}")]
    Url {
        /// The URL.
        url: String,
        /// Parser message.
        reason: String,
    },
    /// The kubeconfig file could not be used.
    #[error("cannot use kubeconfig {path}: {source}")]
    Kubeconfig {
        /// The file.
        path: String,
        /// kube's error.
        #[source]
        source: kube::config::KubeconfigError,
    },
    /// Neither in-cluster nor a local kubeconfig is available.
    #[error(
        "no API configuration: not in a cluster ({in_cluster}) and no usable kubeconfig ({kubeconfig})"
    )]
    Infer {
        /// In-cluster failure.
        in_cluster: String,
        /// Kubeconfig failure.
        kubeconfig: String,
    },
}

fn parse_url(url: &str) -> Result<Config, ClientConfigError> {
    match url.parse() {
        Ok(uri) => Ok(Config::new(uri)),
        Err(e) => Err(ClientConfigError::Url {
            url: url.to_string(),
            reason: e.to_string(),
        }),
    }
}

/// Build the client configuration from the flags.
pub async fn client_config(
    master_url: Option<&str>,
    kubecfg_file: Option<&Path>,
) -> Result<Config, ClientConfigError> {
    match (master_url, kubecfg_file) {
        (Some(url), None) => parse_url(url),
        (url, Some(path)) => {
            let kc_err = |source| ClientConfigError::Kubeconfig {
                path: path.display().to_string(),
                source,
            };
            let kubeconfig = Kubeconfig::read_from(path).map_err(kc_err)?;
            let mut cfg = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
                .await
                .map_err(kc_err)?;
            if let Some(url) = url {
                cfg.cluster_url = parse_url(url)?.cluster_url;
            }
            Ok(cfg)
        }
        (None, None) => match Config::incluster() {
            Ok(cfg) => Ok(cfg),
            Err(in_cluster) => Config::from_kubeconfig(&KubeConfigOptions::default())
                .await
                .map_err(|kubeconfig| ClientConfigError::Infer {
                    in_cluster: in_cluster.to_string(),
                    kubeconfig: kubeconfig.to_string(),
                }),
        },
    }
}
