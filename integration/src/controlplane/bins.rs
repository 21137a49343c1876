//! Locating the control-plane binaries that `integration/k8s/build.sh` builds from source:
//! `$KUBE_DNS_RS_K8S_DIR/bin` when set, else `<workspace>/target/k8s/current/bin` (the primary
//! pinned release) or `target/k8s/older/bin` for [`Release::Older`].

use std::path::{Path, PathBuf};

/// Environment variable naming a built set's directory (the one holding `bin/`).
pub const K8S_DIR_ENV: &str = "KUBE_DNS_RS_K8S_DIR";

/// The binaries a set holds.
pub const CONTROL_PLANE_BINARIES: &[&str] = &[
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kubectl",
];

/// Which pinned release of the build script.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Release {
    /// The primary release (>= 1.34): `target/k8s/current`.
    #[default]
    Primary,
    /// The older release (1.32, unpaginated RV=0 lists from the watch cache): `target/k8s/older`.
    Older,
}

impl Release {
    fn link(self) -> &'static str {
        match self {
            Release::Primary => "current",
            Release::Older => "older",
        }
    }
}

/// The built binaries of one set.
#[derive(Debug, Clone)]
pub struct K8sBinaries {
    /// The `bin/` directory.
    pub dir: PathBuf,
}

/// The workspace root (the parent of this crate's directory).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// The `bin/` directory for `release` (it may not exist).
pub fn bin_dir(release: Release) -> PathBuf {
    match (release, std::env::var_os(K8S_DIR_ENV)) {
        (Release::Primary, Some(d)) => PathBuf::from(d).join("bin"),
        _ => workspace_root()
            .join("target/k8s")
            .join(release.link())
            .join("bin"),
    }
}

/// What is missing of a set, as one line for a skip/fail message (`None` when complete).
pub fn missing(release: Release) -> Option<String> {
    let dir = bin_dir(release);
    let absent: Vec<&str> = CONTROL_PLANE_BINARIES
        .iter()
        .copied()
        .filter(|b| !dir.join(b).is_file())
        .collect();
    (!absent.is_empty()).then(|| {
        format!(
            "the control plane built from source ({} in {}; run `bash integration/k8s/build.sh {}`)",
            absent.join(", "),
            dir.display(),
            match release {
                Release::Primary => "primary",
                Release::Older => "older",
            }
        )
    })
}

impl K8sBinaries {
    /// The binaries of `release`, or what is missing.
    pub fn find(release: Release) -> Result<Self, String> {
        match missing(release) {
            Some(m) => Err(m),
            None => Ok(K8sBinaries {
                dir: bin_dir(release),
            }),
        }
    }

    /// Path of one binary.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// `<binary> --version`, first line (for test logs).
    pub fn version(&self, name: &str) -> String {
        std::process::Command::new(self.path(name))
            .arg("--version")
            .output()
            .ok()
            .map(|o| {
                let text = String::from_utf8_lossy(&o.stdout).into_owned();
                text.lines().next().unwrap_or_default().trim().to_string()
            })
            .unwrap_or_else(|| "unknown".into())
    }
}

/// The control plane of `release` as test requirements (one per binary), for
/// [`serverkit::require::need`]: under CI a missing build fails the test, outside CI it skips
/// with one line.
pub fn control_plane_needs(release: Release) -> Vec<serverkit::require::Need> {
    let dir = bin_dir(release);
    let script = match release {
        Release::Primary => "primary",
        Release::Older => "older",
    };
    CONTROL_PLANE_BINARIES
        .iter()
        .map(|b| {
            serverkit::require::Need::file(
                dir.join(b),
                format!(
                    "`{b}` of the control plane built from source \
                     (run `bash integration/k8s/build.sh {script}`)"
                ),
            )
        })
        .collect()
}

/// The kubectl built with the primary release: the one tests, docs and the sandbox use.
pub fn kubectl_path() -> PathBuf {
    bin_dir(Release::Primary).join("kubectl")
}

/// [`kubectl_path`] as a test requirement.
pub fn kubectl_need() -> serverkit::require::Need {
    serverkit::require::Need::file(
        kubectl_path(),
        "kubectl built from source (run `bash integration/k8s/build.sh primary`)",
    )
}
