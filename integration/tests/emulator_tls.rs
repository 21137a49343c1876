//! HTTPS with a generated self-signed certificate and a bearer token: a kube-rs client
//! (directly and through a written kubeconfig) and kubectl (`--kubeconfig`) work; plain HTTP
//! to the TLS port and a missing token are rejected. Needs `openssl` and `kubectl`.

mod common;

use common::service_names;
use integration::controlplane::bins::{kubectl_need, kubectl_path};
use std::process::Command;

use k8s_openapi::api::core::v1::Service;
use kube::Api;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube_emulator::{Emulator, EmulatorConfig, tls};
use serverkit::require::Need;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_token_for_kube_rs_and_kubectl() -> anyhow::Result<()> {
    serverkit::require!(Need::Tool("openssl"), kubectl_need());
    let material = tls::generate_self_signed()?;
    let cfg = EmulatorConfig {
        tls: Some(material),
        token: Some("t0ken".into()),
        ..EmulatorConfig::default()
    };
    let emu = Emulator::start(cfg).await?;
    assert!(emu.url().starts_with("https://127.0.0.1:"));

    let names = service_names(emu.kube_client()?).await?;
    assert_eq!(names, vec!["kubernetes".to_string()]);

    let dir = tempfile::tempdir()?;
    let kubeconfig = emu.write_kubeconfig(dir.path())?;
    let kc = Kubeconfig::read_from(&kubeconfig)?;
    let config = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default()).await?;
    let api: Api<Service> = Api::namespaced(kube::Client::try_from(config)?, "default");
    assert!(api.get("kubernetes").await.is_ok());

    // No token → 401 (through a client that trusts the certificate but sends no token).
    let mut no_token = kube::Config::new(emu.url().parse()?);
    no_token.root_cert = Some(
        tls::cert_ders(
            emu.shared()
                .cfg
                .tls
                .as_ref()
                .ok_or_else(|| anyhow::anyhow!("tls"))?,
        )?
        .into_iter()
        .map(|d| d.to_vec())
        .collect(),
    );
    let api: Api<Service> = Api::all(kube::Client::try_from(no_token)?);
    let err = api
        .list(&Default::default())
        .await
        .expect_err("must be unauthorized");
    assert!(format!("{err:?}").contains("401"), "{err:?}");

    // Plain HTTP to the TLS port does not get an API answer.
    let plain = integration::harness::wait::http_get(emu.addr(), "/version").await;
    assert!(plain.map(|(code, _)| code).unwrap_or(0) != 200);

    let out = tokio::task::block_in_place(|| {
        Command::new(kubectl_path())
            .arg(format!("--kubeconfig={}", kubeconfig.display()))
            .args(["get", "svc", "-o", "name"])
            .output()
    })?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "kubectl over https failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("service/kubernetes"), "{stdout}");
    Ok(())
}
