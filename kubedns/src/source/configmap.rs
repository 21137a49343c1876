//! `--config-map` source: the kube-dns ConfigMap read through the API, by the common watch
//! driver ([`super::reflector`]) like every other watched kind.
//!
//! Only that one ConfigMap is watched (field selector `metadata.name=<name>` in
//! `--config-map-namespace`; legacy watched every ConfigMap of the namespace). The version is the
//! object's `resourceVersion`; a deleted (or absent) ConfigMap means the default config. The
//! operation → update translation is the pure [`ConfigMapSink::update_for`]; validation and
//! publication are [`crate::config`]'s.

use std::path::PathBuf;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::{Api, Client};
use tokio_util::sync::CancellationToken;

use super::machine::{Convert, StoreOp};
use super::reflector::{Reflector, Sink, USE_WATCH_LIST};
use crate::config::{ConfigTracker, ConfigUpdate, EffectiveConfig, apply_and_publish, resolv};
use crate::metrics::WatchMetrics;
use crate::model::ModelError;

/// Metric/log label of the ConfigMap watch.
pub const RESOURCE: &str = "configmaps";

/// One ConfigMap in compact form: its name and its data as a config update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedUpdate {
    /// `metadata.name`.
    pub name: String,
    /// Version and data.
    pub update: ConfigUpdate,
}

/// Conversion of ConfigMaps for the driver.
struct ConfigMaps;
impl Convert<ConfigMap> for ConfigMaps {
    type Out = NamedUpdate;
    type Key = (String, String);
    fn convert(cm: &ConfigMap) -> Result<NamedUpdate, ModelError> {
        Ok(NamedUpdate {
            name: cm.metadata.name.clone().ok_or(ModelError::NoName)?,
            update: ConfigUpdate {
                version: cm.metadata.resource_version.clone().unwrap_or_default(),
                data: cm.data.clone().unwrap_or_default().into_iter().collect(),
            },
        })
    }
    fn key(cm: &ConfigMap) -> Option<(String, String)> {
        Some((
            cm.metadata.namespace.clone().unwrap_or_default(),
            cm.metadata.name.clone()?,
        ))
    }
    fn version(cm: &ConfigMap) -> Option<String> {
        cm.metadata.resource_version.clone()
    }
}

/// Applies the watched ConfigMap to the config tracker and publishes valid changes.
pub struct ConfigMapSink<P> {
    name: String,
    resolv_conf: PathBuf,
    tracker: ConfigTracker,
    publish: P,
}

impl<P> ConfigMapSink<P> {
    /// The update one operation means for the ConfigMap `name`, if any. Pure.
    pub fn update_for(
        name: &str,
        op: StoreOp<NamedUpdate, (String, String)>,
    ) -> Option<ConfigUpdate> {
        match op {
            // Not found in the list: default config (version "").
            StoreOp::Replace(all) => Some(
                all.into_iter()
                    .find(|c| c.name == name)
                    .map(|c| c.update)
                    .unwrap_or_default(),
            ),
            // Other ConfigMaps are ignored even if the server did not filter.
            StoreOp::Upsert(c) => (c.name == name).then_some(c.update),
            // Deletion reverts to defaults.
            StoreOp::Delete((_, key)) => (key == name).then(ConfigUpdate::default),
        }
    }
}

impl<P: FnMut(EffectiveConfig) + Send> Sink<NamedUpdate, (String, String)> for ConfigMapSink<P> {
    fn apply_op(&mut self, op: StoreOp<NamedUpdate, (String, String)>) {
        if let Some(update) = Self::update_for(&self.name, op) {
            apply_and_publish(
                &mut self.tracker,
                &update,
                &self.resolv_conf,
                "config-map",
                &mut self.publish,
            );
        }
    }
}

/// Watch the ConfigMap until `shutdown`, publishing valid changes to `sink`. Errors are logged and
/// the watch retried with backoff; until the first successful list the default config applies.
pub async fn run_config_map(
    client: Client,
    namespace: String,
    name: String,
    resolv_conf: PathBuf,
    mut sink: impl FnMut(EffectiveConfig) + Send,
    metrics: WatchMetrics,
    shutdown: CancellationToken,
) {
    let tracker = ConfigTracker::new();
    // Legacy: start with the default config; the API result replaces it when it arrives.
    sink(tracker.effective(resolv::read_resolv_conf(&resolv_conf)));
    let fields = format!("metadata.name={name}");
    Reflector {
        client: client.clone(),
        resource: RESOURCE,
        sink: ConfigMapSink {
            name,
            resolv_conf,
            tracker,
            publish: sink,
        },
        fields: Some(fields),
        observe_latency: false,
        metrics,
        on_first_sync: None::<fn()>,
        watch_list: USE_WATCH_LIST,
    }
    .run::<ConfigMap, ConfigMaps>(Api::namespaced(client, &namespace), shutdown)
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn cm(name: &str, rv: &str, fed: &str) -> ConfigMap {
        ConfigMap {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("kube-system".into()),
                resource_version: Some(rv.into()),
                ..Default::default()
            },
            data: Some([("federations".to_string(), fed.to_string())].into()),
            ..Default::default()
        }
    }

    fn named(name: &str, rv: &str, fed: &str) -> NamedUpdate {
        ConfigMaps::convert(&cm(name, rv, fed)).expect("convert")
    }

    fn update(rv: &str, fed: &str) -> ConfigUpdate {
        ConfigUpdate {
            version: rv.into(),
            data: [("federations".to_string(), fed.to_string())].into(),
        }
    }

    #[test]
    fn operations_to_updates() {
        let delete = |name: &str| StoreOp::Delete(("kube-system".to_string(), name.to_string()));
        // (case, operation, update for "kube-dns")
        let cases = [
            (
                "list with ours",
                StoreOp::Replace(vec![
                    named("other", "4", "x=y"),
                    named("kube-dns", "5", "a=b"),
                ]),
                Some(update("5", "a=b")),
            ),
            (
                "list without ours: defaults",
                StoreOp::Replace(vec![named("other", "4", "x=y")]),
                Some(ConfigUpdate::default()),
            ),
            (
                "change",
                StoreOp::Upsert(named("kube-dns", "6", "c=d")),
                Some(update("6", "c=d")),
            ),
            (
                "another ConfigMap",
                StoreOp::Upsert(named("other", "7", "x=y")),
                None,
            ),
            (
                "deleted: defaults",
                delete("kube-dns"),
                Some(ConfigUpdate::default()),
            ),
            ("another deleted", delete("other"), None),
        ];
        for (case, op, want) in cases {
            assert_eq!(
                ConfigMapSink::<fn(EffectiveConfig)>::update_for("kube-dns", op),
                want,
                "{case}"
            );
        }
    }

    #[test]
    fn keyed_by_namespace_and_name() {
        assert_eq!(
            ConfigMaps::key(&cm("kube-dns", "1", "")),
            Some(("kube-system".into(), "kube-dns".into()))
        );
        assert_eq!(
            ConfigMaps::version(&cm("kube-dns", "9", "")).as_deref(),
            Some("9")
        );
    }
}
