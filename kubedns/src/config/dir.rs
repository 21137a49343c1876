//! `--config-dir` source: the ConfigMap mounted as a directory, polled every `--config-period`
//! with the legacy semantics (`pkg/dns/config/sync_dir.go`):
//!
//! * only regular, non-hidden files directly in the directory count (no recursion; names starting
//!   with `.` are skipped, so the kubelet's `..data` symlink directory is ignored); symlinked files
//!   are followed;
//! * the version is SHA-256 over `name \0 content \0` for each file in lexical order, hex encoded;
//!   an empty directory has version `""` and means "default config";
//! * non-UTF-8 content or a missing directory is an error (the caller keeps the last good config);
//! * the first poll always reports; later polls report only when the version changed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::{ConfigError, ConfigUpdate};

/// Read the directory once and compute its version.
pub fn read_config_dir(dir: &Path) -> Result<ConfigUpdate, ConfigError> {
    let io_err = |source: std::io::Error| ConfigError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_err)? {
        let entry = entry.map_err(io_err)?;
        let Ok(name) = entry.file_name().into_string() else {
            continue; // a non-UTF-8 file name cannot be a ConfigMap key
        };
        if name.starts_with('.') {
            continue;
        }
        // `metadata` follows symlinks: a symlink to a regular file counts as that file.
        match std::fs::metadata(entry.path()) {
            Ok(m) if m.is_file() => names.push(name),
            Ok(_) => {}
            // A dangling symlink is not a file; skip it like a directory.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(ConfigError::Io {
                    path: entry.path(),
                    source: e,
                });
            }
        }
    }
    names.sort();
    let mut data = BTreeMap::new();
    let mut hasher = Sha256::new();
    for name in &names {
        let path = dir.join(name);
        let bytes = std::fs::read(&path).map_err(|source| ConfigError::Io {
            path: path.clone(),
            source,
        })?;
        let text = String::from_utf8(bytes).map_err(|_| ConfigError::NotUtf8(path.clone()))?;
        hasher.update(name.as_bytes());
        hasher.update([0u8]);
        hasher.update(text.as_bytes());
        hasher.update([0u8]);
        data.insert(name.clone(), text);
    }
    let version = if names.is_empty() {
        String::new()
    } else {
        hex::encode(hasher.finalize())
    };
    Ok(ConfigUpdate { version, data })
}

/// Poll state of one directory: reports the first read and then only changes.
#[derive(Debug)]
pub struct DirPoller {
    dir: PathBuf,
    last_version: Option<String>,
}

impl DirPoller {
    /// A poller that has not read anything yet.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            last_version: None,
        }
    }

    /// The directory polled.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Read the directory; `Ok(Some)` on the first successful read and whenever the version
    /// changed, `Ok(None)` when unchanged.
    pub fn poll(&mut self) -> Result<Option<ConfigUpdate>, ConfigError> {
        let update = read_config_dir(&self.dir)?;
        if self.last_version.as_deref() == Some(update.version.as_str()) {
            return Ok(None);
        }
        self.last_version = Some(update.version.clone());
        Ok(Some(update))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, content: &[u8]) {
        std::fs::write(dir.join(name), content).unwrap();
    }

    #[test]
    fn missing_dir_is_error() {
        let tmp = tempfile::tempdir().unwrap();
        let err = read_config_dir(&tmp.path().join("nope")).unwrap_err();
        assert!(matches!(err, ConfigError::Io { .. }));
    }

    #[test]
    fn empty_dir_has_empty_version() {
        let tmp = tempfile::tempdir().unwrap();
        let u = read_config_dir(tmp.path()).unwrap();
        assert_eq!(u.version, "");
        assert!(u.data.is_empty());
    }

    #[test]
    fn version_is_sha256_of_names_and_contents() {
        let tmp = tempfile::tempdir().unwrap();
        write(tmp.path(), "file2", b"data2");
        write(tmp.path(), "file1", b"data1");
        let u = read_config_dir(tmp.path()).unwrap();
        let want = hex::encode(Sha256::digest(b"file1\0data1\0file2\0data2\0"));
        assert_eq!(u.version, want);
        assert_eq!(u.data.get("file1").map(String::as_str), Some("data1"));
        assert_eq!(u.data.len(), 2);
    }

    #[test]
    fn subdirs_and_dotfiles_ignored() {
        let tmp = tempfile::tempdir().unwrap();
        write(tmp.path(), "file1", b"data1");
        write(tmp.path(), ".hidden", b"x");
        std::fs::create_dir(tmp.path().join("subdir")).unwrap();
        write(&tmp.path().join("subdir"), "inner", b"y");
        std::fs::create_dir(tmp.path().join("..data")).unwrap();
        let u = read_config_dir(tmp.path()).unwrap();
        assert_eq!(u.data.keys().collect::<Vec<_>>(), vec!["file1"]);
        assert_eq!(u.version, hex::encode(Sha256::digest(b"file1\0data1\0")));
    }

    #[test]
    fn symlinked_files_followed() {
        // The kubelet layout: key -> ..data/key, ..data -> ..<timestamp>.
        let tmp = tempfile::tempdir().unwrap();
        let real = tmp.path().join("..2026_11_22");
        std::fs::create_dir(&real).unwrap();
        write(&real, "federations", b"a=b");
        std::os::unix::fs::symlink("..2026_11_22", tmp.path().join("..data")).unwrap();
        std::os::unix::fs::symlink("..data/federations", tmp.path().join("federations")).unwrap();
        std::os::unix::fs::symlink("..data/missing", tmp.path().join("dangling")).unwrap();
        let u = read_config_dir(tmp.path()).unwrap();
        assert_eq!(u.data.get("federations").map(String::as_str), Some("a=b"));
        assert_eq!(u.data.len(), 1);
    }

    #[test]
    fn non_utf8_is_error() {
        let tmp = tempfile::tempdir().unwrap();
        write(tmp.path(), "bad", &[0xff, 0xfe, 0x00]);
        assert!(matches!(
            read_config_dir(tmp.path()),
            Err(ConfigError::NotUtf8(_))
        ));
    }

    #[test]
    fn poller_reports_first_then_changes_only() {
        let tmp = tempfile::tempdir().unwrap();
        let mut p = DirPoller::new(tmp.path());
        let first = p.poll().unwrap().expect("first poll reports");
        assert_eq!(first.version, "");
        assert!(p.poll().unwrap().is_none(), "unchanged version: no event");
        write(tmp.path(), "federations", b"a=b");
        let second = p.poll().unwrap().expect("change reported");
        assert_ne!(second.version, "");
        assert!(p.poll().unwrap().is_none());
        std::fs::remove_file(tmp.path().join("federations")).unwrap();
        assert_eq!(p.poll().unwrap().expect("removal reported").version, "");
    }
}
