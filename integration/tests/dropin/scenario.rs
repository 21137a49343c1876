//! One drop-in run: a manifest's pod started unchanged in a network namespace against the
//! in-process API emulator and fake node resolvers, each container with the uid, groups and
//! capabilities its `securityContext` and image give it ([`super::privilege`]), then probes,
//! the containers' privileges, DNS answers over UDP and TCP (dnsmasq-rs on :53 as a non-root
//! user), a live ConfigMap change under continuous queries ([`super::change`]), and a clean
//! teardown.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use integration::emulator::{Emulator, EmulatorConfig};
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
use super::running::{Pod, config_use, expect_both, spawn_container};
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
    serverkit::require!(Need::Root, Need::NetNs, Need::Tool("setpriv"));
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

    let emulator = Emulator::start(EmulatorConfig {
        bind: SocketAddr::from((net.host_ip, 0)),
        manifests: vec![
            path.clone(),
            root.join("manifests/examples/demo-cluster.yaml"),
        ],
        ..EmulatorConfig::default()
    })
    .await
    .context("starting the API emulator on the host veth address")?;
    let dirs = tempfile::Builder::new()
        .prefix("kube-dns-rs-dropin-")
        .tempdir()?;
    let kubeconfig = emulator
        .write_kubeconfig(dirs.path())
        .map_err(|e| anyhow::anyhow!("writing kubeconfig: {e}"))?;
    // The containers run as a non-root uid: the (0700) temporary directory and what kubedns
    // reads from it must be readable by them.
    for (path, mode) in [
        (dirs.path().to_path_buf(), 0o755),
        (kubeconfig.clone(), 0o644),
        (dirs.path().join("ca.crt"), 0o644),
    ] {
        if path.exists() {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
                .with_context(|| format!("chmod {mode:o} {}", path.display()))?;
        }
    }
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
        emulator,
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
            && let Ok(obj) = pod.emulator.get("v1", "ConfigMap", &pod.namespace, cm)
        {
            dir.publish(&config_map_data(&obj))?;
        }
    }

    for (i, c) in template.containers.iter().enumerate() {
        let setpriv = privileges.as_ref().map(|p| p.prefix(i)).transpose()?;
        let r = spawn_container(c, &pod.net, &logs, &volume_dirs, &kubeconfig, setpriv)?;
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
    pod.emulator
        .create(objects::service(
            ns,
            name,
            &ip.to_string(),
            &[("http", 80, "TCP")],
        ))
        .map_err(|e| anyhow::anyhow!("creating Service {ns}/{name}: {e}"))?;
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
