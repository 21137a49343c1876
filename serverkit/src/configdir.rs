//! The `kube-dns` ConfigMap mounted as a directory, read with the legacy semantics
//! (`pkg/dns/config/sync_dir.go`, used by both kube-dns and the dnsmasq-nanny):
//!
//! * only regular, non-hidden files directly in the directory count (no recursion; names
//!   starting with `.` are skipped, so the kubelet's `..data` symlink directory is ignored);
//!   symlinked files are followed, a dangling symlink is skipped like a directory;
//! * the version is SHA-256 over `name \0 content \0` for each file in lexical order, hex
//!   encoded; an empty directory has version `""`, meaning "default config";
//! * a file over [`MAX_CONFIG_FILE_BYTES`] (a ConfigMap holds at most 1 MiB in all) or with
//!   non-UTF-8 content is an error;
//! * a **missing directory is an error**, not an empty one: the kubelet always creates the
//!   volume directory (empty for an absent optional ConfigMap), so a missing one is a
//!   misconfiguration or a volume in transition. Callers start with the default config when
//!   the first read fails (as both legacy binaries did) and keep the last good config when a
//!   later read fails — a disappearing directory never silently resets the configuration.
//!
//! [`DirPoller`] reports the first read and afterwards only changes.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// Largest ConfigMap file read (the API server caps a whole ConfigMap at 1 MiB).
pub const MAX_CONFIG_FILE_BYTES: u64 = 1 << 20;

/// Errors reading the directory.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigDirError {
    /// The directory or one of its files could not be read (a missing directory included).
    #[error("cannot read {path}: {source}")]
    Io {
        /// File or directory.
        path: PathBuf,
        /// The IO error.
        #[source]
        source: std::io::Error,
    },
    /// A file is not valid UTF-8.
    #[error("{0} is not valid UTF-8")]
    NotUtf8(PathBuf),
    /// A file is larger than [`MAX_CONFIG_FILE_BYTES`].
    #[error("{path} is larger than {limit} bytes")]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The cap.
        limit: u64,
    },
}

/// One read of the directory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DirSnapshot {
    /// Hex SHA-256 of the files, `""` when there are none.
    pub version: String,
    /// File name (ConfigMap key) → content.
    pub files: BTreeMap<String, String>,
}

/// SHA-256 over `name \0 content \0` in lexical order, hex; `""` for no files.
pub fn version_of(files: &BTreeMap<String, String>) -> String {
    if files.is_empty() {
        return String::new();
    }
    let mut h = Sha256::new();
    for (k, v) in files {
        h.update(k.as_bytes());
        h.update([0]);
        h.update(v.as_bytes());
        h.update([0]);
    }
    hex::encode(h.finalize())
}

/// Read the directory once and compute its version.
pub fn read_config_dir(dir: &Path) -> Result<DirSnapshot, ConfigDirError> {
    let io_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ConfigDirError::Io { path, source }
    };
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        let Ok(name) = entry.file_name().into_string() else {
            continue; // a non-UTF-8 file name cannot be a ConfigMap key
        };
        if name.starts_with('.') {
            continue;
        }
        let path = entry.path();
        // `metadata` follows symlinks: a symlink to a regular file counts as that file.
        let meta = match std::fs::metadata(&path) {
            Ok(m) if m.is_file() => m,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io_err(&path)(e)),
        };
        if meta.len() > MAX_CONFIG_FILE_BYTES {
            return Err(ConfigDirError::TooLarge {
                path,
                limit: MAX_CONFIG_FILE_BYTES,
            });
        }
        // Read through the cap too: the file may grow between `metadata` and the read.
        let mut bytes = Vec::with_capacity(meta.len() as usize);
        std::fs::File::open(&path)
            .and_then(|f| f.take(MAX_CONFIG_FILE_BYTES + 1).read_to_end(&mut bytes))
            .map_err(io_err(&path))?;
        if bytes.len() as u64 > MAX_CONFIG_FILE_BYTES {
            return Err(ConfigDirError::TooLarge {
                path,
                limit: MAX_CONFIG_FILE_BYTES,
            });
        }
        let text = String::from_utf8(bytes).map_err(|_| ConfigDirError::NotUtf8(path))?;
        files.insert(name, text);
    }
    Ok(DirSnapshot {
        version: version_of(&files),
        files,
    })
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
    pub fn poll(&mut self) -> Result<Option<DirSnapshot>, ConfigDirError> {
        let snap = read_config_dir(&self.dir)?;
        if self.last_version.as_deref() == Some(snap.version.as_str()) {
            return Ok(None);
        }
        self.last_version = Some(snap.version.clone());
        Ok(Some(snap))
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
        assert!(
            matches!(&err, ConfigDirError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound),
            "{err}"
        );
    }

    #[test]
    fn empty_dir_has_empty_version() {
        let tmp = tempfile::tempdir().unwrap();
        assert_eq!(read_config_dir(tmp.path()).unwrap(), DirSnapshot::default());
    }

    #[test]
    fn version_is_sha256_of_names_and_contents() {
        let tmp = tempfile::tempdir().unwrap();
        write(tmp.path(), "file2", b"data2");
        write(tmp.path(), "file1", b"data1");
        let u = read_config_dir(tmp.path()).unwrap();
        let want = hex::encode(Sha256::digest(b"file1\0data1\0file2\0data2\0"));
        assert_eq!(u.version, want);
        assert_eq!(u.files.get("file1").map(String::as_str), Some("data1"));
        assert_eq!(u.files.len(), 2);
        assert_eq!(version_of(&u.files), want);
        assert_eq!(version_of(&BTreeMap::new()), "");
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
        assert_eq!(u.files.keys().collect::<Vec<_>>(), vec!["file1"]);
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
        assert_eq!(u.files.get("federations").map(String::as_str), Some("a=b"));
        assert_eq!(u.files.len(), 1);
    }

    #[test]
    fn non_utf8_and_oversized_files_are_errors() {
        let tmp = tempfile::tempdir().unwrap();
        write(tmp.path(), "bad", &[0xff, 0xfe, 0x00]);
        assert!(matches!(
            read_config_dir(tmp.path()),
            Err(ConfigDirError::NotUtf8(_))
        ));
        std::fs::remove_file(tmp.path().join("bad")).unwrap();
        let at_cap = vec![b'a'; MAX_CONFIG_FILE_BYTES as usize];
        write(tmp.path(), "big", &at_cap);
        assert!(
            read_config_dir(tmp.path()).is_ok(),
            "exactly the cap is fine"
        );
        let mut over = at_cap;
        over.push(b'a');
        write(tmp.path(), "big", &over);
        assert!(matches!(
            read_config_dir(tmp.path()),
            Err(ConfigDirError::TooLarge {
                limit: MAX_CONFIG_FILE_BYTES,
                ..
            })
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
