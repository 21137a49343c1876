//! The container security model a kubelet and container runtime (containerd/docker) apply,
//! as pure data: a container's `securityContext` and the pod's, resolved against the image
//! defaults into the process identity and capability sets, and the `setpriv` arguments that
//! reproduce them.
//!
//! * Identity: `runAsUser`/`runAsGroup` from the container, else the pod, else the image's
//!   `USER` (1001:1001 for every kube-dns-rs image, manifests/images/Dockerfile). `runAsNonRoot`
//!   with an effective uid 0 is refused, as the kubelet refuses to start the container.
//! * Supplementary groups: the pod's `supplementalGroups` plus `fsGroup` (the scratch images
//!   have no /etc/group, so nothing comes from the image).
//! * Capabilities: the runtime default set, minus `drop` (`ALL` drops everything), plus `add`
//!   (`ALL` adds everything); `privileged: true` keeps every capability. The result is the
//!   bounding set. A non-root process keeps none of it across exec, except what a file
//!   capability grants: the dnsmasq-rs image's `cap_net_bind_service=+ep` is emulated by an
//!   inheritable + ambient NET_BIND_SERVICE for that binary only, when the bounding set holds it.
//!   Under no_new_privs the ambient capability still applies where the kernel would ignore a
//!   file capability exceeding the pre-exec permitted set; runtimes give a non-root process its
//!   capability list as the pre-exec permitted set, so the file capability takes effect there too
//!   and the ambient capability stands in for it faithfully.
//! * `allowPrivilegeEscalation: false` sets no_new_privs.

use anyhow::{Context, bail};
use serde_json::Value;

/// The image `USER` of every kube-dns-rs image (manifests/images/Dockerfile).
pub const IMAGE_USER: (u32, u32) = (1001, 1001);
/// Binary whose image carries a file capability, and that capability.
pub const FILE_CAP_BINARY: (&str, &str) = ("dnsmasq-rs", "NET_BIND_SERVICE");

/// Linux capabilities by bit number (capability.h), upper case without `CAP_`.
const CAPS: &[&str] = &[
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
];

/// The containerd/docker default capability set.
pub const RUNTIME_DEFAULT_CAPS: &[&str] = &[
    "CHOWN",
    "DAC_OVERRIDE",
    "FSETID",
    "FOWNER",
    "MKNOD",
    "NET_RAW",
    "SETGID",
    "SETUID",
    "SETFCAP",
    "SETPCAP",
    "NET_BIND_SERVICE",
    "SYS_CHROOT",
    "KILL",
    "AUDIT_WRITE",
];

/// Every known capability.
pub const ALL_CAPS: u64 = (1 << CAPS.len()) - 1;

/// Bit mask of a capability name (`NET_BIND_SERVICE`, `CAP_NET_BIND_SERVICE`, any case).
pub fn cap_bit(name: &str) -> anyhow::Result<u64> {
    let upper = name.to_ascii_uppercase();
    let bare = upper.strip_prefix("CAP_").unwrap_or(&upper);
    let i = CAPS
        .iter()
        .position(|c| *c == bare)
        .with_context(|| format!("unknown capability {name}"))?;
    Ok(1 << i)
}

fn mask_of(names: &[&str]) -> anyhow::Result<u64> {
    names.iter().try_fold(0, |m, n| Ok(m | cap_bit(n)?))
}

/// `setpriv` capability list: `-all` then `+name` for each bit (lower case, no `cap_`).
fn setpriv_caps(mask: u64) -> String {
    let mut s = "-all".to_string();
    for (i, name) in CAPS.iter().enumerate() {
        if mask & (1 << i) != 0 {
            s.push_str(",+");
            s.push_str(&name.to_ascii_lowercase());
        }
    }
    s
}

/// The fields of a `securityContext` this model uses (container or pod level).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SecurityContext {
    pub run_as_user: Option<u32>,
    pub run_as_group: Option<u32>,
    pub run_as_non_root: Option<bool>,
    /// Container only.
    pub allow_privilege_escalation: Option<bool>,
    /// Container only.
    pub privileged: bool,
    /// Container only: `capabilities.add`.
    pub cap_add: Vec<String>,
    /// Container only: `capabilities.drop`.
    pub cap_drop: Vec<String>,
    /// Pod only.
    pub supplemental_groups: Vec<u32>,
    /// Pod only.
    pub fs_group: Option<u32>,
}

fn id_field(sc: &Value, key: &str) -> anyhow::Result<Option<u32>> {
    match &sc[key] {
        Value::Null => Ok(None),
        v => v
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .map(Some)
            .with_context(|| format!("securityContext.{key}: not a uid/gid: {v}")),
    }
}

fn bool_field(sc: &Value, key: &str) -> anyhow::Result<Option<bool>> {
    match &sc[key] {
        Value::Null => Ok(None),
        Value::Bool(b) => Ok(Some(*b)),
        v => bail!("securityContext.{key}: not a boolean: {v}"),
    }
}

fn names(v: &Value, what: &str) -> anyhow::Result<Vec<String>> {
    v.as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            c.as_str()
                .map(str::to_string)
                .with_context(|| format!("{what}: non-string item {c}"))
        })
        .collect()
}

impl SecurityContext {
    /// Parses a `securityContext` object (`null` = none).
    pub fn parse(sc: &Value) -> anyhow::Result<SecurityContext> {
        let caps = &sc["capabilities"];
        let groups = sc["supplementalGroups"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|g| {
                g.as_u64()
                    .and_then(|n| u32::try_from(n).ok())
                    .with_context(|| format!("supplementalGroups: not a gid: {g}"))
            })
            .collect::<anyhow::Result<Vec<u32>>>()?;
        Ok(SecurityContext {
            run_as_user: id_field(sc, "runAsUser")?,
            run_as_group: id_field(sc, "runAsGroup")?,
            run_as_non_root: bool_field(sc, "runAsNonRoot")?,
            allow_privilege_escalation: bool_field(sc, "allowPrivilegeEscalation")?,
            privileged: bool_field(sc, "privileged")?.unwrap_or(false),
            cap_add: names(&caps["add"], "capabilities.add")?,
            cap_drop: names(&caps["drop"], "capabilities.drop")?,
            supplemental_groups: groups,
            fs_group: id_field(sc, "fsGroup")?,
        })
    }
}

/// What the container process runs with.
#[derive(Debug, Clone, PartialEq)]
pub struct Effective {
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups, sorted.
    pub groups: Vec<u32>,
    /// Capability bounding set (the runtime's capability list for the container).
    pub bounding: u64,
    /// Inheritable + ambient capabilities (the emulated file capability).
    pub ambient: u64,
    /// no_new_privs.
    pub no_new_privs: bool,
}

impl Effective {
    /// The effective capability set the process must show: the whole set for root, only the
    /// ambient capabilities for any other user.
    pub fn cap_eff(&self) -> u64 {
        if self.uid == 0 {
            self.bounding
        } else {
            self.ambient
        }
    }

    /// `setpriv` options (before `--`) that start a program with this identity. `--pdeathsig
    /// keep` restores the harness's parent-death signal, which the uid change clears.
    pub fn setpriv_args(&self) -> Vec<String> {
        let groups = if self.groups.is_empty() {
            "--clear-groups".to_string()
        } else {
            let list: Vec<String> = self.groups.iter().map(u32::to_string).collect();
            format!("--groups={}", list.join(","))
        };
        let mut args = vec![
            format!("--reuid={}", self.uid),
            format!("--regid={}", self.gid),
            groups,
            format!("--inh-caps={}", setpriv_caps(self.ambient)),
            format!("--ambient-caps={}", setpriv_caps(self.ambient)),
            format!("--bounding-set={}", setpriv_caps(self.bounding)),
        ];
        if self.no_new_privs {
            args.push("--no-new-privs".into());
        }
        args.extend(["--pdeathsig".into(), "keep".into()]);
        args
    }
}

/// Resolves `container` (running `binary`) in a pod with `pod` security context.
/// `available` is the bounding set the launcher itself holds (a set it cannot raise).
pub fn effective(
    pod: &SecurityContext,
    container: &SecurityContext,
    binary: &str,
    available: u64,
) -> anyhow::Result<Effective> {
    let uid = container
        .run_as_user
        .or(pod.run_as_user)
        .unwrap_or(IMAGE_USER.0);
    let gid = container
        .run_as_group
        .or(pod.run_as_group)
        .unwrap_or(IMAGE_USER.1);
    if uid == 0 && container.run_as_non_root.or(pod.run_as_non_root) == Some(true) {
        bail!("runAsNonRoot is set but the container would run as uid 0");
    }
    let mut groups: Vec<u32> = pod
        .supplemental_groups
        .iter()
        .copied()
        .chain(pod.fs_group)
        .collect();
    groups.sort_unstable();
    groups.dedup();
    let mut caps = mask_of(RUNTIME_DEFAULT_CAPS)?;
    for d in &container.cap_drop {
        caps &= !if d.eq_ignore_ascii_case("all") {
            ALL_CAPS
        } else {
            cap_bit(d)?
        };
    }
    for a in &container.cap_add {
        caps |= if a.eq_ignore_ascii_case("all") {
            ALL_CAPS
        } else {
            cap_bit(a)?
        };
    }
    if container.privileged {
        caps = ALL_CAPS;
    }
    let bounding = caps & available;
    let ambient = match FILE_CAP_BINARY {
        (b, cap) if b == binary && uid != 0 => bounding & cap_bit(cap)?,
        _ => 0,
    };
    Ok(Effective {
        uid,
        gid,
        groups,
        bounding,
        ambient,
        no_new_privs: container.allow_privilege_escalation == Some(false),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NET_BIND: u64 = 1 << 10;

    fn sc(v: Value) -> SecurityContext {
        SecurityContext::parse(&v).expect("parses")
    }

    #[test]
    fn image_user_and_runtime_defaults_apply_without_a_security_context() {
        let none = SecurityContext::default();
        let e = effective(&none, &none, "kubedns", ALL_CAPS).expect("effective");
        assert_eq!((e.uid, e.gid), IMAGE_USER);
        assert_eq!(e.bounding.count_ones(), 14);
        assert_eq!(e.cap_eff(), 0);
        assert!(!e.no_new_privs);
        let d = effective(&none, &none, "dnsmasq-rs", ALL_CAPS).expect("effective");
        assert_eq!(d.cap_eff(), NET_BIND);
    }

    #[test]
    fn current_manifest_contexts() {
        let pod = sc(json!({"supplementalGroups": [65534], "fsGroup": 65534,
            "seccompProfile": {"type": "RuntimeDefault"}}));
        let kubedns = sc(json!({"allowPrivilegeEscalation": false, "runAsUser": 1001,
            "runAsGroup": 1001, "readOnlyRootFilesystem": true}));
        let e = effective(&pod, &kubedns, "kubedns", ALL_CAPS).expect("effective");
        assert_eq!(e.groups, [65534]);
        assert!(e.no_new_privs);
        assert_eq!(e.cap_eff(), 0);
        let dnsmasq = sc(json!({"capabilities": {"drop": ["all"],
            "add": ["NET_BIND_SERVICE", "SETGID"]}}));
        let d = effective(&pod, &dnsmasq, "dnsmasq-rs", ALL_CAPS).expect("effective");
        assert_eq!(d.bounding, NET_BIND | 1 << 6);
        assert_eq!(d.cap_eff(), NET_BIND);
        assert_eq!(
            d.setpriv_args(),
            [
                "--reuid=1001",
                "--regid=1001",
                "--groups=65534",
                "--inh-caps=-all,+net_bind_service",
                "--ambient-caps=-all,+net_bind_service",
                "--bounding-set=-all,+setgid,+net_bind_service",
                "--pdeathsig",
                "keep",
            ]
        );
    }

    #[test]
    fn dropping_the_file_capability_removes_it() {
        let none = SecurityContext::default();
        let dropped = sc(json!({"capabilities": {"drop": ["CAP_NET_BIND_SERVICE"]}}));
        let d = effective(&none, &dropped, "dnsmasq-rs", ALL_CAPS).expect("effective");
        assert_eq!(d.cap_eff(), 0);
        assert_eq!(d.bounding.count_ones(), 13);
        let readded = sc(json!({"capabilities": {"drop": ["ALL"], "add": ["net_bind_service"]}}));
        let r = effective(&none, &readded, "dnsmasq-rs", ALL_CAPS).expect("effective");
        assert_eq!((r.bounding, r.cap_eff()), (NET_BIND, NET_BIND));
        // The launcher cannot grant what it does not hold.
        let l = effective(&none, &readded, "dnsmasq-rs", !NET_BIND).expect("effective");
        assert_eq!(l.cap_eff(), 0);
    }

    #[test]
    fn container_overrides_pod_and_root_keeps_its_set() {
        let pod = sc(json!({"runAsUser": 2000, "runAsGroup": 3000}));
        let e =
            effective(&pod, &SecurityContext::default(), "healthz", ALL_CAPS).expect("effective");
        assert_eq!((e.uid, e.gid), (2000, 3000));
        let root = sc(json!({"runAsUser": 0, "capabilities": {"drop": ["all"], "add": ["KILL"]}}));
        let r = effective(&pod, &root, "healthz", ALL_CAPS).expect("effective");
        assert_eq!((r.uid, r.gid, r.cap_eff()), (0, 3000, 1 << 5));
        let non_root = sc(json!({"runAsNonRoot": true}));
        assert!(effective(&non_root, &root, "healthz", ALL_CAPS).is_err());
        let bad = sc(json!({"capabilities": {"add": ["NOT_A_CAP"]}}));
        assert!(effective(&pod, &bad, "healthz", ALL_CAPS).is_err());
        assert!(SecurityContext::parse(&json!({"runAsUser": "1001"})).is_err());
    }
}
