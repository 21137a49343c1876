//! RBAC test support: the kube-dns manifests' RBAC documents, an emulator enforcing them,
//! authorizer requests, and a kube client with a bearer token.

use std::path::{Path, PathBuf};

use kube_emulator::rbac::{Request, ResourceAttributes};
use kube_emulator::{Emulator, EmulatorConfig};
use serde_json::Value;

pub const KUBE_DNS_SA: &str = "system:serviceaccount:kube-system:kube-dns";
pub const ADMIN_TOKEN: &str = "admin-t0ken";

pub fn manifest(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../manifests")
        .join(name)
}

pub fn read_manifest(name: &str) -> anyhow::Result<String> {
    Ok(std::fs::read_to_string(manifest(name))?)
}

/// Only the RBAC documents (and the ServiceAccount) of a manifest.
pub fn rbac_docs(yaml: &str) -> anyhow::Result<Vec<Value>> {
    let docs: Vec<Value> = serde_saphyr::from_multiple(yaml)?;
    Ok(docs
        .into_iter()
        .filter(|d| {
            matches!(
                d["kind"].as_str(),
                Some("ClusterRole" | "ClusterRoleBinding" | "ServiceAccount")
            )
        })
        .collect())
}

pub fn rbac_config() -> EmulatorConfig {
    EmulatorConfig {
        rbac: true,
        token: Some(ADMIN_TOKEN.into()),
        ..EmulatorConfig::default()
    }
}

pub fn attrs(verb: &str, group: &str, resource: &str, ns: &str) -> Request {
    Request::Resource(ResourceAttributes {
        verb: verb.into(),
        group: group.into(),
        version: "v1".into(),
        resource: resource.into(),
        namespace: ns.into(),
        ..ResourceAttributes::default()
    })
}

pub fn client_with_token(emu: &Emulator, token: Option<&str>) -> anyhow::Result<kube::Client> {
    let mut config = kube::Config::new(emu.url().parse()?);
    config.default_namespace = "default".into();
    config.auth_info.token = token.map(|t| t.to_string().into());
    Ok(kube::Client::try_from(config)?)
}

pub fn api_status(e: kube::Error) -> anyhow::Result<(u16, String, String)> {
    match e {
        kube::Error::Api(s) => Ok((s.code, s.reason.clone(), s.message.clone())),
        other => anyhow::bail!("expected an API error, got {other}"),
    }
}
