//! Loading objects from multi-document YAML (what one would `kubectl apply -f`): files or
//! directories (`*.yaml`, `*.yml`, `*.json`, sorted, recursive). `List` documents are
//! expanded, Namespaces are created first, missing namespaces are created on demand, and
//! objects of kinds the emulator does not serve (Deployments, DaemonSets, …) are
//! skipped and reported.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::meta::{meta_str, metadata_mut};
use super::resources;
use super::status::ApiError;
use super::store::{Store, res_of};

/// Errors loading manifests.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A file could not be read.
    #[error("reading {path}: {source}")]
    Io {
        /// Path.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// A file is not valid YAML.
    #[error("parsing {path}: {message}")]
    Parse {
        /// Path.
        path: String,
        /// Parser message.
        message: String,
    },
    /// The store rejected an object.
    #[error("applying {object} from {path}: {error}")]
    Apply {
        /// Path.
        path: String,
        /// `kind/namespace/name`.
        object: String,
        /// API error.
        error: Box<ApiError>,
    },
}

/// What a load did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct LoadReport {
    /// Objects created or replaced.
    pub applied: usize,
    /// `kind/namespace/name` of skipped objects (kind not served).
    pub skipped: Vec<String>,
}

fn collect_files(path: &Path, out: &mut Vec<PathBuf>) -> Result<(), LoadError> {
    let io = |source| LoadError::Io {
        path: path.to_path_buf(),
        source,
    };
    if path.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(io)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for e in entries {
            if e.is_dir() {
                collect_files(&e, out)?;
            } else if e
                .extension()
                .and_then(|x| x.to_str())
                .is_some_and(|x| matches!(x, "yaml" | "yml" | "json"))
            {
                out.push(e);
            }
        }
    } else {
        out.push(path.to_path_buf());
    }
    Ok(())
}

/// Loads a file or directory into the store.
pub fn load_path(store: &mut Store, path: &Path) -> Result<LoadReport, LoadError> {
    let mut files = Vec::new();
    collect_files(path, &mut files)?;
    let mut total = LoadReport::default();
    for f in files {
        let text = std::fs::read_to_string(&f).map_err(|source| LoadError::Io {
            path: f.clone(),
            source,
        })?;
        let r = load_str(store, &text, &f.display().to_string())?;
        total.applied += r.applied;
        total.skipped.extend(r.skipped);
    }
    Ok(total)
}

fn describe(o: &Value) -> String {
    format!(
        "{}/{}/{}",
        o["kind"].as_str().unwrap_or("?"),
        meta_str(o, "namespace").unwrap_or(""),
        meta_str(o, "name").unwrap_or("?")
    )
}

/// Parses multi-document YAML and creates or replaces every object.
pub fn load_str(store: &mut Store, text: &str, origin: &str) -> Result<LoadReport, LoadError> {
    let docs: Vec<Value> = serde_saphyr::from_multiple(text).map_err(|e| LoadError::Parse {
        path: origin.into(),
        message: e.to_string(),
    })?;
    let mut objects = Vec::new();
    for d in docs {
        match d["items"].as_array() {
            Some(items) if d["kind"].as_str().is_some_and(|k| k.ends_with("List")) => {
                objects.extend(items.iter().cloned())
            }
            _ if d.is_object() => objects.push(d),
            _ => {}
        }
    }
    // Namespaces first, so objects in them can be created.
    objects.sort_by_key(|o| o["kind"] != "Namespace");
    let mut report = LoadReport::default();
    for mut obj in objects {
        let Ok(res) = res_of(&obj) else {
            report.skipped.push(describe(&obj));
            continue;
        };
        let apply_err = |error: ApiError| LoadError::Apply {
            path: origin.into(),
            object: describe(&obj),
            error: Box::new(error),
        };
        let ns = if res.namespaced {
            meta_str(&obj, "namespace").unwrap_or("default").to_string()
        } else {
            String::new()
        };
        let name = meta_str(&obj, "name").unwrap_or("").to_string();
        if res.namespaced {
            let ns_res = resources::by_plural("namespaces")
                .ok_or_else(|| apply_err(ApiError::internal("no namespaces")))?;
            if store.get(ns_res, "", &ns).is_err() {
                store
                    .create(
                        ns_res,
                        "",
                        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
                    )
                    .map_err(apply_err)?;
            }
        }
        let result = if !name.is_empty() && store.get(res, &ns, &name).is_ok() {
            if let Some(m) = metadata_mut(&mut obj) {
                m.remove("resourceVersion");
            }
            store.update(res, &ns, &name, obj.clone())
        } else {
            store.create(res, &ns, obj.clone())
        };
        result.map_err(|error| LoadError::Apply {
            path: origin.into(),
            object: describe(&obj),
            error: Box::new(error),
        })?;
        report.applied += 1;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreConfig;

    #[test]
    fn loads_multi_document_yaml() {
        let mut st = Store::new(StoreConfig::default());
        let yaml = r#"
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: demo
spec:
  clusterIP: 10.0.0.50
  ports:
  - name: http
    port: 80
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: ignored
  namespace: demo
---
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: ConfigMap
  metadata:
    name: cfg
    namespace: kube-system
  data:
    stubDomains: '{"acme.local": ["1.2.3.4"]}'
"#;
        let r = load_str(&mut st, yaml, "test").expect("load");
        assert_eq!(r.applied, 2);
        assert_eq!(r.skipped, vec!["Deployment/demo/ignored".to_string()]);
        let svc = st
            .get(
                resources::by_plural("services").expect("svc"),
                "demo",
                "web",
            )
            .expect("svc");
        assert_eq!(svc["spec"]["clusterIP"], "10.0.0.50");
        assert_eq!(svc["spec"]["ports"][0]["protocol"], "TCP");
        // Loading again replaces (no AlreadyExists).
        let again = load_str(&mut st, yaml, "test").expect("reload");
        assert_eq!(again.applied, 2);
        assert!(load_str(&mut st, "a: [unclosed", "bad").is_err());
    }
}
