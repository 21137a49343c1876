//! Optional HTTPS for the emulator: a self-signed certificate for `127.0.0.1`/`localhost`
//! (generated with the `openssl` command-line tool, so no private key lives in the source
//! tree) or one supplied by the caller, served with rustls (ring provider, HTTP/1.1 ALPN).
//! Also writes a kubeconfig (server URL, CA file, bearer token) for clients that need
//! in-cluster-style configuration.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{self, ServerConfig};

/// Validity of generated certificates, in days.
pub const SELF_SIGNED_DAYS: u32 = 3650;

/// PEM certificate chain and private key.
#[derive(Clone)]
pub struct TlsMaterial {
    /// Certificate chain (PEM); the first certificate is the server's.
    pub cert_pem: String,
    /// Private key (PEM, PKCS#8 / SEC1 / PKCS#1).
    pub key_pem: String,
}

impl std::fmt::Debug for TlsMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsMaterial")
            .field("cert_pem", &self.cert_pem)
            .field("key_pem", &"<redacted>")
            .finish()
    }
}

/// TLS setup errors.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// `openssl` could not be run or failed.
    #[error("generating a self-signed certificate with openssl: {0}")]
    Openssl(String),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// Path.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The PEM data is unusable.
    #[error("invalid certificate or key: {0}")]
    Pem(String),
    /// rustls rejected the configuration.
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> TlsError + '_ {
    move |source| TlsError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Generates a self-signed P-256 certificate valid for `127.0.0.1`, `::1` and `localhost`.
pub fn generate_self_signed() -> Result<TlsMaterial, TlsError> {
    let dir = tempfile::tempdir().map_err(|e| TlsError::Openssl(e.to_string()))?;
    let (key, cert) = (dir.path().join("key.pem"), dir.path().join("cert.pem"));
    let out = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ])
        .arg("-days")
        .arg(SELF_SIGNED_DAYS.to_string())
        .args(["-subj", "/CN=kube-apiserver-emulator"])
        .args([
            "-addext",
            "subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost",
        ])
        // An end-entity certificate that is its own trust anchor (webpki refuses CA:TRUE
        // certificates as server certificates).
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .args(["-addext", "keyUsage=critical,digitalSignature"])
        .args(["-addext", "extendedKeyUsage=serverAuth"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .map_err(|e| {
            TlsError::Openssl(format!(
                "cannot run `openssl` ({e}); install it or pass a certificate and key"
            ))
        })?;
    if !out.status.success() {
        return Err(TlsError::Openssl(
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ));
    }
    Ok(TlsMaterial {
        cert_pem: std::fs::read_to_string(&cert).map_err(io(&cert))?,
        key_pem: std::fs::read_to_string(&key).map_err(io(&key))?,
    })
}

/// Reads a certificate and key from PEM files.
pub fn load(cert: &Path, key: &Path) -> Result<TlsMaterial, TlsError> {
    Ok(TlsMaterial {
        cert_pem: std::fs::read_to_string(cert).map_err(io(cert))?,
        key_pem: std::fs::read_to_string(key).map_err(io(key))?,
    })
}

/// DER certificates of the chain.
pub fn cert_ders(m: &TlsMaterial) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(m.cert_pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::Pem(e.to_string()))?;
    if certs.is_empty() {
        return Err(TlsError::Pem("no certificate in PEM data".into()));
    }
    Ok(certs)
}

/// A rustls server configuration (HTTP/1.1 only).
pub fn server_config(m: &TlsMaterial) -> Result<Arc<ServerConfig>, TlsError> {
    let key = PrivateKeyDer::from_pem_slice(m.key_pem.as_bytes())
        .map_err(|e| TlsError::Pem(e.to_string()))?;
    let mut cfg =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(cert_ders(m)?, key)?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// Writes `<dir>/kubeconfig` (and `<dir>/ca.crt` when `ca_pem` is given) pointing at `server`.
pub fn write_kubeconfig(
    dir: &Path,
    server: &str,
    ca_pem: Option<&str>,
    token: Option<&str>,
) -> Result<PathBuf, TlsError> {
    let mut cluster = format!("    server: {server}\n");
    if let Some(ca) = ca_pem {
        let ca_path = dir.join("ca.crt");
        std::fs::write(&ca_path, ca).map_err(io(&ca_path))?;
        cluster.push_str(&format!(
            "    certificate-authority: {}\n",
            ca_path.display()
        ));
    }
    let user = match token {
        Some(t) => format!("    token: {t}\n"),
        None => "    {}\n".to_string(),
    };
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: emulator\n  cluster:\n{cluster}users:\n- name: emulator\n  user:\n{user}\
         contexts:\n- name: emulator\n  context:\n    cluster: emulator\n    user: emulator\n    namespace: default\ncurrent-context: emulator\n"
    );
    let path = dir.join("kubeconfig");
    std::fs::write(&path, text).map_err(io(&path))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_garbage_pem() {
        let m = TlsMaterial {
            cert_pem: "nope".into(),
            key_pem: "secret-key".into(),
        };
        assert!(cert_ders(&m).is_err());
        assert!(server_config(&m).is_err());
        assert!(
            !format!("{m:?}").contains("secret-key"),
            "key must be redacted in Debug"
        );
    }

    #[test]
    fn kubeconfig_shape() {
        let dir = tempfile::tempdir().expect("dir");
        let p = write_kubeconfig(dir.path(), "https://127.0.0.1:1", Some("PEM"), Some("tok"))
            .expect("write");
        let text = std::fs::read_to_string(p).expect("read");
        let v: serde_json::Value = serde_saphyr::from_str(&text).expect("yaml");
        assert_eq!(v["clusters"][0]["cluster"]["server"], "https://127.0.0.1:1");
        assert_eq!(v["users"][0]["user"]["token"], "tok");
        assert!(dir.path().join("ca.crt").exists());
    }
}
