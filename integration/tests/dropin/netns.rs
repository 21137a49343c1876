//! The pod's network: a uniquely named network namespace (`ip netns`) with `lo` up and a veth
//! pair to the host on a private /30 in 10.254.0.0/16 (host .1, pod .2 of the /30), plus
//! `/etc/netns/<ns>/resolv.conf`, which `ip netns exec` bind-mounts over the pod's
//! `/etc/resolv.conf` (dnsPolicy: Default = the node's resolv.conf). Dropping [`PodNet`]
//! (also during a panic) kills whatever still runs in the namespace, deletes it (which
//! removes the veth pair) and removes the resolv.conf directory.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

/// Directory `ip netns exec` takes per-namespace /etc overrides from.
const ETC_NETNS: &str = "/etc/netns";
/// Candidate locations of `ip`.
const IP_PATHS: &[&str] = &["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"];
/// Third octets tried for the test /30s (10.254.X.0/24 holds 64 of them).
const THIRD_OCTETS: u32 = 200;

/// `ip` binary, if installed.
pub fn ip_binary() -> Option<&'static str> {
    IP_PATHS.iter().copied().find(|p| Path::new(p).exists())
}

fn run_ip(ip: &str, args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new(ip)
        .args(args)
        .output()
        .with_context(|| format!("running {ip} {}", args.join(" ")))?;
    if !out.status.success() {
        bail!(
            "`{ip} {}` failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The pod's network namespace; torn down on drop.
pub struct PodNet {
    /// Namespace name.
    pub name: String,
    /// Host end of the veth.
    pub host_ip: Ipv4Addr,
    /// Pod end of the veth (the pod IP).
    pub pod_ip: Ipv4Addr,
    ip: &'static str,
    host_if: String,
    etc_dir: PathBuf,
}

impl PodNet {
    /// Creates namespace `kdrs-dropin-<pid>-<slot>` with its veth pair. `slot` (0..64)
    /// picks the /30 inside a 10.254.X.0/24 chosen from the process id; an X whose /30 is
    /// already configured on the host is skipped.
    pub fn create(slot: u8) -> anyhow::Result<PodNet> {
        let ip = ip_binary().context("`ip` not found")?;
        if slot >= 64 {
            bail!("slot {slot} out of range");
        }
        let pid = std::process::id();
        let existing = run_ip(ip, &["-o", "-4", "addr", "show"])?;
        let base = pid % THIRD_OCTETS;
        let (host_ip, pod_ip) = (0..THIRD_OCTETS)
            .map(|i| (base + i) % THIRD_OCTETS + 1)
            .filter_map(|x| u8::try_from(x).ok())
            .map(|x| {
                (
                    Ipv4Addr::new(10, 254, x, slot * 4 + 1),
                    Ipv4Addr::new(10, 254, x, slot * 4 + 2),
                )
            })
            .find(|(h, p)| {
                !existing.contains(&format!("inet {h}/"))
                    && !existing.contains(&format!("inet {p}/"))
            })
            .context("no free 10.254.X.Y/30 for the test pod")?;
        let name = format!("kdrs-dropin-{pid}-{slot}");
        let tag = format!("{}{slot}", pid % 1_000_000);
        let host_if = format!("kdh{tag}");
        let pod_if = format!("kdp{tag}");
        let etc_dir = Path::new(ETC_NETNS).join(&name);
        run_ip(ip, &["netns", "add", &name])?;
        // From here on, Drop cleans up whatever was created.
        let net = PodNet {
            name,
            host_ip,
            pod_ip,
            ip,
            host_if,
            etc_dir,
        };
        net.configure(&pod_if)?;
        Ok(net)
    }

    fn configure(&self, pod_if: &str) -> anyhow::Result<()> {
        let ns = self.name.as_str();
        let (ip, host_if) = (self.ip, self.host_if.as_str());
        run_ip(
            ip,
            &[
                "link", "add", host_if, "type", "veth", "peer", "name", pod_if, "netns", ns,
            ],
        )?;
        run_ip(
            ip,
            &[
                "addr",
                "add",
                &format!("{}/30", self.host_ip),
                "dev",
                host_if,
            ],
        )?;
        run_ip(ip, &["link", "set", host_if, "up"])?;
        run_ip(ip, &["-n", ns, "link", "set", "lo", "up"])?;
        run_ip(
            ip,
            &[
                "-n",
                ns,
                "addr",
                "add",
                &format!("{}/30", self.pod_ip),
                "dev",
                pod_if,
            ],
        )?;
        run_ip(ip, &["-n", ns, "link", "set", pod_if, "up"])?;
        // Replies to the host (API emulator, fake upstreams) leave through the veth.
        run_ip(
            ip,
            &[
                "-n",
                ns,
                "route",
                "add",
                "default",
                "via",
                &self.host_ip.to_string(),
            ],
        )?;
        Ok(())
    }

    /// Writes the pod's `/etc/resolv.conf` (bind-mounted by `ip netns exec`).
    pub fn write_resolv_conf(&self, text: &str) -> anyhow::Result<()> {
        std::fs::create_dir_all(&self.etc_dir)
            .with_context(|| format!("creating {}", self.etc_dir.display()))?;
        let path = self.etc_dir.join("resolv.conf");
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))
    }

    /// `ip netns exec <ns>`: the prefix that runs a program inside the pod.
    pub fn exec_prefix(&self) -> (&'static str, Vec<String>) {
        (
            self.ip,
            vec!["netns".into(), "exec".into(), self.name.clone()],
        )
    }

    /// Processes currently in the namespace.
    pub fn pids(&self) -> anyhow::Result<Vec<u32>> {
        let out = run_ip(self.ip, &["netns", "pids", &self.name])?;
        Ok(out
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect())
    }
}

impl Drop for PodNet {
    fn drop(&mut self) {
        // Processes still inside are ours (started in this namespace by the test).
        if let Ok(pids) = self.pids() {
            for pid in pids {
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .output();
            }
        }
        if let Err(e) = run_ip(self.ip, &["netns", "del", &self.name]) {
            eprintln!("drop-in cleanup: {e}");
        }
        // Normally gone with the namespace (its peer was inside).
        let _ = run_ip(self.ip, &["link", "del", &self.host_if]);
        if self.etc_dir.exists()
            && let Err(e) = std::fs::remove_dir_all(&self.etc_dir)
        {
            eprintln!("drop-in cleanup: removing {}: {e}", self.etc_dir.display());
        }
    }
}
