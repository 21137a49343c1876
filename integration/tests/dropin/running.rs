//! The running pod: its containers (started with `ip netns exec`, `setpriv` with the
//! container's identity when planned by [`super::privilege`], and the manifest's exact
//! `args`/`env`), the host-side servers it talks to, the ConfigMap volumes, and the DNS
//! answer checks used by the scenario.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use hickory_proto::rr::RecordType;
use integration::controlplane::ControlPlane;
use integration::harness::process::{ChildProcess, ProcessSpec};
use integration::harness::{Transport, binary_path, objects, wait};
use serde_json::json;
use tokio::time::Instant;

use super::client::{Expect, check, query};
use super::configvol::ConfigMapDir;
use super::fakedns::FakeDns;
use super::netns::PodNet;
use super::pod::{Container, PodTemplate, binary_for_image, rewrite_mount_path};

/// A started container.
pub struct Running {
    pub container: Container,
    pub binary: &'static str,
    /// Path of the binary (what `/proc/<pid>/exe` of the child must be).
    pub program: PathBuf,
    pub child: ChildProcess,
}

/// How the pod consumes the kube-dns ConfigMap.
#[derive(Debug, Default)]
pub struct ConfigUse {
    /// kubedns reads it (`--config-dir` volume or `--config-map`).
    pub kubedns: bool,
    /// dnsmasq-rs runs in nanny dialect with a `-configDir` volume (stub domains apply).
    pub dnsmasq_nanny: bool,
    /// ConfigMap name, if any consumer exists.
    pub name: Option<String>,
}

fn arg_value<'a>(args: &'a [String], flags: &[&str]) -> Option<&'a str> {
    args.iter().find_map(|a| {
        let (f, v) = a.split_once('=')?;
        flags.contains(&f).then_some(v)
    })
}

pub fn config_use(t: &PodTemplate) -> ConfigUse {
    let mut u = ConfigUse::default();
    for c in &t.containers {
        let Ok(bin) = binary_for_image(&c.image) else {
            continue;
        };
        let mounted_cm = |path: &str| {
            c.mounts.iter().find(|m| m.path == path).and_then(|m| {
                t.config_map_volumes
                    .iter()
                    .find(|v| v.volume == m.volume)
                    .map(|v| v.config_map.clone())
            })
        };
        match bin {
            "kubedns" => {
                if let Some(name) = arg_value(&c.args, &["--config-map"]) {
                    u.kubedns = true;
                    u.name = Some(name.to_string());
                } else if let Some(cm) = arg_value(&c.args, &["--config-dir"]).and_then(mounted_cm)
                {
                    u.kubedns = true;
                    u.name = Some(cm);
                }
            }
            "dnsmasq-rs" => {
                if let Some(cm) =
                    arg_value(&c.args, &["-configDir", "--configDir"]).and_then(mounted_cm)
                {
                    u.dnsmasq_nanny = true;
                    u.name = Some(cm);
                }
            }
            _ => {}
        }
    }
    u
}

/// The pod and everything around it. Field order is drop order: processes first, then the
/// namespace, then the host-side servers and temporary files.
pub struct Pod {
    /// Started containers, in manifest order.
    pub running: Vec<Running>,
    /// The network namespace.
    pub net: PodNet,
    /// ConfigMap volumes: (ConfigMap name, directory).
    pub volumes: Vec<(String, ConfigMapDir)>,
    /// The real control plane, kube-apiserver on the host veth address.
    pub api: ControlPlane,
    /// Namespace of the workload (and of its ConfigMap).
    pub namespace: String,
    /// The node resolver (`nameserver` of the pod's resolv.conf), port 53.
    pub upstream1: FakeDns,
    /// The upstream the ConfigMap change switches to.
    pub upstream2: FakeDns,
    /// The stub-domain server.
    pub stub: FakeDns,
    /// Kubeconfig, logs and volume directories (removed on drop).
    pub _dirs: tempfile::TempDir,
}

impl Pod {
    pub fn describe(&mut self) -> String {
        let mut out = String::new();
        for r in &mut self.running {
            out.push_str(&format!(
                "---- container {} ({}) ----\n",
                r.container.name, r.binary
            ));
            out.push_str(&r.child.describe());
            out.push('\n');
        }
        out.push_str(&self.api.describe());
        out
    }

    pub fn addr(&self, port: u16) -> SocketAddr {
        SocketAddr::from((self.net.pod_ip, port))
    }

    /// Sets the ConfigMap in the API and syncs every volume of it (the kubelet's job).
    pub fn set_config_map(
        &mut self,
        name: &str,
        data: &BTreeMap<String, String>,
    ) -> anyhow::Result<()> {
        let mut obj = objects::configmap(&self.namespace, name, &[]);
        obj["data"] = json!(data);
        self.api
            .kubectl_apply(&obj.to_string())
            .with_context(|| format!("updating ConfigMap {name} through the API"))?;
        for (cm, dir) in &mut self.volumes {
            if cm == name {
                dir.publish(data)?;
            }
        }
        Ok(())
    }

    /// Fails with every container's log if one has exited.
    pub fn assert_all_running(&mut self) -> anyhow::Result<()> {
        let exited: Vec<String> = self
            .running
            .iter_mut()
            .filter_map(|r| {
                r.child
                    .try_exit_status()
                    .map(|s| format!("{} ({}): {s}", r.container.name, r.binary))
            })
            .collect();
        if !exited.is_empty() {
            bail!("containers exited: {exited:?}\n{}", self.describe());
        }
        Ok(())
    }
}

/// Waits until `name` answers as `want` at `server` over `transport`; returns the wait.
pub async fn expect_answer(
    server: SocketAddr,
    name: &str,
    transport: Transport,
    want: &Expect,
    timeout: Duration,
) -> anyhow::Result<Duration> {
    let start = Instant::now();
    let what = format!("{name} A over {transport:?} at {server} to be {want:?}");
    wait::until(&what, timeout, || async move {
        let m = query(server, name, RecordType::A, transport).await?;
        check(&m, want).map(|()| Some(()))
    })
    .await
    .map_err(anyhow::Error::from)?;
    Ok(start.elapsed())
}

/// Checks `name` over UDP and TCP.
pub async fn expect_both(
    pod: &mut Pod,
    server: SocketAddr,
    name: &str,
    want: &Expect,
    timeout: Duration,
) -> anyhow::Result<()> {
    for t in [Transport::Udp, Transport::Tcp] {
        if let Err(e) = expect_answer(server, name, t, want, timeout).await {
            bail!("{e:#}\n{}", pod.describe());
        }
    }
    println!("  ok: {name} over UDP and TCP at {server}");
    Ok(())
}

/// What kubelet gives a container to reach the API: the `KUBERNETES_SERVICE_*` variables
/// and the service-account volume.
pub struct InCluster {
    /// `KUBERNETES_SERVICE_HOST`.
    pub host: String,
    /// `KUBERNETES_SERVICE_PORT`.
    pub port: u16,
    /// Directory holding `token`, `ca.crt` and `namespace`, bind-mounted at [`SA_MOUNT`].
    pub secrets: PathBuf,
}

/// Where kubelet mounts the service-account volume (what in-cluster clients read).
pub const SA_MOUNT: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

pub fn spawn_container(
    c: &Container,
    net: &PodNet,
    logs: &Path,
    volumes: &[(String, String, PathBuf)],
    in_cluster: &InCluster,
    setpriv: Option<Vec<String>>,
) -> anyhow::Result<Running> {
    let binary = binary_for_image(&c.image)?;
    let program = binary_path(binary).map_err(|e| {
        anyhow::anyhow!(
            "container {} (image {}) needs `{binary}`: {e}",
            c.name,
            c.image
        )
    })?;
    let mut args = c.args.clone();
    for m in &c.mounts {
        let (_, _, dir) = volumes
            .iter()
            .find(|(vol, _, _)| *vol == m.volume)
            .with_context(|| {
                format!("container {}: mount of unknown volume {}", c.name, m.volume)
            })?;
        rewrite_mount_path(&mut args, &m.path, dir);
    }
    let (ip, prefix) = net.exec_prefix();
    let mut full: Vec<String> = prefix;
    // As kubelet does: the service-account volume at its fixed path. `ip netns exec` gives
    // the container a private mount namespace, so the bind mount is the container's alone;
    // it is made as root, before `setpriv` drops to the container's identity.
    full.extend(
        [
            "sh",
            "-c",
            "mkdir -p \"$0\" && mount --bind \"$1\" \"$0\" && shift && exec \"$@\"",
            SA_MOUNT,
        ]
        .map(String::from),
    );
    full.push(in_cluster.secrets.display().to_string());
    // A pod sees the API through KUBERNETES_SERVICE_*, set by kubelet; the host's own are
    // removed first.
    full.push("env".into());
    for k in [
        "KUBERNETES_SERVICE_HOST",
        "KUBERNETES_SERVICE_PORT",
        "KUBECONFIG",
    ] {
        full.push("-u".into());
        full.push(k.into());
    }
    full.push(format!("KUBERNETES_SERVICE_HOST={}", in_cluster.host));
    full.push(format!("KUBERNETES_SERVICE_PORT={}", in_cluster.port));
    // `setpriv … --` execs the binary with the container's uid, groups and capabilities.
    full.extend(setpriv.into_iter().flatten());
    full.push(program.display().to_string());
    full.extend(args);
    let mut spec = ProcessSpec::new(c.name.clone(), ip).args(full);
    for (k, v) in &c.env {
        spec = spec.env(k, v);
    }
    println!("  start {}: {}", c.name, spec.command_line());
    let child = ChildProcess::spawn(spec, logs)?;
    Ok(Running {
        container: c.clone(),
        binary,
        program,
        child,
    })
}
