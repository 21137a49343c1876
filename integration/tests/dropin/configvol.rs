//! A ConfigMap volume laid out the way the kubelet's atomic writer does it: the data files
//! live in a hidden timestamped directory, `..data` is a symlink to it (swapped atomically by
//! rename on every update), and each key is a symlink `<key> -> ..data/<key>`. Consumers must
//! follow the key symlinks and ignore the hidden entries. Directories are 0755 and files
//! 0644 (the volume's default mode), so a non-root container can read them.

use std::collections::BTreeMap;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};

use anyhow::Context;

/// Mode of the volume's directories.
const DIR_MODE: u32 = 0o755;
/// Mode of the data files (a ConfigMap volume's default `defaultMode`).
const FILE_MODE: u32 = 0o644;

fn chmod(path: &Path, mode: u32) -> anyhow::Result<()> {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("chmod {mode:o} {}", path.display()))
}

/// One materialised ConfigMap volume.
pub struct ConfigMapDir {
    dir: PathBuf,
    generation: u32,
    keys: Vec<String>,
}

impl ConfigMapDir {
    /// An empty volume (an absent `optional: true` ConfigMap, or one without data) at `dir`.
    pub fn create(dir: &Path) -> anyhow::Result<ConfigMapDir> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        chmod(dir, DIR_MODE)?;
        Ok(ConfigMapDir {
            dir: dir.to_path_buf(),
            generation: 0,
            keys: Vec::new(),
        })
    }

    /// The directory the container sees at its mountPath.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Publishes `data` atomically (new timestamped dir, `..data` swapped by rename).
    pub fn publish(&mut self, data: &BTreeMap<String, String>) -> anyhow::Result<()> {
        self.generation += 1;
        let ts_name = format!("..gen_{:04}", self.generation);
        let ts_dir = self.dir.join(&ts_name);
        std::fs::create_dir(&ts_dir).with_context(|| format!("creating {}", ts_dir.display()))?;
        chmod(&ts_dir, DIR_MODE)?;
        for (k, v) in data {
            let file = ts_dir.join(k);
            std::fs::write(&file, v).with_context(|| format!("writing key {k}"))?;
            chmod(&file, FILE_MODE)?;
        }
        let tmp_link = self.dir.join("..data_tmp");
        let _ = std::fs::remove_file(&tmp_link);
        symlink(&ts_name, &tmp_link).context("creating ..data_tmp")?;
        let old = std::fs::read_link(self.dir.join("..data")).ok();
        std::fs::rename(&tmp_link, self.dir.join("..data")).context("swapping ..data")?;
        for k in data.keys() {
            let link = self.dir.join(k);
            if std::fs::symlink_metadata(&link).is_err() {
                symlink(Path::new("..data").join(k), &link)
                    .with_context(|| format!("linking key {k}"))?;
            }
        }
        for k in &self.keys {
            if !data.contains_key(k) {
                let _ = std::fs::remove_file(self.dir.join(k));
            }
        }
        self.keys = data.keys().cloned().collect();
        if let Some(old) = old {
            let _ = std::fs::remove_dir_all(self.dir.join(old));
        }
        Ok(())
    }
}

/// The `data` of a ConfigMap object (empty when it has none).
pub fn config_map_data(obj: &serde_json::Value) -> BTreeMap<String, String> {
    obj["data"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
        .collect()
}
