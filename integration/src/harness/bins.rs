//! Locating the workspace's binaries: next to the running executable (`target/<profile>/`,
//! or its parent when the executable is a test in `target/<profile>/deps/`), or in the
//! directory named by `KUBE_DNS_RS_BIN_DIR`.

use std::path::{Path, PathBuf};

use serverkit::require::Need;

/// Environment variable overriding the binary directory.
pub const BIN_DIR_ENV: &str = "KUBE_DNS_RS_BIN_DIR";

/// Names of the workspace binaries the harness runs.
pub const WORKSPACE_BINARIES: &[&str] = &["kubedns", "dnsmasq-rs", "healthz"];

/// A binary was not built.
#[derive(Debug, thiserror::Error)]
#[error(
    "binary `{name}` not found (looked in: {searched}); build the workspace first with \
     `cargo build --workspace --bins` (same profile and CARGO_TARGET_DIR as the tests), or set \
     {BIN_DIR_ENV}"
)]
pub struct BinaryNotFound {
    /// Binary name.
    pub name: String,
    /// Directories searched.
    pub searched: String,
}

/// Directories searched for binaries, in order.
pub fn search_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(d) = std::env::var_os(BIN_DIR_ENV) {
        dirs.push(PathBuf::from(d));
    }
    if let Ok(exe) = std::env::current_exe()
        && let Some(dir) = exe.parent()
    {
        dirs.push(dir.to_path_buf());
        if dir
            .file_name()
            .is_some_and(|n| n == "deps" || n == "examples")
            && let Some(p) = dir.parent()
        {
            dirs.push(p.to_path_buf());
        }
    }
    dirs
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Full path of a workspace binary.
pub fn binary_path(name: &str) -> Result<PathBuf, BinaryNotFound> {
    let dirs = search_dirs();
    dirs.iter()
        .map(|d| d.join(name))
        .find(|p| is_executable(p))
        .ok_or_else(|| BinaryNotFound {
            name: name.to_string(),
            searched: dirs
                .iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        })
}

/// The binaries among [`WORKSPACE_BINARIES`] that are missing.
pub fn missing_binaries() -> Vec<&'static str> {
    WORKSPACE_BINARIES
        .iter()
        .copied()
        .filter(|b| binary_path(b).is_err())
        .collect()
}

/// Workspace binary `name` as a test requirement: the path where it was found, else where it
/// was first looked for.
pub fn binary_need(name: &str) -> Need {
    let path = binary_path(name).unwrap_or_else(|_| {
        search_dirs()
            .first()
            .map_or_else(|| PathBuf::from(name), |d| d.join(name))
    });
    Need::file(
        path,
        format!("workspace binary `{name}` (build it with `cargo build --workspace --bins`)"),
    )
}

/// Every binary of [`WORKSPACE_BINARIES`] as a test requirement.
pub fn binary_needs() -> Vec<Need> {
    WORKSPACE_BINARIES.iter().map(|b| binary_need(b)).collect()
}

/// For end-to-end tests: `true` when a workspace binary is not built, so the test returns
/// early, after the one `SKIP` line of [`serverkit::require::need`]; under CI a missing
/// binary fails the test instead (`cargo test --workspace` builds every binary, so absence
/// there is a bug and the end-to-end tests must not silently pass).
pub fn skip_without_binaries() -> bool {
    !serverkit::require::need(&binary_needs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_binary_error_says_how_to_build() {
        let e = binary_path("definitely-not-a-kube-dns-rs-binary").expect_err("missing");
        let msg = e.to_string();
        assert!(msg.contains("cargo build --workspace"), "{msg}");
        assert!(!search_dirs().is_empty());
    }
}
