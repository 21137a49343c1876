//! Manifest lint: every YAML under `manifests/` parses, keeps the legacy kube-dns container
//! arguments byte for byte, grants the DNS pod least-privilege RBAC, runs non-root where the
//! legacy manifest did (seccomp RuntimeDefault, non-zero `runAsUser` or only the capabilities
//! :53 needs, no privilege escalation), never uses hostNetwork, and names only images we build.

use std::path::{Path, PathBuf};

use serde_json::Value;

fn manifests_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../manifests")
}

fn load(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let docs: Vec<Value> = serde_saphyr::from_multiple(&text)
        .unwrap_or_else(|e| panic!("{} does not parse: {e}", path.display()));
    docs.into_iter().filter(|d| !d.is_null()).collect()
}

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("manifests dir") {
        let path = entry.expect("dir entry").path();
        if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// The DNS add-on manifests (current + every legacy era); the autoscaler and examples are
/// linted separately because they are not the DNS pod.
fn dns_manifests() -> Vec<PathBuf> {
    let root = manifests_dir();
    let mut files = vec![root.join("kube-dns.yaml")];
    files.extend(yaml_files(&root.join("legacy")));
    assert!(
        files.len() >= 6,
        "expected the current manifest and 5 legacy eras, got {files:?}"
    );
    files
}

fn pod_spec(doc: &Value) -> Option<&Value> {
    match doc["kind"].as_str()? {
        "Deployment" | "ReplicationController" | "DaemonSet" => doc.pointer("/spec/template/spec"),
        "Pod" => doc.get("spec"),
        _ => None,
    }
}

fn containers(spec: &Value) -> Vec<&Value> {
    spec["containers"]
        .as_array()
        .map(|a| a.iter().collect())
        .unwrap_or_default()
}

fn args(container: &Value) -> Vec<String> {
    container["args"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|v| v.as_str().expect("string arg").to_string())
                .collect()
        })
        .unwrap_or_default()
}

fn find_container<'a>(docs: &'a [Value], name: &str) -> &'a Value {
    docs.iter()
        .filter_map(pod_spec)
        .flat_map(containers)
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no container {name}"))
}

#[test]
fn every_manifest_parses() {
    let root = manifests_dir();
    let mut files = yaml_files(&root);
    files.extend(yaml_files(&root.join("legacy")));
    files.extend(yaml_files(&root.join("examples")));
    assert!(files.len() >= 9, "{files:?}");
    for f in files {
        let docs = load(&f);
        assert!(!docs.is_empty(), "{} is empty", f.display());
        for d in &docs {
            assert!(
                d["apiVersion"].is_string(),
                "{}: document without apiVersion",
                f.display()
            );
            assert!(
                d["kind"].is_string(),
                "{}: document without kind",
                f.display()
            );
        }
    }
}

/// The current manifest carries exactly the args of the upstream kube-dns add-on
/// (kube-dns.yaml.base with the domain placeholder filled in).
#[test]
fn current_manifest_keeps_legacy_args() {
    let docs = load(&manifests_dir().join("kube-dns.yaml"));
    assert_eq!(
        args(find_container(&docs, "kubedns")),
        [
            "--domain=cluster.local.",
            "--dns-port=10053",
            "--config-dir=/kube-dns-config",
            "--v=2"
        ]
    );
    assert_eq!(
        args(find_container(&docs, "dnsmasq")),
        [
            "-v=2",
            "-configDir=/etc/k8s/dns/dnsmasq-nanny",
            "-restartDnsmasq=true",
            "--",
            "-k",
            "--cache-size=1000",
            "--no-negcache",
            "--dns-loop-detect",
            "--log-facility=-",
            "--server=/cluster.local/127.0.0.1#10053",
            "--server=/in-addr.arpa/127.0.0.1#10053",
            "--server=/ip6.arpa/127.0.0.1#10053",
        ]
    );
    assert_eq!(
        args(find_container(&docs, "sidecar")),
        [
            "--v=2",
            "--probe=kubedns,127.0.0.1:10053,kubernetes.default.svc.cluster.local,5,SRV",
            "--probe=dnsmasq,127.0.0.1:53,kubernetes.default.svc.cluster.local,5,SRV",
        ]
    );
    let kubedns = find_container(&docs, "kubedns");
    assert_eq!(kubedns["env"][0]["name"], "PROMETHEUS_PORT");
    assert_eq!(kubedns["env"][0]["value"], "10055");
    assert_eq!(kubedns["readinessProbe"]["httpGet"]["path"], "/readiness");
    assert_eq!(kubedns["readinessProbe"]["httpGet"]["port"], 8081);
    assert_eq!(
        kubedns["livenessProbe"]["httpGet"]["path"],
        "/healthcheck/kubedns"
    );
    assert_eq!(kubedns["livenessProbe"]["httpGet"]["port"], 10054);
}

#[test]
fn legacy_eras_keep_their_args() {
    let legacy = manifests_dir().join("legacy");
    let bare = [
        "--cache-size=1000",
        "--no-resolv",
        "--server=127.0.0.1#10053",
    ];
    let d13 = load(&legacy.join("kube-dns-1.3.yaml"));
    assert_eq!(args(find_container(&d13, "dnsmasq")), bare);
    assert_eq!(
        args(find_container(&d13, "healthz")),
        [
            "-cmd=nslookup kubernetes.default.svc.cluster.local 127.0.0.1 >/dev/null && nslookup kubernetes.default.svc.cluster.local 127.0.0.1:10053 >/dev/null",
            "-port=8080",
            "-quiet",
        ]
    );
    for era in ["kube-dns-1.4.yaml", "kube-dns-1.5.yaml"] {
        let docs = load(&legacy.join(era));
        let mut with_log = bare.map(String::from).to_vec();
        with_log.push("--log-facility=-".into());
        assert_eq!(args(find_container(&docs, "dnsmasq")), with_log, "{era}");
        assert_eq!(args(find_container(&docs, "healthz")).len(), 6, "{era}");
    }
    let d15 = load(&legacy.join("kube-dns-1.5.yaml"));
    assert!(args(find_container(&d15, "kubedns")).contains(&"--config-map=kube-dns".to_string()));
    assert_eq!(
        args(find_container(&d15, "dnsmasq-metrics")),
        ["--v=2", "--logtostderr"]
    );
    for (era, probe) in [("kube-dns-1.6.yaml", "A"), ("kube-dns-1.9.yaml", "SRV")] {
        let docs = load(&legacy.join(era));
        let sidecar = args(find_container(&docs, "sidecar"));
        assert!(
            sidecar
                .iter()
                .all(|a| !a.starts_with("--probe") || a.ends_with(probe)),
            "{era}"
        );
        let nanny = args(find_container(&docs, "dnsmasq"));
        assert_eq!(
            nanny[..5],
            [
                "-v=2",
                "-logtostderr",
                "-configDir=/etc/k8s/dns/dnsmasq-nanny",
                "-restartDnsmasq=true",
                "--"
            ]
        );
        assert_eq!(
            nanny.contains(&"--no-negcache".to_string()),
            probe == "SRV",
            "{era}"
        );
    }
}

/// Resources and verbs the DNS pod may be granted: read-only list/watch on what kubedns
/// watches. Anything broader in a DNS manifest is a lint failure.
#[test]
fn dns_rbac_is_least_privilege() {
    let allowed_resources = [
        "services",
        "endpoints",
        "endpointslices",
        "configmaps",
        "nodes",
        "pods",
    ];
    let mut files = dns_manifests();
    files.push(manifests_dir().join("rbac-endpointslices.yaml"));
    let mut roles_seen = 0;
    for f in files {
        for doc in load(&f) {
            if !matches!(doc["kind"].as_str(), Some("ClusterRole" | "Role")) {
                continue;
            }
            roles_seen += 1;
            for rule in doc["rules"].as_array().expect("rules") {
                for verb in rule["verbs"].as_array().expect("verbs") {
                    let v = verb.as_str().expect("verb");
                    assert!(
                        v == "list" || v == "watch",
                        "{}: verb {v} is not read-only",
                        f.display()
                    );
                }
                for res in rule["resources"].as_array().expect("resources") {
                    let r = res.as_str().expect("resource");
                    assert!(
                        allowed_resources.contains(&r),
                        "{}: resource {r} not needed",
                        f.display()
                    );
                }
            }
        }
    }
    assert!(roles_seen >= 3, "expected RBAC roles in the manifests");
}

#[test]
fn dns_pod_security() {
    for f in dns_manifests() {
        let docs = load(&f);
        for spec in docs.iter().filter_map(pod_spec) {
            assert_ne!(spec["hostNetwork"], true, "{}: hostNetwork", f.display());
            assert_eq!(
                spec["dnsPolicy"],
                "Default",
                "{}: DNS pod must use dnsPolicy Default",
                f.display()
            );
            for c in containers(spec) {
                let image = c["image"].as_str().expect("image");
                assert!(
                    [
                        "kube-dns-rs/kubedns:",
                        "kube-dns-rs/dnsmasq-rs:",
                        "kube-dns-rs/healthz:"
                    ]
                    .iter()
                    .any(|p| image.starts_with(p)),
                    "{}: image {image} is not one of ours",
                    f.display()
                );
            }
        }
    }
    // The current manifest: kubedns and sidecar non-root with a read-only root filesystem;
    // dnsmasq keeps only the capabilities it needs to bind :53.
    let docs = load(&manifests_dir().join("kube-dns.yaml"));
    for name in ["kubedns", "sidecar"] {
        let sc = &find_container(&docs, name)["securityContext"];
        assert_eq!(sc["runAsUser"], 1001, "{name}");
        assert_eq!(sc["readOnlyRootFilesystem"], true, "{name}");
        assert_eq!(sc["allowPrivilegeEscalation"], false, "{name}");
    }
    let caps = &find_container(&docs, "dnsmasq")["securityContext"]["capabilities"];
    assert_eq!(caps["drop"], serde_json::json!(["all"]));
}

fn cap_names(v: &Value) -> Vec<String> {
    let mut out: Vec<String> = v
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| c.as_str().expect("capability name").to_ascii_uppercase())
        .map(|c| c.strip_prefix("CAP_").map(str::to_string).unwrap_or(c))
        .collect();
    out.sort();
    out
}

/// Threat row 26 (container privilege) for the current add-on: seccomp RuntimeDefault for
/// the pod; each container runs as a non-zero `runAsUser`, or (dnsmasq, which binds :53)
/// drops every capability and adds back only NET_BIND_SERVICE and SETGID; privilege
/// escalation is off wherever the field is set, and nothing is privileged.
#[test]
fn current_pod_is_restricted() {
    let docs = load(&manifests_dir().join("kube-dns.yaml"));
    let spec = docs
        .iter()
        .find_map(pod_spec)
        .expect("kube-dns.yaml has a pod template");
    let pod_sc = &spec["securityContext"];
    assert_eq!(pod_sc["seccompProfile"]["type"], "RuntimeDefault");
    assert_ne!(pod_sc["runAsUser"], 0, "pod runAsUser");
    let cs = containers(spec);
    assert_eq!(cs.len(), 3);
    for c in cs {
        let name = c["name"].as_str().expect("name");
        let sc = &c["securityContext"];
        assert!(sc.is_object(), "{name}: no securityContext");
        if let Some(ape) = sc.get("allowPrivilegeEscalation") {
            assert_eq!(ape, false, "{name}: allowPrivilegeEscalation");
        }
        assert_ne!(sc["privileged"], true, "{name}: privileged");
        let non_root = sc["runAsUser"].as_u64().is_some_and(|u| u != 0);
        let drops_all = cap_names(&sc["capabilities"]["drop"]) == ["ALL"];
        let adds = cap_names(&sc["capabilities"]["add"]);
        let bind_only = name == "dnsmasq"
            && drops_all
            && adds == ["NET_BIND_SERVICE", "SETGID"]
            && sc["runAsUser"] != 0;
        assert!(
            non_root || bind_only,
            "{name}: neither a non-zero runAsUser nor drop [ALL] + add [NET_BIND_SERVICE, SETGID]: {sc}"
        );
        // Added capabilities are for dnsmasq's :53 only.
        assert!(name == "dnsmasq" || adds.is_empty(), "{name} adds {adds:?}");
    }
}

/// The legacy eras are kept byte for byte and declare no securityContext: their pods run with
/// the image `USER` and the runtime's default capabilities (the drop-in test checks both).
#[test]
fn legacy_pods_use_the_image_defaults() {
    for f in yaml_files(&manifests_dir().join("legacy")) {
        for spec in load(&f).iter().filter_map(pod_spec) {
            assert!(spec["securityContext"].is_null(), "{}", f.display());
            for c in containers(spec) {
                assert!(
                    c["securityContext"].is_null(),
                    "{}: {}",
                    f.display(),
                    c["name"]
                );
            }
        }
    }
}

/// Every kube-dns-rs image is `scratch` plus its binary (no base image to pull), runs as
/// 1001:1001 with the binary as entrypoint, and dnsmasq-rs carries the file capability that
/// lets it bind :53 without root (the drop-in test emulates both; the image test runs them).
#[test]
fn images_run_as_1001() {
    let read = |name: &str| {
        let path = manifests_dir().join("images").join(name);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    };
    for binary in ["kubedns", "dnsmasq-rs", "healthz"] {
        let text = read(&format!("{binary}.Containerfile"));
        let from: Vec<&str> = text.lines().filter(|l| l.starts_with("FROM ")).collect();
        let users: Vec<&str> = text
            .lines()
            .filter_map(|l| l.trim().strip_prefix("USER "))
            .collect();
        assert_eq!(from, ["FROM scratch"], "{binary}: base images");
        assert_eq!(users, ["1001:1001"], "{binary}");
        assert!(
            text.contains(&format!("ENTRYPOINT [\"/{binary}\"]")),
            "{binary}: entrypoint"
        );
    }
    assert!(read("build.sh").contains(
        "if [ \"$b\" = dnsmasq-rs ]; then\n    \"$SETCAP\" cap_net_bind_service=+ep \"$ctx/$b\""
    ));
}

#[test]
fn dns_service_exposes_udp_and_tcp_53() {
    for f in dns_manifests() {
        let docs = load(&f);
        let svc = docs
            .iter()
            .find(|d| d["kind"] == "Service" && d["metadata"]["name"] == "kube-dns")
            .unwrap_or_else(|| panic!("{}: no kube-dns Service", f.display()));
        let ports = svc["spec"]["ports"].as_array().expect("ports");
        for proto in ["UDP", "TCP"] {
            assert!(
                ports
                    .iter()
                    .any(|p| p["port"] == 53 && p["protocol"] == proto),
                "{}: no 53/{proto}",
                f.display()
            );
        }
        assert_ne!(svc["spec"]["type"], "NodePort", "{}", f.display());
        assert_ne!(svc["spec"]["type"], "LoadBalancer", "{}", f.display());
    }
}

#[test]
fn autoscaler_and_pdb_target_the_kube_dns_deployment() {
    let docs = load(&manifests_dir().join("dns-horizontal-autoscaler.yaml"));
    let deploy = docs
        .iter()
        .find(|d| d["kind"] == "Deployment")
        .expect("autoscaler deployment");
    let cmd: Vec<&str> = deploy
        .pointer("/spec/template/spec/containers/0/command")
        .and_then(Value::as_array)
        .expect("command")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(cmd.contains(&"--target=Deployment/kube-dns"), "{cmd:?}");
    let pdb = load(&manifests_dir().join("pdb.yaml"));
    assert_eq!(
        pdb[0]["spec"]["selector"]["matchLabels"]["k8s-app"],
        "kube-dns"
    );
}
