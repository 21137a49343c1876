//! Skip-or-fail for the external requirements of tests (a tool, root, network namespaces, a
//! built binary, anything else a test states).
//!
//! One rule for the whole workspace: outside CI a test whose requirement is missing prints
//! exactly one line `SKIP <test name>: missing <what>[, <what>…]` on stderr (uncaptured, so it
//! shows in `cargo test` output), appends the same line to the file named by
//! [`SKIP_LOG_ENV`] (when set) and returns without testing anything. Under CI (the `CI`
//! environment variable set, non-empty and neither `false` nor `0`) the test panics instead,
//! naming every missing requirement, so CI cannot pass by skipping. `.ci/run` sets the skip
//! log and fails when it is not empty.
//!
//! ```no_run
//! use serverkit::require::Need;
//!
//! fn dig_reads_our_replies() -> Result<(), std::io::Error> {
//!     serverkit::require!(Need::Tool("dig"), Need::Root);
//!     // … the test proper …
//!     Ok(())
//! }
//! ```

use std::ffi::OsStr;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// Environment variable that turns a missing requirement into a failure.
pub const CI_ENV: &str = "CI";
/// Environment variable naming the file every skip appends its line to.
pub const SKIP_LOG_ENV: &str = "KUBE_DNS_RS_SKIP_LOG";
/// Directories searched for tools after `PATH` (Debian installs daemons and `ip` there, and
/// they are not on a non-root user's `PATH`).
pub const SBIN_DIRS: &[&str] = &["/usr/sbin", "/sbin"];
/// Values of [`CI_ENV`] that mean "not CI" (besides unset and empty).
const CI_OFF_VALUES: &[&str] = &["false", "0"];
/// Name of the probe namespace [`Need::NetNs`] creates and deletes (suffixed with the pid).
const NETNS_PROBE_PREFIX: &str = "kdrs-need-probe";

/// One external requirement of a test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Need {
    /// An executable found on `PATH` or in [`SBIN_DIRS`].
    Tool(&'static str),
    /// Effective uid 0.
    Root,
    /// A network namespace can be created (`ip netns add`, which needs root and iproute2).
    NetNs,
    /// A file that must exist (and be executable when it is a program): the built control
    /// plane, a peer binary, a workspace binary.
    File {
        /// Where it must be.
        path: PathBuf,
        /// What it is, for the skip or failure message (say how to get it).
        what: String,
    },
    /// Any other condition the test evaluated itself.
    Custom {
        /// What is needed, for the message.
        what: String,
        /// Whether it is met.
        met: bool,
    },
}

impl Need {
    /// Shorthand for [`Need::File`].
    pub fn file(path: impl Into<PathBuf>, what: impl Into<String>) -> Need {
        Need::File {
            path: path.into(),
            what: what.into(),
        }
    }

    /// Shorthand for [`Need::Custom`].
    pub fn custom(what: impl Into<String>, met: bool) -> Need {
        Need::Custom {
            what: what.into(),
            met,
        }
    }

    /// Whether the requirement holds on this machine now.
    pub fn is_met(&self) -> bool {
        match self {
            Need::Tool(name) => tool_path(name).is_some(),
            Need::Root => effective_uid() == Some(0),
            Need::NetNs => netns_supported(),
            Need::File { path, .. } => path.exists(),
            Need::Custom { met, .. } => *met,
        }
    }

    /// The requirement as the skip and failure messages name it.
    pub fn describe(&self) -> String {
        match self {
            Need::Tool(name) => format!("tool `{name}` (searched PATH and {SBIN_DIRS:?})"),
            Need::Root => "root (effective uid 0)".to_string(),
            Need::NetNs => "network namespaces (`ip netns add` must work)".to_string(),
            Need::File { path, what } => format!("{what} ({})", path.display()),
            Need::Custom { what, .. } => what.clone(),
        }
    }
}

/// Full path of the executable `name` on `PATH` or in [`SBIN_DIRS`], if any.
pub fn tool_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(SBIN_DIRS.iter().map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Effective uid from `/proc/self/status` (no `unsafe` needed).
pub fn effective_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_effective_uid(&status)
}

/// The effective uid (second field) of the `Uid:` line of a `/proc/<pid>/status` text.
fn parse_effective_uid(status: &str) -> Option<u32> {
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

/// Whether `ip netns add` works here (checked once per process with a throw-away namespace).
fn netns_supported() -> bool {
    static SUPPORTED: OnceLock<bool> = OnceLock::new();
    *SUPPORTED.get_or_init(|| {
        let Some(ip) = tool_path("ip") else {
            return false;
        };
        if effective_uid() != Some(0) {
            return false;
        }
        let probe = format!("{NETNS_PROBE_PREFIX}-{}", std::process::id());
        let quiet = |args: &[&str]| {
            Command::new(&ip)
                .args(args)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        let ok = quiet(&["netns", "add", &probe]);
        if ok {
            quiet(&["netns", "del", &probe]);
        }
        ok
    })
}

/// Whether a value of the `CI` environment variable means "running under CI": set,
/// non-empty, and not one of `false`/`0` (case-insensitive).
pub fn is_ci(value: Option<&OsStr>) -> bool {
    let Some(v) = value.and_then(OsStr::to_str) else {
        // Unset means no; a non-UTF-8 value is set and not "false": yes.
        return value.is_some_and(|v| !v.is_empty());
    };
    let v = v.trim();
    !v.is_empty() && !CI_OFF_VALUES.iter().any(|off| v.eq_ignore_ascii_case(off))
}

/// Whether this process runs under CI (see [`is_ci`]).
pub fn under_ci() -> bool {
    is_ci(std::env::var_os(CI_ENV).as_deref())
}

/// What [`need`] does for a test, decided without touching the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every requirement is met: run the test.
    Run,
    /// Outside CI with something missing: print and log this one line, then return.
    Skip(String),
    /// Under CI with something missing: panic with this message.
    Fail(String),
}

/// The verdict for `test` given the descriptions of its `missing` requirements.
pub fn decide(test: &str, missing: &[String], ci: bool) -> Verdict {
    if missing.is_empty() {
        return Verdict::Run;
    }
    let list = missing.join(", ");
    if ci {
        Verdict::Fail(format!(
            "{test}: missing {list} (CI is set, so a missing requirement fails the test; \
             `.ci/run` installs every requirement)"
        ))
    } else {
        Verdict::Skip(format!("SKIP {test}: missing {list}"))
    }
}

/// The running test's name: libtest names each test's thread after the test.
fn current_test_name() -> String {
    match std::thread::current().name() {
        Some(n) if n != "main" => n.to_string(),
        _ => "<unnamed test>".to_string(),
    }
}

/// Checks `reqs`: `true` means run the test. Outside CI a missing requirement prints one
/// `SKIP <test>: missing <what>` line and returns `false`; under CI it panics naming every
/// missing requirement.
pub fn need(reqs: &[Need]) -> bool {
    let missing: Vec<String> = reqs
        .iter()
        .filter(|r| !r.is_met())
        .map(Need::describe)
        .collect();
    match decide(&current_test_name(), &missing, under_ci()) {
        Verdict::Run => true,
        Verdict::Skip(line) => {
            // Straight to the process's stderr: `eprintln!` output of a passing test is
            // captured by libtest and would hide the skip.
            let _ = writeln!(std::io::stderr().lock(), "{line}");
            log_skip(&line);
            false
        }
        Verdict::Fail(msg) => panic!("{msg}"),
    }
}

/// Appends `line` to the skip log named by [`SKIP_LOG_ENV`], if set.
fn log_skip(line: &str) {
    let Some(path) = std::env::var_os(SKIP_LOG_ENV).filter(|p| !p.is_empty()) else {
        return;
    };
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut f| writeln!(f, "{line}"));
    if let Err(e) = written {
        let _ = writeln!(
            std::io::stderr().lock(),
            "cannot append to the skip log {}: {e}",
            Path::new(&path).display()
        );
    }
}

/// What a skipped test returns: `()` or `Ok(())`.
pub trait SkipReturn {
    /// The value returned by a skipped test.
    fn skipped() -> Self;
}

impl SkipReturn for () {
    fn skipped() -> Self {}
}

impl<T: SkipReturn, E> SkipReturn for Result<T, E> {
    fn skipped() -> Self {
        Ok(T::skipped())
    }
}

/// Returns from the calling test (with `()` or `Ok(())`) unless every [`Need`] is met; under
/// CI a missing requirement fails the test instead (see [`need`]).
#[macro_export]
macro_rules! require {
    ($($need:expr),+ $(,)?) => {
        if !$crate::require::need(&[$($need),+]) {
            return <_ as $crate::require::SkipReturn>::skipped();
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (case, value of CI, under CI?)
    const CI_VALUES: &[(&str, Option<&str>, bool)] = &[
        ("unset", None, false),
        ("empty", Some(""), false),
        ("false", Some("false"), false),
        ("FALSE", Some("FALSE"), false),
        ("zero", Some("0"), false),
        ("true", Some("true"), true),
        ("one", Some("1"), true),
        ("yes", Some("yes"), true),
        ("provider name", Some("github-actions"), true),
    ];

    #[test]
    fn ci_values() {
        for (case, value, want) in CI_VALUES {
            assert_eq!(is_ci(value.map(OsStr::new)), *want, "{case}");
        }
    }

    #[test]
    fn verdicts() {
        let missing = vec!["tool `dig`".to_string(), "root".to_string()];
        assert_eq!(decide("t", &[], false), Verdict::Run);
        assert_eq!(decide("t", &[], true), Verdict::Run);
        assert_eq!(
            decide("mod::t", &missing, false),
            Verdict::Skip("SKIP mod::t: missing tool `dig`, root".into())
        );
        let Verdict::Fail(msg) = decide("mod::t", &missing, true) else {
            panic!("under CI a missing requirement must fail");
        };
        assert!(msg.starts_with("mod::t: missing tool `dig`, root"), "{msg}");
    }

    #[test]
    fn effective_uid_is_the_second_field() {
        let status = "Name:\tx\nUid:\t1000\t0\t0\t0\nGid:\t1\t1\t1\t1\n";
        assert_eq!(parse_effective_uid(status), Some(0));
        assert_eq!(parse_effective_uid("Name:\tx\n"), None);
    }

    #[test]
    fn needs_are_evaluated() {
        assert!(Need::Tool("sh").is_met());
        assert!(!Need::Tool("definitely-not-a-kube-dns-rs-tool").is_met());
        assert!(Need::file("/", "the root directory").is_met());
        assert!(!Need::file("/nonexistent/kube-dns-rs", "x").is_met());
        assert!(Need::custom("always", true).is_met());
        assert!(!Need::custom("never", false).is_met());
        assert_eq!(Need::Root.is_met(), effective_uid() == Some(0));
        let d = Need::file("/x/kubedns", "workspace binary `kubedns`").describe();
        assert_eq!(d, "workspace binary `kubedns` (/x/kubedns)");
    }

    #[test]
    fn test_name_comes_from_the_test_thread() {
        assert!(
            current_test_name().ends_with("test_name_comes_from_the_test_thread"),
            "{}",
            current_test_name()
        );
    }

    #[test]
    fn need_runs_when_everything_is_met() {
        assert!(need(&[Need::custom("met", true), Need::Tool("sh")]));
    }

    fn returns_unit() -> u32 {
        // A skipped test returns through the macro before reaching the end.
        fn inner(count: &mut u32) {
            require!(Need::custom("met", true));
            *count += 1;
        }
        let mut n = 0;
        inner(&mut n);
        n
    }

    #[test]
    fn macro_continues_when_met() {
        assert_eq!(returns_unit(), 1);
        fn result(out: &mut u8) -> Result<(), String> {
            require!(Need::custom("met", true), Need::Tool("sh"));
            *out = 7;
            Ok(())
        }
        let mut out = 0;
        assert_eq!(result(&mut out), Ok(()));
        assert_eq!(out, 7);
    }

    #[test]
    fn skipped_values() {
        let () = <() as SkipReturn>::skipped();
        assert_eq!(<Result<(), String> as SkipReturn>::skipped(), Ok(()));
    }
}
