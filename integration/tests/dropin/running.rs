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
use integration::emulator::Emulator;
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
    /// The API emulator on the host veth address.
    pub emulator: Emulator,
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
        let mut obj = self
            .emulator
            .get("v1", "ConfigMap", &self.namespace, name)
            .unwrap_or_else(|_| objects::configmap(&self.namespace, name, &[]));
        obj["data"] = json!(data);
        self.emulator
            .apply(obj)
            .map_err(|e| anyhow::anyhow!("updating ConfigMap {name} in the emulator: {e}"))?;
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

pub fn spawn_container(
    c: &Container,
    net: &PodNet,
    logs: &Path,
    volumes: &[(String, String, PathBuf)],
    kubeconfig: &Path,
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
    // A pod sees the API through KUBERNETES_SERVICE_*; this one must not see the host's.
    let inherited: Vec<&str> = ["KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT"]
        .into_iter()
        .filter(|k| std::env::var_os(k).is_some())
        .collect();
    if !inherited.is_empty() {
        full.push("env".into());
        for k in inherited {
            full.push("-u".into());
            full.push(k.into());
        }
    }
    // `setpriv … --` execs the binary with the container's uid, groups and capabilities.
    full.extend(setpriv.into_iter().flatten());
    full.push(program.display().to_string());
    full.extend(args);
    let mut spec = ProcessSpec::new(c.name.clone(), ip).args(full);
    for (k, v) in &c.env {
        spec = spec.env(k, v);
    }
    if binary == "kubedns" {
        // Legacy kube-dns without API flags used the in-cluster config; kubedns falls back
        // to $KUBECONFIG (docs/kubedns.md), which points at the emulator.
        spec = spec.env("KUBECONFIG", kubeconfig);
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
