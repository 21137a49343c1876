//! The container images (`manifests/images/`, built by `manifests/images/build.sh`, which
//! `.ci/run` runs before the tests): every OCI archive in `target/images/` loads into podman,
//! and each image runs with podman as `manifests/kube-dns.yaml` runs it — `--network=host`,
//! the container's user, capabilities and read-only root filesystem:
//!
//! | image | run as (manifest) | checked |
//! |---|---|---|
//! | all three | — | `--version` prints the workspace version |
//! | kubedns | UID 1001, read-only root, no-new-privileges | syncs from the API emulator: `/readiness` 200; no effective capability |
//! | dnsmasq-rs | image USER 1001, caps `drop: [all]`, `add: [NET_BIND_SERVICE, SETGID]` | binds :53 and answers cluster names through kubedns; its only effective capability is NET_BIND_SERVICE, from the file capability: with `--cap-drop=ALL` it cannot start |
//! | healthz | UID 1001, read-only root, no-new-privileges | `/healthcheck/kubedns`, `/healthcheck/dnsmasq` and `/metrics` 200 |

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use hickory_proto::rr::RecordType;
use integration::harness::dns::{DnsClient, answer_ips};
use integration::harness::ports::{dns_port_free, free_dns_port, free_tcp_port};
use integration::harness::stack::{dnsmasq_args, healthz_args, kubedns_args};
use integration::harness::wait;
use kube_emulator::{Emulator, EmulatorConfig};
use serverkit::require::Need;

const IMAGES: [&str; 3] = ["kubedns", "dnsmasq-rs", "healthz"];
const DOMAIN: &str = "cluster.local.";
/// The emulator's `default/kubernetes` Service.
const KUBERNETES_NAME: &str = "kubernetes.default.svc.cluster.local.";
const KUBERNETES_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
/// Where the manifest mounts the kube-dns ConfigMap for the dnsmasq container.
const NANNY_CONFIG_DIR: &str = "/etc/k8s/dns/dnsmasq-nanny";
/// Same limits as manifests/images/build.sh: podman's default nofile (1048576) cannot be
/// set without CAP_SYS_RESOURCE, which root lacks on the development machines.
const NOFILE_CAP: u64 = 16384;
const NPROC: u64 = 4096;
/// kubedns syncing and the sidecar's first probes, on a loaded machine.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a container that must fail to start may take to exit.
const EXIT_TIMEOUT: Duration = Duration::from_secs(20);
/// Capability numbers (linux/capability.h).
const CAP_SETGID: u32 = 6;
const CAP_NET_BIND_SERVICE: u32 = 10;

fn archive(image: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../target/images")
        .join(format!("{image}.oci.tar"))
}

fn image_ref(image: &str) -> String {
    format!(
        "docker.io/kube-dns-rs/{image}:{}",
        env!("CARGO_PKG_VERSION")
    )
}

fn archive_need(image: &str) -> Need {
    Need::file(
        archive(image),
        format!("the {image} image archive (bash manifests/images/build.sh)"),
    )
}

/// `podman --runtime runc <args>`.
fn podman(args: &[String]) -> anyhow::Result<Output> {
    Command::new("podman")
        .args(["--runtime", "runc"])
        .args(args)
        .output()
        .context("running podman")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `--ulimit` flags within this process's hard limits.
fn ulimit_flags() -> Vec<String> {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    let hard_nofile = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(4))
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(NOFILE_CAP);
    let nofile = hard_nofile.min(NOFILE_CAP);
    vec![
        format!("--ulimit=nofile={nofile}:{nofile}"),
        format!("--ulimit=nproc={NPROC}:{NPROC}"),
    ]
}

/// A detached container, removed (killed) on drop.
struct Container {
    name: String,
}

impl Container {
    fn run(image: &str, flags: &[&str], args: &[String]) -> anyhow::Result<Container> {
        let name = format!("kdrs-image-test-{image}-{}", std::process::id());
        let _ = podman(&["rm".into(), "-f".into(), name.clone()]);
        let mut cmd: Vec<String> = vec![
            "run".into(),
            "-d".into(),
            format!("--name={name}"),
            "--network=host".into(),
        ];
        cmd.extend(ulimit_flags());
        cmd.extend(flags.iter().map(|f| f.to_string()));
        cmd.push(image_ref(image));
        cmd.extend(args.iter().cloned());
        let out = podman(&cmd)?;
        let c = Container { name };
        ensure!(out.status.success(), "podman run {image}: {}", text(&out));
        Ok(c)
    }

    fn inspect(&self, format: &str) -> anyhow::Result<String> {
        let out = podman(&[
            "inspect".into(),
            format!("--format={format}"),
            self.name.clone(),
        ])?;
        ensure!(out.status.success(), "podman inspect: {}", text(&out));
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    fn logs(&self) -> String {
        podman(&["logs".into(), self.name.clone()])
            .map(|o| text(&o))
            .unwrap_or_else(|e| e.to_string())
    }

    /// `/proc/<pid>/status` of the container's process (seen from the host).
    fn status(&self) -> anyhow::Result<String> {
        let pid = self.inspect("{{.State.Pid}}")?;
        std::fs::read_to_string(format!("/proc/{pid}/status")).context("container status")
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = podman(&[
            "rm".into(),
            "-f".into(),
            "-t".into(),
            "0".into(),
            self.name.clone(),
        ]);
    }
}

fn status_field<'a>(status: &'a str, key: &str) -> &'a str {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .map_or("", str::trim)
}

/// Uid line (real, effective, saved, fs), CapEff and CapBnd as numbers, NoNewPrivs.
fn privileges(status: &str) -> anyhow::Result<(String, u64, u64, String)> {
    let cap = |k: &str| {
        u64::from_str_radix(status_field(status, k), 16).with_context(|| format!("{k} in {status}"))
    };
    Ok((
        status_field(status, "Uid:")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" "),
        cap("CapEff:")?,
        cap("CapBnd:")?,
        status_field(status, "NoNewPrivs:").to_string(),
    ))
}

/// A loopback address of its own for dnsmasq-rs's :53, so the test does not collide with
/// anything on 127.0.0.1:53.
fn dns_address() -> anyhow::Result<Ipv4Addr> {
    let pid = std::process::id();
    for i in 0..64u32 {
        let n = pid.wrapping_add(i);
        let a = Ipv4Addr::new(127, 53, (n >> 8) as u8, (n as u8).max(1));
        if dns_port_free(SocketAddr::from((a, 53))) {
            return Ok(a);
        }
    }
    bail!("no free 127.53.x.y:53")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn images_run_as_the_manifest_says() -> anyhow::Result<()> {
    serverkit::require!(
        Need::Tool("podman"),
        Need::Root,
        archive_need("kubedns"),
        archive_need("dnsmasq-rs"),
        archive_need("healthz"),
    );

    for image in IMAGES {
        let out = podman(&[
            "load".into(),
            "-i".into(),
            archive(image).display().to_string(),
        ])?;
        ensure!(out.status.success(), "podman load {image}: {}", text(&out));
        ensure!(
            text(&out).contains(&image_ref(image)),
            "{image}: {}",
            text(&out)
        );
        let mut cmd: Vec<String> = vec!["run".into(), "--rm".into(), "--network=none".into()];
        cmd.extend(ulimit_flags());
        cmd.extend([image_ref(image), "--version".into()]);
        let out = podman(&cmd)?;
        ensure!(out.status.success(), "{image} --version: {}", text(&out));
        let version = String::from_utf8_lossy(&out.stdout);
        ensure!(
            version.contains(env!("CARGO_PKG_VERSION")),
            "{image} --version: {version}"
        );
        println!("{image}: {}", version.trim());
    }

    let emu = Emulator::start(EmulatorConfig::default()).await?;

    // kubedns: securityContext runAsUser/runAsGroup 1001, readOnlyRootFilesystem,
    // allowPrivilegeEscalation: false.
    let (kubedns_dns, kubedns_health, kubedns_metrics) =
        (free_dns_port()?, free_tcp_port()?, free_tcp_port()?);
    let metrics_env = format!("PROMETHEUS_PORT={kubedns_metrics}");
    let kubedns = Container::run(
        "kubedns",
        &[
            "--user=1001:1001",
            "--read-only",
            "--security-opt=no-new-privileges",
            "-e",
            &metrics_env,
        ],
        &kubedns_args(DOMAIN, kubedns_dns, kubedns_health, &emu.url()),
    )?;
    let loopback = |port| SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    wait::http_ok(loopback(kubedns_health), "/readiness", READY_TIMEOUT)
        .await
        .with_context(|| format!("kubedns not ready; logs:\n{}", kubedns.logs()))?;
    let (uid, eff, _, nnp) = privileges(&kubedns.status()?)?;
    assert_eq!(
        (uid.as_str(), eff, nnp.as_str()),
        ("1001 1001 1001 1001", 0, "1"),
        "kubedns"
    );

    // dnsmasq-rs: the image's USER 1001, capabilities drop all, add NET_BIND_SERVICE, SETGID;
    // the ConfigMap directory mounted read-only.
    let addr = dns_address()?;
    let config = tempfile::tempdir()?;
    // Readable by UID 1001, like a ConfigMap volume.
    std::fs::set_permissions(
        config.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )?;
    let volume = format!("--volume={}:{NANNY_CONFIG_DIR}:ro", config.path().display());
    let mut args = dnsmasq_args(DOMAIN, Path::new(NANNY_CONFIG_DIR), 53, kubedns_dns);
    args.retain(|a| !a.starts_with("--listen-address="));
    args.push(format!("--listen-address={addr}"));

    // Without NET_BIND_SERVICE in the bounding set the file capability cannot be granted:
    // the kernel refuses to execute the binary, and nothing binds :53.
    const EXEC_DENIED: &str = "operation not permitted";
    let denied = Container::run("dnsmasq-rs", &["--cap-drop=ALL", &volume], &args);
    if let Err(e) = &denied {
        ensure!(
            format!("{e:#}").contains(EXEC_DENIED),
            "--cap-drop=ALL failed for another reason: {e:#}"
        );
    }
    if let Ok(c) = &denied {
        let exited = wait::until("dnsmasq-rs to exit", EXIT_TIMEOUT, || async {
            let s = c.inspect("{{.State.Status}} {{.State.ExitCode}}");
            Ok::<_, String>(
                s.ok()
                    .filter(|s| s.starts_with("exited") || s.starts_with("stopped")),
            )
        })
        .await
        .with_context(|| format!("dnsmasq-rs runs with --cap-drop=ALL; logs:\n{}", c.logs()))?;
        ensure!(
            !exited.ends_with(" 0"),
            "exit status with --cap-drop=ALL: {exited}"
        );
    }
    drop(denied);
    ensure!(
        dns_port_free(SocketAddr::from((addr, 53))),
        "{addr}:53 was bound with --cap-drop=ALL"
    );

    let dnsmasq = Container::run(
        "dnsmasq-rs",
        &[
            "--cap-drop=ALL",
            "--cap-add=NET_BIND_SERVICE",
            "--cap-add=SETGID",
            &volume,
        ],
        &args,
    )?;
    let client = DnsClient::new(SocketAddr::from((addr, 53)));
    let ips = wait::until("dnsmasq-rs to answer on :53", READY_TIMEOUT, || async {
        Ok::<_, String>(
            client
                .udp(KUBERNETES_NAME, RecordType::A)
                .await
                .ok()
                .map(|m| answer_ips(&m))
                .filter(|ips| !ips.is_empty()),
        )
    })
    .await
    .with_context(|| format!("dnsmasq-rs does not answer; logs:\n{}", dnsmasq.logs()))?;
    assert_eq!(ips, vec![IpAddr::V4(KUBERNETES_IP)]);
    let (uid, eff, bnd, _) = privileges(&dnsmasq.status()?)?;
    assert_eq!(uid, "1001 1001 1001 1001", "dnsmasq-rs uid");
    assert_eq!(
        eff,
        1 << CAP_NET_BIND_SERVICE,
        "dnsmasq-rs effective capabilities"
    );
    assert_eq!(
        bnd,
        (1 << CAP_NET_BIND_SERVICE) | (1 << CAP_SETGID),
        "dnsmasq-rs bounding set"
    );

    // healthz (sidecar): runAsUser/runAsGroup 1001, readOnlyRootFilesystem,
    // allowPrivilegeEscalation: false; probes both DNS servers.
    let http = free_tcp_port()?;
    let d = DOMAIN.trim_end_matches('.');
    let mut args = healthz_args(DOMAIN, kubedns_dns, 53, http, 1);
    args.retain(|a| !a.starts_with("--probe=dnsmasq,"));
    args.push(format!(
        "--probe=dnsmasq,{addr}:53,kubernetes.default.svc.{d},1,SRV"
    ));
    args.push(format!("--dnsmasq-addr={addr}"));
    let healthz = Container::run(
        "healthz",
        &[
            "--user=1001:1001",
            "--read-only",
            "--security-opt=no-new-privileges",
        ],
        &args,
    )?;
    for path in ["/healthcheck/kubedns", "/healthcheck/dnsmasq", "/metrics"] {
        wait::http_ok(loopback(http), path, READY_TIMEOUT)
            .await
            .with_context(|| format!("healthz {path}; logs:\n{}", healthz.logs()))?;
    }
    let (uid, eff, _, nnp) = privileges(&healthz.status()?)?;
    assert_eq!(
        (uid.as_str(), eff, nnp.as_str()),
        ("1001 1001 1001 1001", 0, "1"),
        "healthz"
    );
    Ok(())
}
