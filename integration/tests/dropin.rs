//! Drop-in test (issue 6): every kube-dns manifest under `manifests/` and
//! `manifests/legacy/` runs unchanged as a simulated pod. The Deployment or
//! ReplicationController is parsed, each container's image is mapped to a workspace binary,
//! and the binaries are started with the container's exact `args` and `env` inside a network
//! namespace, against an in-process API emulator on the host end of a veth pair. Then every
//! declared probe must pass, cluster, headless, ExternalName, stub-domain and upstream names
//! must resolve over UDP and TCP on the pod IP, and a ConfigMap change must be applied by
//! kubedns and dnsmasq-rs without a failed query. See docs/dropin.md.
//!
//! Each container runs as the kubelet and container runtime would run it: the uid/gid of its
//! `securityContext` (else the pod's, else the image's `USER 1001:1001`), the runtime's
//! default capabilities minus `drop` plus `add` as the bounding set, none of them effective
//! for a non-root user except the dnsmasq-rs image's file capability NET_BIND_SERVICE
//! (emulated as an ambient capability), and no_new_privs for `allowPrivilegeEscalation:
//! false`; `/proc/<pid>/status` of every container is checked (see dropin/privilege.rs).
//!
//! Needs root, `ip netns` and `setpriv`: `serverkit::require` skips each test with one line
//! outside CI and fails it under CI (also when the privilege checks cannot run).

#[path = "dropin/change.rs"]
mod change;
#[path = "dropin/client.rs"]
mod client;
#[path = "dropin/configvol.rs"]
mod configvol;
#[path = "dropin/fakedns.rs"]
mod fakedns;
#[path = "dropin/fixture.rs"]
mod fixture;
#[path = "dropin/netns.rs"]
mod netns;
#[path = "dropin/pod.rs"]
mod pod;
#[path = "dropin/privilege.rs"]
mod privilege;
#[path = "dropin/running.rs"]
mod running;
#[path = "dropin/scenario.rs"]
mod scenario;
#[path = "dropin/security.rs"]
mod security;

/// One test per manifest: (test, path relative to the repository root, /30 slot).
macro_rules! dropin_tests {
    ($($test:ident => $path:literal, $slot:literal;)*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $test() -> anyhow::Result<()> {
                scenario::run($path, $slot).await
            }
        )*

        /// Every manifest in the two directories has a test above.
        #[test]
        fn every_manifest_has_a_dropin_test() -> anyhow::Result<()> {
            let covered = [$($path),*];
            let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
            let mut missing = Vec::new();
            for dir in ["manifests", "manifests/legacy"] {
                for entry in std::fs::read_dir(root.join(dir))? {
                    let p = entry?.path();
                    let Some(file) = p.file_name().and_then(|f| f.to_str()) else { continue };
                    if !file.ends_with(".yaml") {
                        continue;
                    }
                    let rel = format!("{dir}/{file}");
                    let docs = pod::parse_documents(&p)?;
                    let has_workload = docs.iter().any(|d| {
                        matches!(d["kind"].as_str(), Some("Deployment" | "ReplicationController"))
                            && d["spec"]["template"]["spec"]["containers"]
                                .as_array()
                                .into_iter()
                                .flatten()
                                .any(|c| c["image"].as_str().is_some_and(|i| i.starts_with(pod::IMAGE_PREFIX)))
                    });
                    if has_workload && !covered.contains(&rel.as_str()) {
                        missing.push(rel);
                    }
                }
            }
            anyhow::ensure!(missing.is_empty(), "kube-dns manifests without a drop-in test: {missing:?}");
            Ok(())
        }
    };
}

dropin_tests! {
    dropin_kube_dns_current => "manifests/kube-dns.yaml", 0;
    dropin_legacy_1_3 => "manifests/legacy/kube-dns-1.3.yaml", 1;
    dropin_legacy_1_4 => "manifests/legacy/kube-dns-1.4.yaml", 2;
    dropin_legacy_1_5 => "manifests/legacy/kube-dns-1.5.yaml", 3;
    dropin_legacy_1_6 => "manifests/legacy/kube-dns-1.6.yaml", 4;
    dropin_legacy_1_9 => "manifests/legacy/kube-dns-1.9.yaml", 5;
}

/// Pure parts: template extraction, image map, mount-path rewrite (no root needed).
#[test]
fn parses_every_manifest_template() -> anyhow::Result<()> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let t = pod::pod_template(&pod::parse_documents(
        &root.join("manifests/kube-dns.yaml"),
    )?)?;
    assert_eq!(t.workload, "Deployment/kube-dns");
    let names: Vec<&str> = t.containers.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["kubedns", "dnsmasq", "sidecar"]);
    assert_eq!(t.probes.len(), 4, "{:?}", t.probes);
    assert_eq!(t.config_map_volumes.len(), 1);
    let mut args = t.containers[1].args.clone();
    let n = pod::rewrite_mount_path(
        &mut args,
        "/etc/k8s/dns/dnsmasq-nanny",
        std::path::Path::new("/tmp/x"),
    );
    assert_eq!(n, 1);
    assert!(args.contains(&"-configDir=/tmp/x".to_string()), "{args:?}");
    assert!(args.contains(&"--server=/cluster.local/127.0.0.1#10053".to_string()));
    assert_eq!(
        pod::binary_for_image("kube-dns-rs/dnsmasq-rs:0.1.0")?,
        "dnsmasq-rs"
    );
    assert!(pod::binary_for_image("registry.k8s.io/dns/k8s-dns-kube-dns:1.26.7").is_err());
    let t13 = pod::pod_template(&pod::parse_documents(
        &root.join("manifests/legacy/kube-dns-1.3.yaml"),
    )?)?;
    assert_eq!(t13.workload, "ReplicationController/kube-dns-v19");
    assert!(t13.config_map_volumes.is_empty());
    assert_eq!(t13.security, security::SecurityContext::default());
    assert_eq!(t.security.supplemental_groups, [65534]);
    assert_eq!(t.containers[1].security.cap_drop, ["all"]);
    assert_eq!(
        t.containers[2].security.allow_privilege_escalation,
        Some(false)
    );
    Ok(())
}

/// The security model applied to every manifest (pure): every container runs as uid 1001,
/// only dnsmasq-rs keeps a capability (NET_BIND_SERVICE, to bind :53), and the current
/// manifest's kubedns and sidecar run with no_new_privs.
#[test]
fn every_manifest_runs_non_root_with_only_net_bind_service() -> anyhow::Result<()> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for manifest in [
        "manifests/kube-dns.yaml",
        "manifests/legacy/kube-dns-1.3.yaml",
        "manifests/legacy/kube-dns-1.4.yaml",
        "manifests/legacy/kube-dns-1.5.yaml",
        "manifests/legacy/kube-dns-1.6.yaml",
        "manifests/legacy/kube-dns-1.9.yaml",
    ] {
        let t = pod::pod_template(&pod::parse_documents(&root.join(manifest))?)?;
        for c in &t.containers {
            let binary = pod::binary_for_image(&c.image)?;
            let e = security::effective(&t.security, &c.security, binary, security::ALL_CAPS)?;
            let what = format!("{manifest} container {}", c.name);
            assert_eq!((e.uid, e.gid), (1001, 1001), "{what}");
            let want = if binary == "dnsmasq-rs" { 1 << 10 } else { 0 };
            assert_eq!(e.cap_eff(), want, "{what}");
            let current = manifest == "manifests/kube-dns.yaml";
            assert_eq!(e.no_new_privs, current && binary != "dnsmasq-rs", "{what}");
        }
    }
    Ok(())
}

/// True when `pid` is gone (or a zombie awaiting a reaper that is not us).
fn process_gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

/// A panic in the middle of a run still kills the pod's processes (the harness child and
/// one that escaped into the background), deletes the namespace and the veth, and removes
/// `/etc/netns/<ns>`.
#[test]
fn pod_is_cleaned_up_when_the_test_panics() -> anyhow::Result<()> {
    use integration::harness::process::{ChildProcess, ProcessSpec};
    serverkit::require!(
        serverkit::require::Need::Root,
        serverkit::require::Need::NetNs
    );
    let logs = tempfile::tempdir()?;
    let seen = std::sync::Mutex::new(None::<(String, u32, u32)>);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let net = netns::PodNet::create(63).expect("create the pod namespace");
        net.write_resolv_conf("nameserver 10.254.0.1\n")
            .expect("resolv.conf");
        let (ip, mut args) = net.exec_prefix();
        args.extend(["sleep".to_string(), "600".to_string()]);
        let child = ChildProcess::spawn(ProcessSpec::new("sleeper", ip).args(args), logs.path())
            .expect("spawn in the namespace");
        let (ip, mut args) = net.exec_prefix();
        args.extend(["sh", "-c", "sleep 600 >/dev/null 2>&1 & echo $!"].map(String::from));
        let out = std::process::Command::new(ip)
            .args(args)
            .output()
            .expect("background process");
        let escaped: u32 = String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .expect("pid");
        *seen.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((net.name.clone(), child.pid().expect("pid"), escaped));
        panic!("deliberate panic with the pod running (expected by this test)");
    }));
    assert!(r.is_err(), "the closure should have panicked");
    let (name, child, escaped) = seen
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
        .ok_or_else(|| anyhow::anyhow!("setup did not complete"))?;
    let list = std::process::Command::new(netns::ip_binary().unwrap_or("ip"))
        .args(["netns", "list"])
        .output()?;
    let list = String::from_utf8_lossy(&list.stdout);
    anyhow::ensure!(
        !list
            .lines()
            .any(|l| l.split_whitespace().next() == Some(name.as_str())),
        "namespace {name} survived: {list}"
    );
    anyhow::ensure!(
        !std::path::Path::new("/etc/netns").join(&name).exists(),
        "/etc/netns/{name} survived"
    );
    anyhow::ensure!(process_gone(child), "container process {child} survived");
    anyhow::ensure!(
        process_gone(escaped),
        "background process {escaped} survived"
    );
    Ok(())
}
