//! One drop-in run: a manifest's pod started unchanged in a network namespace against the
//! real control plane (kube-apiserver on the host end of the veth, reached with in-cluster
//! configuration as kubelet provides it: `KUBERNETES_SERVICE_HOST`/`_PORT` and a bound
//! service-account token, CA and namespace at the service-account mount) and fake node
//! resolvers, each container with the uid, groups and
//! capabilities its `securityContext` and image give it ([`super::privilege`]), then probes,
//! the containers' privileges, DNS answers over UDP and TCP (dnsmasq-rs on :53 as a non-root
//! user), a live ConfigMap change under continuous queries ([`super::change`]), and a clean
//! teardown.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use integration::controlplane::bins::control_plane_needs;
use integration::controlplane::{ControlPlane, ControlPlaneOptions, ENDPOINT_CONTROLLERS, Release};
use integration::harness::{binary_path, objects, wait};
use tokio::time::Instant;

use super::change::config_change;
use super::client::Expect;
use super::configvol::{ConfigMapDir, config_map_data};
use super::fakedns::{FakeDns, FakeRecord};
use super::fixture::*;
use super::netns::PodNet;
use super::pod::{binary_for_image, parse_documents, pod_template};
use super::privilege::PodPrivileges;
use super::running::{InCluster, Pod, config_use, expect_both, spawn_container};
use serverkit::require::Need;

/// Drop-in runs share host resources (CPU, port 53 per veth); run one at a time so the
/// zero-failed-queries check is not a test of the machine's load.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(".."))
}

/// Runs the drop-in scenario for `manifest` (relative to the repository root) in /30 `slot`.
pub async fn run(manifest: &str, slot: u8) -> anyhow::Result<()> {
    let _serial = SERIAL.lock().await;
    let mut needs = vec![Need::Root, Need::NetNs, Need::Tool("setpriv")];
    needs.extend(control_plane_needs(Release::Primary));
    if !serverkit::require::need(&needs) {
        return Ok(());
    }
    let root = repo_root();
    let path = root.join(manifest);
    let docs = parse_documents(&path)?;
    let template = pod_template(&docs).with_context(|| manifest.to_string())?;
    println!(
        "{manifest}: {} in {}",
        template.workload, template.namespace
    );
    if template.dns_policy.as_deref() != Some("Default") {
        bail!(
            "{manifest}: dnsPolicy is {:?}; the kube-dns pod must use dnsPolicy: Default",
            template.dns_policy
        );
    }
    // Resolve every binary first, so a missing build fails before any setup.
    for c in &template.containers {
        let b = binary_for_image(&c.image).with_context(|| format!("container {}", c.name))?;
        binary_path(b)
            .map_err(|e| anyhow::anyhow!("container {} (image {}): {e}", c.name, c.image))?;
    }
    let uses = config_use(&template);
    let privileges = PodPrivileges::plan(&template)?;

    let net = PodNet::create(slot)?;
    println!(
        "  pod netns {} ip {} (host {})",
        net.name, net.pod_ip, net.host_ip
    );
    let upstream1 = FakeDns::start(
        SocketAddr::from((net.host_ip, DNS_PORT)),
        &[
            FakeRecord {
                name: UPSTREAM_NAME,
                ip: UPSTREAM_IP,
                ttl: 30,
            },
            FakeRecord {
                name: WHICH_UPSTREAM,
                ip: UPSTREAM1_ID,
                ttl: 0,
            },
        ],
    )
    .await?;
    let upstream2 = FakeDns::start(
        SocketAddr::from((net.host_ip, 0)),
        &[
            FakeRecord {
                name: UPSTREAM_NAME,
                ip: UPSTREAM_IP,
                ttl: 30,
            },
            FakeRecord {
                name: WHICH_UPSTREAM,
                ip: UPSTREAM2_ID,
                ttl: 0,
            },
        ],
    )
    .await?;
    let stub = FakeDns::start(
        SocketAddr::from((net.host_ip, 0)),
        &[
            FakeRecord {
                name: STUB_NAME,
                ip: STUB_IP,
                ttl: 30,
            },
            FakeRecord {
                name: STUB_NAME2,
                ip: STUB_IP2,
                ttl: 30,
            },
        ],
    )
    .await?;
    net.write_resolv_conf(&format!("nameserver {}\n", net.host_ip))?;

    let api = ControlPlane::start(ControlPlaneOptions {
        bind: IpAddr::V4(net.host_ip),
        extra_sans: vec![net.host_ip.to_string()],
        controllers: Some(ENDPOINT_CONTROLLERS),
        ..ControlPlaneOptions::default()
    })
    .await
    .context("starting the control plane on the host veth address")?;
    println!("  control plane: {} at {}", api.versions(), api.url());
    load_cluster(&api, &path, &root, &template).await?;
    let dirs = tempfile::Builder::new()
        .prefix("kube-dns-rs-dropin-")
        .tempdir()?;
    let in_cluster = service_account_volume(&api, &template, dirs.path(), net.host_ip.into())?;
    let logs = dirs.path().join("logs");
    std::fs::create_dir_all(&logs)?;

    // Initial ConfigMap: a stub domain (used by dnsmasq-rs in the nanny dialect; validated
    // and ignored by kubedns).
    let initial: BTreeMap<String, String> = [(
        "stubDomains".to_string(),
        format!(r#"{{"{STUB_DOMAIN}": ["{}"]}}"#, stub.addr),
    )]
    .into();
    let mut volume_dirs = Vec::new();
    let mut volumes = Vec::new();
    for v in &template.config_map_volumes {
        let dir = ConfigMapDir::create(&dirs.path().join(format!("volume-{}", v.volume)))?;
        volume_dirs.push((
            v.volume.clone(),
            v.config_map.clone(),
            dir.path().to_path_buf(),
        ));
        volumes.push((v.config_map.clone(), dir));
    }
    let mut pod = Pod {
        running: Vec::new(),
        net,
        volumes,
        api,
        namespace: template.namespace.clone(),
        upstream1,
        upstream2,
        stub,
        _dirs: dirs,
    };
    if let Some(name) = &uses.name {
        pod.set_config_map(name, &initial)?;
    } else {
        println!(
            "  note: no container reads a ConfigMap (bare dnsmasq args, no kubedns config source)"
        );
    }
    // Volumes of ConfigMaps the test does not set still mirror the API object.
    for (cm, dir) in &mut pod.volumes {
        if uses.name.as_deref() != Some(cm.as_str())
            && let Ok(json) =
                pod.api
                    .kubectl_ok(["-n", &pod.namespace, "get", "configmap", cm, "-o", "json"])
        {
            let obj: serde_json::Value = serde_json::from_str(&json)?;
            dir.publish(&config_map_data(&obj))?;
        }
    }

    for (i, c) in template.containers.iter().enumerate() {
        let setpriv = privileges.as_ref().map(|p| p.prefix(i)).transpose()?;
        let r = spawn_container(c, &pod.net, &logs, &volume_dirs, &in_cluster, setpriv)?;
        pod.running.push(r);
    }

    // Probes, as the kubelet runs them: GET on the pod IP, declared port and path.
    for p in &template.probes {
        let addr = pod.addr(p.port);
        let start = Instant::now();
        if let Err(e) = wait::http_ok(addr, &p.path, PROBE_TIMEOUT).await {
            bail!(
                "{} probe of container {} (GET http://{addr}{}) did not pass: {e}\n{}",
                p.kind,
                p.container,
                p.path,
                pod.describe()
            );
        }
        println!(
            "  ok: {} probe of {} GET {}:{}{} after {:?}",
            p.kind,
            p.container,
            pod.net.pod_ip,
            p.port,
            p.path,
            start.elapsed()
        );
    }
    pod.assert_all_running()?;
    // The kubelet + runtime security model (threat row 26): uid, capabilities, no_new_privs.
    if let Some(p) = &privileges {
        p.check(&mut pod)?;
    }

    let dns = pod.addr(DNS_PORT);
    expect_both(
        &mut pod,
        dns,
        &format!("kubernetes.default.svc.{DOMAIN}"),
        &Expect::A(vec![KUBERNETES_IP]),
        ANSWER_TIMEOUT,
    )
    .await?;
    let (ns, name, ip) = TEST_SERVICE;
    pod.api
        .kubectl_apply(
            &objects::service(ns, name, &ip.to_string(), &[("http", 80, "TCP")]).to_string(),
        )
        .with_context(|| format!("creating Service {ns}/{name}"))?;
    // Ask kubedns first: the 1.3-1.5 dnsmasq args cache negative answers (no
    // --no-negcache), so asking port 53 before kubedns has seen the watch event would
    // cache the NXDOMAIN for the SOA negative TTL, as legacy dnsmasq did.
    let fqdn = format!("{name}.{ns}.svc.{DOMAIN}");
    let kubedns = pod.addr(KUBEDNS_DNS_PORT);
    expect_both(
        &mut pod,
        kubedns,
        &fqdn,
        &Expect::A(vec![ip]),
        SERVICE_TIMEOUT,
    )
    .await?;
    expect_both(&mut pod, dns, &fqdn, &Expect::A(vec![ip]), ANSWER_TIMEOUT).await?;
    expect_both(
        &mut pod,
        dns,
        HEADLESS_NAME,
        &Expect::A(vec![HEADLESS_IP]),
        ANSWER_TIMEOUT,
    )
    .await?;
    expect_both(
        &mut pod,
        dns,
        EXTERNAL_NAME,
        &Expect::CnameThenA(EXTERNAL_TARGET.into(), vec![EXTERNAL_TARGET_IP]),
        ANSWER_TIMEOUT,
    )
    .await?;
    expect_both(
        &mut pod,
        dns,
        UPSTREAM_NAME,
        &Expect::A(vec![UPSTREAM_IP]),
        ANSWER_TIMEOUT,
    )
    .await?;
    // The answer can only have come from the node resolver named in the pod's resolv.conf.
    if pod.upstream1.queries() == 0 {
        bail!(
            "{UPSTREAM_NAME} resolved but the node resolver {} saw no query",
            pod.upstream1.addr
        );
    }
    if uses.dnsmasq_nanny {
        expect_both(
            &mut pod,
            dns,
            STUB_NAME,
            &Expect::A(vec![STUB_IP]),
            ANSWER_TIMEOUT,
        )
        .await?;
    } else {
        println!(
            "  note: stub-domain check skipped: the dnsmasq container uses bare dnsmasq args (no nanny -configDir), as in this era"
        );
    }

    match &uses.name {
        Some(cm) if uses.kubedns || uses.dnsmasq_nanny => {
            let cm = cm.clone();
            config_change(&mut pod, &cm, &uses).await?;
        }
        _ => println!(
            "  note: ConfigMap-change check skipped: no container of this manifest reads a ConfigMap"
        ),
    }

    pod.assert_all_running()?;
    teardown(pod)
}

/// Kinds of a manifest written to the API. Workloads are left out: their pod is what this
/// test runs, and the legacy manifests' `extensions/v1beta1` Deployments no longer exist in
/// the API (removed in 1.16).
const API_KINDS: &[&str] = &[
    "Service",
    "ServiceAccount",
    "ConfigMap",
    "ClusterRole",
    "ClusterRoleBinding",
    "Role",
    "RoleBinding",
];

/// The manifest's API objects and the demo cluster, as an operator would `kubectl apply` them.
async fn load_cluster(
    api: &ControlPlane,
    manifest: &Path,
    root: &Path,
    template: &super::pod::PodTemplate,
) -> anyhow::Result<()> {
    // The demo cluster's ClusterIPs (10.96.0.0/16) and kube-dns.yaml's 10.96.0.10 lie outside
    // the primary Service range.
    api.add_service_cidr("demo-range", DEMO_SERVICE_CIDR)
        .await?;
    for doc in parse_documents(manifest)? {
        if API_KINDS.contains(&doc["kind"].as_str().unwrap_or_default()) {
            api.kubectl_apply(&doc.to_string())
                .with_context(|| format!("applying {} {}", doc["kind"], doc["metadata"]["name"]))?;
        }
    }
    // Pre-RBAC manifests (1.3-1.5) name no service account: their pod runs as the namespace's
    // `default`, which an RBAC cluster grants nothing. The operator's step for running them
    // on such a cluster: bind the bootstrap `system:kube-dns` role to it.
    if template.service_account.is_none() {
        api.kubectl_ok([
            "create",
            "clusterrolebinding",
            "kube-dns-legacy-default-sa",
            "--clusterrole=system:kube-dns",
            &format!("--serviceaccount={}:default", template.namespace),
        ])?;
    }
    // Its Pods become Ready as the scheduler and a kubelet would make them, so the real
    // endpoint controllers build their Endpoints and EndpointSlices.
    api.apply_fixture(&root.join("manifests/examples/demo-cluster.yaml"))
}

/// The service-account volume kubelet mounts: a bound token for the pod's service account
/// (TokenRequest, as a projected volume gets it), the cluster CA and the namespace; readable
/// by the containers' non-root uid.
fn service_account_volume(
    api: &ControlPlane,
    template: &super::pod::PodTemplate,
    dir: &Path,
    host: IpAddr,
) -> anyhow::Result<InCluster> {
    let ns = &template.namespace;
    let sa = template.service_account.as_deref().unwrap_or("default");
    // The serviceaccount controller creates `default`; a named one comes from the manifest.
    let start = Instant::now();
    let token = loop {
        match api.kubectl_ok(["-n", ns, "create", "token", sa, "--duration=2h"]) {
            Ok(t) => break t.trim().to_string(),
            Err(e) if start.elapsed() > SERVICE_TIMEOUT => {
                return Err(e.context(format!("a token for {ns}/{sa}")));
            }
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(200)),
        }
    };
    let secrets = dir.join("serviceaccount");
    std::fs::create_dir_all(&secrets)?;
    std::fs::write(secrets.join("token"), token)?;
    std::fs::copy(api.ca_crt(), secrets.join("ca.crt"))?;
    std::fs::write(secrets.join("namespace"), ns)?;
    for (path, mode) in [
        (dir.to_path_buf(), 0o755),
        (secrets.clone(), 0o755),
        (secrets.join("token"), 0o644),
        (secrets.join("ca.crt"), 0o644),
        (secrets.join("namespace"), 0o644),
    ] {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
            .with_context(|| format!("chmod {mode:o} {}", path.display()))?;
    }
    Ok(InCluster {
        host: host.to_string(),
        port: api.apiserver_addr().port(),
        secrets,
    })
}

/// Stops every container (SIGTERM, then SIGKILL after the grace), then checks that no
/// process is left: none of the started pids exists and the namespace is empty.
fn teardown(mut pod: Pod) -> anyhow::Result<()> {
    let mut pids = Vec::new();
    for r in pod.running.iter_mut().rev() {
        if let Some(pid) = r.child.pid() {
            pids.push((r.container.name.clone(), pid));
        }
        let status = r.child.stop(STOP_GRACE);
        println!("  stopped {}: {status:?}", r.container.name);
    }
    let left = pod.net.pids()?;
    let alive: Vec<_> = pids
        .iter()
        .filter(|(_, pid)| Path::new(&format!("/proc/{pid}")).exists())
        .collect();
    drop(pod);
    if !left.is_empty() || !alive.is_empty() {
        bail!(
            "processes left behind: in the pod namespace {left:?}; started containers still alive {alive:?}"
        );
    }
    Ok(())
}
