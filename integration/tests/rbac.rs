//! Authentication and RBAC in the API emulator (threat row 25, "RBAC too broad, or 403"):
//! the kube-dns manifests' ClusterRoles and bindings are enforced. Checked three ways:
//! directly against the authorizer, over HTTP with a service-account token (401/403 bodies
//! as kube-apiserver), through `kubectl auth can-i --as=system:serviceaccount:kube-system:kube-dns`
//! (skipped without kubectl/openssl: kubectl sends bearer tokens only over HTTPS), and end to
//! end with the real `kubedns` binary running under the legacy role: it gets a real 403 on
//! EndpointSlices, falls back to Endpoints and serves (skipped until the binaries are built).
//! Access reviews and impersonation: `rbac_access_reviews.rs`.

mod common;

use common::rbac::*;

use integration::controlplane::bins::{kubectl_need, kubectl_path};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use hickory_proto::rr::RecordType;
use integration::harness::bins::{binary_path, skip_without_binaries};
use integration::harness::dns::{DnsClient, Transport, answer_ips};
use integration::harness::objects::{Addr, endpoints, service};
use integration::harness::ports::{free_dns_port, free_tcp_port};
use integration::harness::process::{ChildProcess, ProcessSpec};
use integration::harness::stack::{Stack, kubedns_args};
use integration::harness::wait;
use k8s_openapi::api::core::v1::{Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::Api;
use kube_emulator::{Emulator, EmulatorConfig, UserInfo, tls};
use serverkit::require::Need;

/// (verb, group, resource, namespace, expected) for the kube-dns service account under the
/// legacy `system:kube-dns` ClusterRole.
const LEGACY_EXPECTATIONS: &[(&str, &str, &str, &str, bool)] = &[
    ("list", "", "services", "", true),
    ("watch", "", "endpoints", "", true),
    ("list", "", "services", "default", true),
    ("get", "", "secrets", "default", false),
    ("create", "", "services", "default", false),
    ("delete", "", "pods", "default", false),
    ("get", "", "configmaps", "kube-system", false),
    ("list", "discovery.k8s.io", "endpointslices", "", false),
];

#[tokio::test]
async fn authorizer_enforces_the_kube_dns_manifests() -> anyhow::Result<()> {
    let emu = Emulator::start(rbac_config()).await?;
    let report = emu.apply_yaml(&read_manifest("kube-dns.yaml")?)?;
    assert!(
        report.skipped.iter().all(|s| s.starts_with("Deployment/")),
        "{report:?}"
    );
    let sa = UserInfo::service_account("kube-system", "kube-dns");
    for &(verb, group, resource, ns, want) in LEGACY_EXPECTATIONS {
        let d = emu.authorize(&sa, &attrs(verb, group, resource, ns));
        assert_eq!(
            d.allowed, want,
            "{verb} {resource}.{group} in {ns:?}: {d:?}"
        );
    }
    let slices = attrs("list", "discovery.k8s.io", "endpointslices", "");
    let watch_slices = attrs("watch", "discovery.k8s.io", "endpointslices", "");
    emu.apply_yaml(&read_manifest("rbac-endpointslices.yaml")?)?;
    let d = emu.authorize(&sa, &slices);
    assert!(d.allowed, "{d:?}");
    assert!(d.reason.contains("kube-dns-rs:endpointslices"), "{d:?}");
    assert!(emu.authorize(&sa, &watch_slices).allowed);
    // Still nothing more than list/watch.
    assert!(
        !emu.authorize(
            &sa,
            &attrs("delete", "discovery.k8s.io", "endpointslices", "default")
        )
        .allowed
    );
    // Another service account is not covered by the binding.
    let other = UserInfo::service_account("default", "default");
    assert!(
        !emu.authorize(&other, &attrs("list", "", "services", ""))
            .allowed
    );
    Ok(())
}

#[tokio::test]
async fn service_account_token_gets_401_403_like_kube_apiserver() -> anyhow::Result<()> {
    let emu = Emulator::start(rbac_config()).await?;
    for d in rbac_docs(&read_manifest("kube-dns.yaml")?)? {
        emu.apply(d)?;
    }
    let token = emu.service_account_token("kube-system", "kube-dns");
    let sa = client_with_token(&emu, Some(&token))?;
    let services: Api<Service> = Api::all(sa.clone());
    assert!(!services.list(&Default::default()).await?.items.is_empty());

    let slices: Api<EndpointSlice> = Api::all(sa.clone());
    let (code, reason, message) =
        api_status(slices.list(&Default::default()).await.expect_err("403"))?;
    assert_eq!((code, reason.as_str()), (403, "Forbidden"));
    assert_eq!(
        message,
        format!(
            "endpointslices.discovery.k8s.io is forbidden: User \"{KUBE_DNS_SA}\" cannot list \
             resource \"endpointslices\" in API group \"discovery.k8s.io\" at the cluster scope"
        )
    );
    let secrets: Api<Secret> = Api::namespaced(sa.clone(), "kube-system");
    let (code, _, message) = api_status(secrets.get("x").await.expect_err("403"))?;
    assert_eq!(code, 403);
    assert_eq!(
        message,
        format!(
            "secrets \"x\" is forbidden: User \"{KUBE_DNS_SA}\" cannot get resource \"secrets\" \
             in API group \"\" in the namespace \"kube-system\""
        )
    );
    let create = services
        .create(
            &Default::default(),
            &serde_json::from_value(service("default", "evil", "", &[("dns", 53, "UDP")]))?,
        )
        .await;
    assert_eq!(api_status(create.expect_err("403"))?.0, 403);

    // No token, a wrong token → 401 Unauthorized.
    for t in [None, Some("wrong")] {
        let api: Api<Service> = Api::all(client_with_token(&emu, t)?);
        let (code, reason, _) = api_status(api.list(&Default::default()).await.expect_err("401"))?;
        assert_eq!((code, reason.as_str()), (401, "Unauthorized"), "{t:?}");
    }

    // The admin token (system:masters) may do anything; the added role flips slices to allowed.
    let admin = client_with_token(&emu, Some(ADMIN_TOKEN))?;
    let admin_secrets: Api<Secret> = Api::namespaced(admin, "kube-system");
    assert!(
        admin_secrets
            .list(&Default::default())
            .await?
            .items
            .is_empty()
    );
    emu.apply_yaml(&read_manifest("rbac-endpointslices.yaml")?)?;
    slices.list(&Default::default()).await?;

    // The fault-injected 403 still works on top of RBAC.
    emu.forbid("services");
    let (code, ..) = api_status(services.list(&Default::default()).await.expect_err("403"))?;
    assert_eq!(code, 403);
    emu.allow("services");
    services.list(&Default::default()).await?;
    Ok(())
}

/// `kubectl auth can-i --as=<sa> <args>`: Some(true) for `yes` (exit 0), Some(false) for
/// `no` (exit 1), error otherwise.
fn can_i(kubeconfig: &Path, home: &Path, args: &[&str]) -> anyhow::Result<bool> {
    let out = Command::new(kubectl_path())
        .arg(format!("--kubeconfig={}", kubeconfig.display()))
        .args(["auth", "can-i", &format!("--as={KUBE_DNS_SA}")])
        .args(args)
        .env("HOME", home)
        .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout).trim().to_string();
    match (out.status.code(), stdout.as_str()) {
        (Some(0), "yes") => Ok(true),
        (Some(1), "no") => Ok(false),
        _ => anyhow::bail!(
            "kubectl auth can-i {args:?}: exit {:?}, stdout {stdout:?}, stderr {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_auth_can_i_as_kube_dns() -> anyhow::Result<()> {
    serverkit::require!(kubectl_need(), Need::Tool("openssl"),);
    // kubectl sends bearer tokens only over HTTPS.
    let material = tls::generate_self_signed()?;
    let emu = Emulator::start(EmulatorConfig {
        tls: Some(material),
        manifests: vec![manifest("kube-dns.yaml")],
        ..rbac_config()
    })
    .await?;
    let dir = tempfile::tempdir()?;
    let kubeconfig = emu.write_kubeconfig(dir.path())?;
    let home = dir.path().to_path_buf();
    let check = |args: &'static [&'static str]| {
        let (k, h) = (kubeconfig.clone(), home.clone());
        tokio::task::block_in_place(move || can_i(&k, &h, args))
    };
    assert!(check(&["list", "services"])?, "list services");
    assert!(check(&["watch", "endpoints"])?, "watch endpoints");
    assert!(
        check(&["list", "services", "--all-namespaces"])?,
        "list services -A"
    );
    assert!(!check(&["get", "secrets"])?, "get secrets");
    assert!(!check(&["create", "services"])?, "create services");
    assert!(!check(&["delete", "pods"])?, "delete pods");
    assert!(
        !check(&["list", "endpointslices.discovery.k8s.io"])?,
        "list endpointslices before rbac-endpointslices.yaml"
    );
    let applied = tokio::task::block_in_place(|| {
        Command::new(kubectl_path())
            .arg(format!("--kubeconfig={}", kubeconfig.display()))
            .args(["apply", "-f"])
            .arg(manifest("rbac-endpointslices.yaml"))
            .env("HOME", &home)
            .output()
    })?;
    assert!(
        applied.status.success(),
        "kubectl apply: {}",
        String::from_utf8_lossy(&applied.stderr)
    );
    assert!(
        check(&["list", "endpointslices.discovery.k8s.io"])?,
        "list endpointslices after rbac-endpointslices.yaml"
    );
    assert!(check(&["watch", "endpointslices.discovery.k8s.io"])?);
    assert!(!check(&["get", "secrets"])?, "get secrets still no");
    Ok(())
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubedns_under_the_legacy_role_falls_back_to_endpoints() -> anyhow::Result<()> {
    if skip_without_binaries() {
        return Ok(());
    }
    let emu = Emulator::start(rbac_config()).await?;
    for d in rbac_docs(&read_manifest("kube-dns.yaml")?)? {
        emu.apply(d)?;
    }
    let token = emu.service_account_token("kube-system", "kube-dns");
    let logs = tempfile::tempdir()?;
    let kubeconfig = emu.write_kubeconfig_with_token(logs.path(), &token)?;
    let (dns_port, healthz_port, metrics_port) =
        (free_dns_port()?, free_tcp_port()?, free_tcp_port()?);
    let mut args = kubedns_args("cluster.local.", dns_port, healthz_port, &emu.url());
    args.retain(|a| !a.starts_with("--kube-master-url="));
    args.push(format!("--kubecfg-file={}", kubeconfig.display()));
    let spec = ProcessSpec::new("kubedns", binary_path("kubedns")?)
        .args(args)
        .env("PROMETHEUS_PORT", metrics_port.to_string())
        .env(
            "RUST_LOG",
            std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()),
        );
    let mut kubedns = ChildProcess::spawn(spec, logs.path())?;
    let ready = wait::http_ok(
        loopback(healthz_port),
        "/readiness",
        Duration::from_secs(30),
    )
    .await;
    if let Err(e) = ready {
        anyhow::bail!("kubedns not ready: {e}\n{}", kubedns.describe());
    }
    // The legacy role allows Endpoints only: kubedns must have picked them.
    let metrics =
        wait::http_ok(loopback(metrics_port), "/metrics", Duration::from_secs(10)).await?;
    assert!(
        metrics.contains("kubedns_endpoint_source{source=\"endpoints\"} 1"),
        "endpoint source metric:\n{}\n{}",
        metrics
            .lines()
            .filter(|l| l.contains("endpoint_source"))
            .collect::<Vec<_>>()
            .join("\n"),
        kubedns.log_tail(40)
    );
    assert!(
        kubedns
            .log()
            .contains("endpointslices.discovery.k8s.io is forbidden"),
        "kubedns should have seen the RBAC 403:\n{}",
        kubedns.log_tail(40)
    );

    // A headless Service: its A records come from the endpoints, i.e. from core/v1 Endpoints
    // (the emulator mirrors them into EndpointSlices kubedns may not read).
    emu.apply(service("default", "web", "None", &[("http", 80, "TCP")]))?;
    emu.apply(endpoints(
        "default",
        "web",
        &[Addr::ready("10.1.0.7"), Addr::ready("10.1.0.8")],
        &[("http", 80, "TCP")],
    ))?;
    let client = DnsClient::new(loopback(dns_port));
    let want = |m: &hickory_proto::op::Message| {
        let mut ips: Vec<String> = answer_ips(m).iter().map(|i| i.to_string()).collect();
        ips.sort();
        ips == ["10.1.0.7", "10.1.0.8"]
    };
    let r = Stack::wait_for_answer(
        &client,
        "web.default.svc.cluster.local.",
        RecordType::A,
        Transport::Udp,
        Duration::from_secs(15),
        want,
    )
    .await;
    if let Err(e) = r {
        anyhow::bail!("{e}\n{}", kubedns.describe());
    }

    // Granting EndpointSlices later breaks nothing: kubedns keeps serving (and updates).
    emu.apply_yaml(&read_manifest("rbac-endpointslices.yaml")?)?;
    emu.apply(endpoints(
        "default",
        "web",
        &[Addr::ready("10.1.0.9")],
        &[("http", 80, "TCP")],
    ))?;
    let r = Stack::wait_for_answer(
        &client,
        "web.default.svc.cluster.local.",
        RecordType::A,
        Transport::Udp,
        Duration::from_secs(15),
        |m| {
            answer_ips(m)
                .iter()
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                == ["10.1.0.9"]
        },
    )
    .await;
    if let Err(e) = r {
        anyhow::bail!("{e}\n{}", kubedns.describe());
    }
    assert!(kubedns.try_exit_status().is_none(), "kubedns exited");
    Ok(())
}
