//! Running the pod's containers with the privileges a kubelet + container runtime would give
//! them ([`super::security`]) and checking that they do: each container is started as
//! `ip netns exec <ns> setpriv <identity> -- <binary> <args>` (`ip netns exec` and `setpriv`
//! both exec, so the spawned pid is the binary's), and once the pod is up `/proc/<pid>/exe`
//! must be the binary and `/proc/<pid>/status` must show the expected uid/gid, supplementary
//! groups, capability sets and no_new_privs.
//!
//! Without util-linux `setpriv`, or when a binary is not executable by the container's uid
//! (e.g. a CARGO_TARGET_DIR under a 0700 home), the pod runs as root as before and the run
//! prints "SKIPPED privilege checks: …".

use std::path::Path;
use std::process::Command;

use anyhow::{Context, bail};

use super::pod::{PodTemplate, binary_for_image};
use super::running::Pod;
use super::security::{ALL_CAPS, Effective, effective};
use integration::harness::binary_path;
use serverkit::require::{Need, need};

/// Candidate locations of `setpriv` (util-linux).
const SETPRIV_PATHS: &[&str] = &["/usr/bin/setpriv", "/bin/setpriv", "/usr/sbin/setpriv"];
/// `test(1)`, run through `setpriv` to check a binary is executable by the container's uid.
const TEST_PATHS: &[&str] = &["/usr/bin/test", "/bin/test"];

fn first_existing(paths: &[&'static str]) -> Option<&'static str> {
    paths.iter().copied().find(|p| Path::new(p).exists())
}

/// The fields of `/proc/<pid>/status` this test checks.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcStatus {
    /// Real, effective, saved, filesystem.
    pub uid: Vec<u32>,
    /// Real, effective, saved, filesystem.
    pub gid: Vec<u32>,
    pub groups: Vec<u32>,
    pub cap_eff: u64,
    pub cap_prm: u64,
    pub cap_bnd: u64,
    pub cap_amb: u64,
    pub no_new_privs: bool,
}

/// Parses the text of `/proc/<pid>/status`.
pub fn parse_status(text: &str) -> anyhow::Result<ProcStatus> {
    let field = |key: &str| -> anyhow::Result<&str> {
        text.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
            .map(str::trim)
            .with_context(|| format!("no {key}: line in /proc status"))
    };
    let ids = |key: &str| -> anyhow::Result<Vec<u32>> {
        field(key)?
            .split_whitespace()
            .map(|n| n.parse().with_context(|| format!("{key}: {n}")))
            .collect()
    };
    let mask = |key: &str| -> anyhow::Result<u64> {
        let v = field(key)?;
        u64::from_str_radix(v, 16).with_context(|| format!("{key}: {v}"))
    };
    Ok(ProcStatus {
        uid: ids("Uid")?,
        gid: ids("Gid")?,
        groups: ids("Groups")?,
        cap_eff: mask("CapEff")?,
        cap_prm: mask("CapPrm")?,
        cap_bnd: mask("CapBnd")?,
        cap_amb: mask("CapAmb")?,
        no_new_privs: field("NoNewPrivs")? == "1",
    })
}

fn read_status(pid: &str) -> anyhow::Result<ProcStatus> {
    let path = format!("/proc/{pid}/status");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    parse_status(&text).with_context(|| path)
}

/// Every difference between what `status` shows and `want` (empty when they agree).
/// `inherited_nnp`: the launcher itself runs with no_new_privs, which every child inherits.
pub fn mismatches(status: &ProcStatus, want: &Effective, inherited_nnp: bool) -> Vec<String> {
    let mut bad = Vec::new();
    let mut groups = status.groups.clone();
    groups.sort_unstable();
    let nnp = want.no_new_privs || inherited_nnp;
    let checks: [(&str, bool, String, String); 8] = [
        (
            "Uid",
            status.uid.len() == 4 && status.uid.iter().all(|u| *u == want.uid),
            format!("{:?}", status.uid),
            format!("{} x4", want.uid),
        ),
        (
            "Gid",
            status.gid.len() == 4 && status.gid.iter().all(|g| *g == want.gid),
            format!("{:?}", status.gid),
            format!("{} x4", want.gid),
        ),
        (
            "Groups",
            groups == want.groups,
            format!("{groups:?}"),
            format!("{:?}", want.groups),
        ),
        (
            "CapEff",
            status.cap_eff == want.cap_eff(),
            format!("{:#x}", status.cap_eff),
            format!("{:#x}", want.cap_eff()),
        ),
        (
            "CapPrm",
            status.cap_prm == want.cap_eff(),
            format!("{:#x}", status.cap_prm),
            format!("{:#x}", want.cap_eff()),
        ),
        (
            "CapBnd",
            status.cap_bnd == want.bounding,
            format!("{:#x}", status.cap_bnd),
            format!("{:#x}", want.bounding),
        ),
        (
            "CapAmb",
            status.cap_amb == want.ambient,
            format!("{:#x}", status.cap_amb),
            format!("{:#x}", want.ambient),
        ),
        (
            "NoNewPrivs",
            status.no_new_privs == nnp,
            u8::from(status.no_new_privs).to_string(),
            u8::from(nnp).to_string(),
        ),
    ];
    for (key, ok, got, exp) in checks {
        if !ok {
            bad.push(format!("{key}: {got}, expected {exp}"));
        }
    }
    bad
}

/// How the pod's containers are launched and what each must run with.
pub struct PodPrivileges {
    setpriv: &'static str,
    inherited_nnp: bool,
    /// Per container, in manifest order.
    pub per_container: Vec<Effective>,
}

impl PodPrivileges {
    /// The resolved privileges of every container of `t`, or `None` (after printing why)
    /// when the pod must run with the old root behaviour.
    pub fn plan(t: &PodTemplate) -> anyhow::Result<Option<PodPrivileges>> {
        let setpriv = first_existing(SETPRIV_PATHS);
        let found = Need::custom(
            format!("setpriv in {SETPRIV_PATHS:?} for the privilege checks"),
            setpriv.is_some(),
        );
        let Some(setpriv) = setpriv.filter(|_| need(&[found])) else {
            return Ok(None); // outside CI: containers run as root
        };
        let own = read_status("self")?;
        let mut per_container = Vec::new();
        for c in &t.containers {
            let binary = binary_for_image(&c.image)?;
            let e = effective(&t.security, &c.security, binary, own.cap_bnd & ALL_CAPS)
                .with_context(|| format!("container {} securityContext", c.name))?;
            let program = binary_path(binary)?;
            if let Some(why) = not_executable(setpriv, &e, &program)? {
                let what = format!(
                    "privilege checks: {why} (make the binary's directories world-searchable)"
                );
                need(&[Need::custom(what, false)]);
                return Ok(None); // outside CI: containers run as root
            }
            per_container.push(e);
        }
        Ok(Some(PodPrivileges {
            setpriv,
            inherited_nnp: own.no_new_privs,
            per_container,
        }))
    }

    /// The `setpriv … --` prefix for container `i`.
    pub fn prefix(&self, i: usize) -> anyhow::Result<Vec<String>> {
        let e = self
            .per_container
            .get(i)
            .with_context(|| format!("no privileges planned for container {i}"))?;
        let mut v = vec![self.setpriv.to_string()];
        v.extend(e.setpriv_args());
        v.push("--".into());
        Ok(v)
    }

    /// Checks every running container's pid: it is the binary, with the planned identity.
    pub fn check(&self, pod: &mut Pod) -> anyhow::Result<()> {
        let mut failures = Vec::new();
        for (r, want) in pod.running.iter().zip(&self.per_container) {
            let name = &r.container.name;
            let pid = r.child.pid().with_context(|| format!("{name}: no pid"))?;
            let exe = std::fs::read_link(format!("/proc/{pid}/exe"))
                .with_context(|| format!("{name}: /proc/{pid}/exe"))?;
            let program = r
                .program
                .canonicalize()
                .unwrap_or_else(|_| r.program.clone());
            if exe != program {
                failures.push(format!(
                    "{name}: pid {pid} is {} rather than {} (setpriv or ip did not exec)",
                    exe.display(),
                    program.display()
                ));
                continue;
            }
            let status = read_status(&pid.to_string())?;
            let bad = mismatches(&status, want, self.inherited_nnp);
            if bad.is_empty() {
                println!(
                    "  ok: {name} (pid {pid}) runs as uid {} gid {} groups {:?}, CapEff {:#x}, CapBnd {:#x}, NoNewPrivs {}",
                    want.uid,
                    want.gid,
                    want.groups,
                    status.cap_eff,
                    status.cap_bnd,
                    u8::from(status.no_new_privs)
                );
            } else {
                failures.push(format!("{name} (pid {pid}): {}", bad.join("; ")));
            }
        }
        if !failures.is_empty() {
            bail!(
                "container privileges differ from the security model:\n{}\n{}",
                failures.join("\n"),
                pod.describe()
            );
        }
        Ok(())
    }
}

/// `Some(reason)` when `program` is not executable by `e`'s identity.
fn not_executable(setpriv: &str, e: &Effective, program: &Path) -> anyhow::Result<Option<String>> {
    let test = first_existing(TEST_PATHS).context("test(1) not found")?;
    let out = Command::new(setpriv)
        .args(e.setpriv_args())
        .args(["--", test, "-x"])
        .arg(program)
        .output()
        .with_context(|| format!("running {setpriv}"))?;
    match out.status.code() {
        Some(0) => Ok(None),
        Some(1) => Ok(Some(format!(
            "{} is not executable by uid {} gid {}",
            program.display(),
            e.uid,
            e.gid
        ))),
        _ => bail!(
            "`{setpriv} {} -- {test} -x {}` failed ({}): {}",
            e.setpriv_args().join(" "),
            program.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATUS: &str = "Name:\tdnsmasq-rs\nUid:\t1001\t1001\t1001\t1001\n\
        Gid:\t1001\t1001\t1001\t1001\nGroups:\t65534 \nCapInh:\t0000000000000400\n\
        CapPrm:\t0000000000000400\nCapEff:\t0000000000000400\nCapBnd:\t0000000000000440\n\
        CapAmb:\t0000000000000400\nNoNewPrivs:\t0\n";

    fn want() -> Effective {
        Effective {
            uid: 1001,
            gid: 1001,
            groups: vec![65534],
            bounding: 0x440,
            ambient: 0x400,
            no_new_privs: false,
        }
    }

    #[test]
    fn status_matches_the_planned_identity() {
        let s = parse_status(STATUS).expect("parses");
        assert_eq!(s.uid, [1001; 4]);
        assert_eq!(s.cap_eff, 0x400);
        assert!(mismatches(&s, &want(), false).is_empty());
        // A launcher running with no_new_privs passes it on.
        assert_eq!(mismatches(&s, &want(), true).len(), 1);
    }

    #[test]
    fn root_or_extra_capabilities_are_reported() {
        let root = STATUS.replace("Uid:\t1001\t1001\t1001\t1001", "Uid:\t0\t0\t0\t0");
        let s = parse_status(&root).expect("parses");
        assert_eq!(
            mismatches(&s, &want(), false),
            ["Uid: [0, 0, 0, 0], expected 1001 x4"]
        );
        let full = STATUS.replace("CapEff:\t0000000000000400", "CapEff:\t000001ffffffffff");
        let s = parse_status(&full).expect("parses");
        assert_eq!(mismatches(&s, &want(), false).len(), 1);
        let mut nnp = want();
        nnp.no_new_privs = true;
        assert_eq!(
            mismatches(&parse_status(STATUS).expect("parses"), &nnp, false),
            ["NoNewPrivs: 0, expected 1"]
        );
        assert!(parse_status("Uid:\t0\n").is_err());
    }
}
