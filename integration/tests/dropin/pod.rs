//! Reading a kube-dns manifest the way a kubelet would: find the Deployment or
//! ReplicationController, and from its pod template the containers (image, `args`, `env`,
//! ports, volume mounts, HTTP probes, `securityContext`), the pod-level `securityContext` and
//! the ConfigMap volumes. Also the image → workspace binary map and the one allowed argument
//! rewrite (ConfigMap mount paths → test directory).

use std::path::Path;

use anyhow::{Context, bail};
use serde_json::Value;

use super::security::SecurityContext;

/// Image repository prefix of the kube-dns-rs images.
pub const IMAGE_PREFIX: &str = "kube-dns-rs/";

/// An HTTP GET probe.
#[derive(Debug, Clone)]
pub struct Probe {
    /// Container declaring it.
    pub container: String,
    /// `liveness` or `readiness`.
    pub kind: &'static str,
    /// Path.
    pub path: String,
    /// Port (named ports resolved against the container's ports).
    pub port: u16,
}

/// A volume mount of a container.
#[derive(Debug, Clone)]
pub struct Mount {
    /// Volume name.
    pub volume: String,
    /// Mount path in the container.
    pub path: String,
}

/// One container of the pod template.
#[derive(Debug, Clone)]
pub struct Container {
    /// Name.
    pub name: String,
    /// Image.
    pub image: String,
    /// `args`, verbatim.
    pub args: Vec<String>,
    /// `env` (literal values only).
    pub env: Vec<(String, String)>,
    /// Volume mounts.
    pub mounts: Vec<Mount>,
    /// `(name, containerPort, protocol)`.
    pub ports: Vec<(String, u16, String)>,
    /// `securityContext`.
    pub security: SecurityContext,
}

/// A volume backed by a ConfigMap.
#[derive(Debug, Clone)]
pub struct ConfigMapVolume {
    /// Volume name.
    pub volume: String,
    /// ConfigMap name (same namespace as the workload).
    pub config_map: String,
}

/// The pod template of a kube-dns workload.
#[derive(Debug, Clone)]
pub struct PodTemplate {
    /// `Deployment/<name>` or `ReplicationController/<name>`.
    pub workload: String,
    /// Namespace of the workload.
    pub namespace: String,
    /// Containers in manifest order.
    pub containers: Vec<Container>,
    /// ConfigMap volumes.
    pub config_map_volumes: Vec<ConfigMapVolume>,
    /// Every httpGet probe.
    pub probes: Vec<Probe>,
    /// `dnsPolicy`.
    pub dns_policy: Option<String>,
    /// `serviceAccountName` (`None`: the namespace's `default`, as kubelet mounts it).
    pub service_account: Option<String>,
    /// Pod-level `securityContext`.
    pub security: SecurityContext,
}

/// Every document of a multi-document YAML file.
pub fn parse_documents(path: &Path) -> anyhow::Result<Vec<Value>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let docs: Vec<Value> = serde_saphyr::from_multiple(&text)
        .map_err(|e| anyhow::anyhow!("parsing {}: {e}", path.display()))?;
    Ok(docs.into_iter().filter(|d| !d.is_null()).collect())
}

fn strings(v: &Value, what: &str) -> anyhow::Result<Vec<String>> {
    match v {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .map(str::to_string)
                    .with_context(|| format!("{what}: non-string item {i}"))
            })
            .collect(),
        other => bail!("{what}: expected a list, got {other}"),
    }
}

fn probe_of(
    c: &Value,
    container: &Container,
    key: &str,
    kind: &'static str,
) -> anyhow::Result<Option<Probe>> {
    let p = &c[key];
    if p.is_null() {
        return Ok(None);
    }
    let get = &p["httpGet"];
    if get.is_null() {
        bail!(
            "container {}: {key} is not an httpGet probe (unsupported by this test): {p}",
            container.name
        );
    }
    if get["scheme"].as_str().is_some_and(|s| s != "HTTP") {
        bail!(
            "container {}: {key} uses scheme {}",
            container.name,
            get["scheme"]
        );
    }
    let port = match &get["port"] {
        Value::Number(n) => n
            .as_u64()
            .and_then(|n| u16::try_from(n).ok())
            .with_context(|| format!("container {}: {key} port {n}", container.name))?,
        Value::String(name) => container
            .ports
            .iter()
            .find(|(n, _, _)| n == name)
            .map(|(_, p, _)| *p)
            .with_context(|| {
                format!(
                    "container {}: {key} names unknown port {name}",
                    container.name
                )
            })?,
        other => bail!("container {}: {key} port {other}", container.name),
    };
    Ok(Some(Probe {
        container: container.name.clone(),
        kind,
        path: get["path"].as_str().unwrap_or("/").to_string(),
        port,
    }))
}

fn container_of(c: &Value) -> anyhow::Result<(Container, Vec<Probe>)> {
    let name = c["name"]
        .as_str()
        .context("container without a name")?
        .to_string();
    if !c["command"].is_null() {
        bail!(
            "container {name} overrides the image entrypoint with `command`; this test runs only `args`"
        );
    }
    let mut env = Vec::new();
    for e in c["env"].as_array().into_iter().flatten() {
        let k = e["name"]
            .as_str()
            .with_context(|| format!("container {name}: env without a name"))?;
        let v = e["value"]
            .as_str()
            .with_context(|| format!("container {name}: env {k} is not a literal value"))?;
        env.push((k.to_string(), v.to_string()));
    }
    let mounts = c["volumeMounts"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| {
            Ok(Mount {
                volume: m["name"]
                    .as_str()
                    .context("volumeMount without a name")?
                    .to_string(),
                path: m["mountPath"]
                    .as_str()
                    .context("volumeMount without a mountPath")?
                    .to_string(),
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let ports = c["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| {
            let port = u16::try_from(p["containerPort"].as_u64()?).ok()?;
            Some((
                p["name"].as_str().unwrap_or("").to_string(),
                port,
                p["protocol"].as_str().unwrap_or("TCP").to_string(),
            ))
        })
        .collect();
    let container = Container {
        name: name.clone(),
        image: c["image"]
            .as_str()
            .with_context(|| format!("container {name} without an image"))?
            .to_string(),
        args: strings(&c["args"], &format!("container {name} args"))?,
        env,
        mounts,
        ports,
        security: SecurityContext::parse(&c["securityContext"])
            .with_context(|| format!("container {name}"))?,
    };
    let mut probes = Vec::new();
    for (key, kind) in [
        ("livenessProbe", "liveness"),
        ("readinessProbe", "readiness"),
    ] {
        probes.extend(probe_of(c, &container, key, kind)?);
    }
    Ok((container, probes))
}

/// The pod template of the manifest's only Deployment or ReplicationController.
pub fn pod_template(docs: &[Value]) -> anyhow::Result<PodTemplate> {
    let workloads: Vec<&Value> = docs
        .iter()
        .filter(|d| {
            matches!(
                d["kind"].as_str(),
                Some("Deployment" | "ReplicationController")
            )
        })
        .collect();
    let [w] = workloads.as_slice() else {
        bail!(
            "expected exactly one Deployment or ReplicationController, found {}",
            workloads.len()
        );
    };
    let workload = format!(
        "{}/{}",
        w["kind"].as_str().unwrap_or("?"),
        w["metadata"]["name"].as_str().unwrap_or("?")
    );
    let namespace = w["metadata"]["namespace"]
        .as_str()
        .unwrap_or("default")
        .to_string();
    let spec = &w["spec"]["template"]["spec"];
    if spec.is_null() {
        bail!("{workload}: no spec.template.spec");
    }
    let mut containers = Vec::new();
    let mut probes = Vec::new();
    for c in spec["containers"].as_array().into_iter().flatten() {
        let (c, p) = container_of(c)?;
        containers.push(c);
        probes.extend(p);
    }
    if containers.is_empty() {
        bail!("{workload}: no containers");
    }
    let mut config_map_volumes = Vec::new();
    for v in spec["volumes"].as_array().into_iter().flatten() {
        let volume = v["name"]
            .as_str()
            .context("volume without a name")?
            .to_string();
        match v["configMap"]["name"].as_str() {
            Some(cm) => config_map_volumes.push(ConfigMapVolume {
                volume,
                config_map: cm.to_string(),
            }),
            None => bail!("{workload}: volume {volume} is not a ConfigMap volume (unsupported)"),
        }
    }
    let security = SecurityContext::parse(&spec["securityContext"])
        .with_context(|| format!("{workload}: pod securityContext"))?;
    Ok(PodTemplate {
        workload,
        namespace,
        containers,
        config_map_volumes,
        probes,
        dns_policy: spec["dnsPolicy"].as_str().map(str::to_string),
        service_account: spec["serviceAccountName"]
            .as_str()
            .or_else(|| spec["serviceAccount"].as_str())
            .map(str::to_string),
        security,
    })
}

/// Workspace binary implementing `image` (`kube-dns-rs/<binary>:<tag>`).
pub fn binary_for_image(image: &str) -> anyhow::Result<&'static str> {
    let repo = image
        .strip_prefix(IMAGE_PREFIX)
        .with_context(|| format!("image {image} is not a {IMAGE_PREFIX}* image"))?;
    let name = repo.split([':', '@']).next().unwrap_or(repo);
    match name {
        "kubedns" => Ok("kubedns"),
        "dnsmasq-rs" => Ok("dnsmasq-rs"),
        "healthz" => Ok("healthz"),
        other => bail!("image {image}: no workspace binary for {other}"),
    }
}

/// Rewrites `mount_path` to `dir` in flag values (`--flag=<mount_path>[/…]`) and bare
/// arguments equal to it (or under it). Returns how many arguments changed.
pub fn rewrite_mount_path(args: &mut [String], mount_path: &str, dir: &Path) -> usize {
    let dir = dir.display().to_string();
    let rewrite = |v: &str| -> Option<String> {
        let rest = v.strip_prefix(mount_path)?;
        (rest.is_empty() || rest.starts_with('/')).then(|| format!("{dir}{rest}"))
    };
    let mut changed = 0;
    for a in args.iter_mut() {
        let new = match a.split_once('=') {
            Some((flag, value)) if flag.starts_with('-') => {
                rewrite(value).map(|v| format!("{flag}={v}"))
            }
            _ => rewrite(a),
        };
        if let Some(n) = new {
            *a = n;
            changed += 1;
        }
    }
    changed
}
