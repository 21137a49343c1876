//! Key material for a test control plane, generated with the `openssl` command-line tool (no
//! key lives in the source tree): a CA, the kube-apiserver serving certificate signed by it
//! (SANs: loopback, `localhost`, the `kubernetes` Service names and its ClusterIP), a
//! service-account signing key pair, the static token file, and one kubeconfig per identity.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::identity::Identity;

/// Validity of the generated certificates, in days.
pub const CERT_DAYS: u32 = 3650;

/// Errors generating key material.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// `openssl` could not run or failed.
    #[error("openssl {step}: {message}")]
    Openssl {
        /// Which step.
        step: &'static str,
        /// stderr or the spawn error.
        message: String,
    },
    /// A file could not be written.
    #[error("{path}: {source}")]
    Io {
        /// Path.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
}

/// Paths of the generated material.
#[derive(Debug, Clone)]
pub struct Pki {
    /// CA certificate (PEM): what clients trust, and the in-cluster `ca.crt`.
    pub ca_crt: PathBuf,
    /// CA key.
    pub ca_key: PathBuf,
    /// Serving certificate.
    pub serving_crt: PathBuf,
    /// Serving key.
    pub serving_key: PathBuf,
    /// Service-account signing key (private).
    pub sa_key: PathBuf,
    /// Service-account verification key (public).
    pub sa_pub: PathBuf,
    /// `--token-auth-file`.
    pub token_file: PathBuf,
}

fn openssl(step: &'static str, args: &[&str], dir: &Path) -> Result<(), PkiError> {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .map_err(|e| PkiError::Openssl {
            step,
            message: format!("cannot run `openssl`: {e}"),
        })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(PkiError::Openssl {
            step,
            message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

fn write(path: PathBuf, text: &str) -> Result<PathBuf, PkiError> {
    std::fs::write(&path, text).map_err(|source| PkiError::Io {
        path: path.clone(),
        source,
    })?;
    Ok(path)
}

/// The serving certificate's subjectAltNames: every name a client of the test API server uses
/// (loopback for the harness, the `kubernetes` Service names and ClusterIP for in-cluster
/// clients, `extra_ips` for e.g. a veth address of a netns pod).
pub fn serving_sans(service_ip: &str, extra_ips: &[String]) -> String {
    let mut sans = String::from(
        "IP:127.0.0.1,IP:::1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,\
         DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local",
    );
    let _ = write!(sans, ",IP:{service_ip}");
    for ip in extra_ips {
        let _ = write!(sans, ",IP:{ip}");
    }
    sans
}

impl Pki {
    /// Generates everything under `dir`, with the tokens of `identities`.
    pub fn generate(
        dir: &Path,
        service_ip: &str,
        extra_ips: &[String],
        identities: &[(Identity, String)],
    ) -> Result<Pki, PkiError> {
        let days = CERT_DAYS.to_string();
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        let mut ca = vec!["req", "-x509"];
        ca.extend(ec);
        ca.extend([
            "-days",
            &days,
            "-subj",
            "/CN=kube-dns-rs-test-ca",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
        ]);
        openssl("CA", &ca, dir)?;
        let mut csr = vec!["req"];
        csr.extend(ec);
        csr.extend([
            "-subj",
            "/CN=kube-apiserver",
            "-keyout",
            "apiserver.key",
            "-out",
            "apiserver.csr",
        ]);
        openssl("serving key", &csr, dir)?;
        write(
            dir.join("apiserver.ext"),
            &format!(
                "subjectAltName={}\nbasicConstraints=critical,CA:FALSE\n\
                 keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
                serving_sans(service_ip, extra_ips)
            ),
        )?;
        openssl(
            "serving certificate",
            &[
                "x509",
                "-req",
                "-in",
                "apiserver.csr",
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                &days,
                "-extfile",
                "apiserver.ext",
                "-out",
                "apiserver.crt",
            ],
            dir,
        )?;
        openssl(
            "service-account key",
            &["genrsa", "-out", "sa.key", "2048"],
            dir,
        )?;
        openssl(
            "service-account public key",
            &["rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub"],
            dir,
        )?;
        // token,user,uid,"group1,group2" (kube-apiserver --token-auth-file format).
        let mut tokens = String::new();
        for (who, token) in identities {
            let _ = writeln!(
                tokens,
                "{token},{},{},\"{}\"",
                who.user(),
                who.uid(),
                who.groups().join(",")
            );
        }
        let token_file = write(dir.join("tokens.csv"), &tokens)?;
        Ok(Pki {
            ca_crt: dir.join("ca.crt"),
            ca_key: dir.join("ca.key"),
            serving_crt: dir.join("apiserver.crt"),
            serving_key: dir.join("apiserver.key"),
            sa_key: dir.join("sa.key"),
            sa_pub: dir.join("sa.pub"),
            token_file,
        })
    }
}

/// Writes a kubeconfig for `server` trusting `ca` with a bearer `token`.
pub fn write_kubeconfig(
    path: &Path,
    server: &str,
    ca: &Path,
    token: &str,
    namespace: &str,
) -> Result<PathBuf, PkiError> {
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: test\n  cluster:\n    server: {server}\n    \
         certificate-authority: {ca}\nusers:\n- name: test\n  user:\n    token: {token}\n\
         contexts:\n- name: test\n  context:\n    cluster: test\n    user: test\n    \
         namespace: {namespace}\ncurrent-context: test\n",
        ca = ca.display()
    );
    write(path.to_path_buf(), &text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sans_cover_loopback_service_names_and_extras() {
        let s = serving_sans("10.0.0.1", &["10.99.0.1".into()]);
        for want in [
            "IP:127.0.0.1",
            "IP:::1",
            "DNS:kubernetes.default.svc.cluster.local",
            "IP:10.0.0.1",
            "IP:10.99.0.1",
        ] {
            assert!(s.split(',').any(|x| x == want), "{want} missing from {s}");
        }
    }
}
