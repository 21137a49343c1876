//! `--config-map` source: the kube-dns ConfigMap read through the API.
//!
//! Only that one ConfigMap is watched (field selector `metadata.name=<name>` in
//! `--config-map-namespace`; legacy watched every ConfigMap of the namespace). The version is the
//! object's `resourceVersion`; a deleted (or absent) ConfigMap means the default config. The
//! watcher event → update translation is the pure [`ConfigMapMachine`].

use std::path::PathBuf;

use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};
use tokio_util::sync::CancellationToken;

use super::{ConfigTracker, ConfigUpdate, EffectiveConfig, apply_and_publish};

fn to_update(cm: &ConfigMap) -> ConfigUpdate {
    ConfigUpdate {
        version: cm.metadata.resource_version.clone().unwrap_or_default(),
        data: cm.data.clone().unwrap_or_default().into_iter().collect(),
    }
}

/// Translates watcher events for the single ConfigMap into config updates. Pure.
#[derive(Debug, Default)]
pub struct ConfigMapMachine {
    /// `Some` between `Init` and `InitDone`: the object seen in the (re)list, if any.
    listing: Option<Option<ConfigUpdate>>,
}

impl ConfigMapMachine {
    /// Feed one event; returns the update to apply, if any.
    pub fn on_event(
        &mut self,
        name: &str,
        event: watcher::Event<ConfigMap>,
    ) -> Option<ConfigUpdate> {
        let ours = |cm: &ConfigMap| cm.metadata.name.as_deref() == Some(name);
        match event {
            watcher::Event::Init => {
                self.listing = Some(None);
                None
            }
            watcher::Event::InitApply(cm) => {
                if ours(&cm) {
                    self.listing = Some(Some(to_update(&cm)));
                }
                None
            }
            // Not found in the list: default config (version "").
            watcher::Event::InitDone => Some(self.listing.take().flatten().unwrap_or_default()),
            watcher::Event::Apply(cm) => ours(&cm).then(|| to_update(&cm)),
            watcher::Event::Delete(cm) => ours(&cm).then(ConfigUpdate::default),
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
    shutdown: CancellationToken,
) {
    let api: Api<ConfigMap> = Api::namespaced(client, &namespace);
    let cfg = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let mut stream = watcher(api, cfg).default_backoff().boxed();
    let mut machine = ConfigMapMachine::default();
    let mut tracker = ConfigTracker::new();
    // Legacy: start with the default config; the API result replaces it when it arrives.
    sink(tracker.effective(super::resolv::read_resolv_conf(&resolv_conf)));
    loop {
        let item = tokio::select! {
            _ = shutdown.cancelled() => return,
            item = stream.next() => item,
        };
        match item {
            Some(Ok(event)) => {
                if let Some(update) = machine.on_event(&name, event) {
                    apply_and_publish(&mut tracker, &update, &resolv_conf, "config-map", &mut sink);
                }
            }
            Some(Err(err)) => {
                let reason = err.to_string();
                if tracker.note_error(&reason) {
                    tracing::warn!(%namespace, %name, %reason, "configmap watch error; retrying");
                }
            }
            None => return,
        }
    }
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

    #[test]
    fn list_then_watch() {
        let mut m = ConfigMapMachine::default();
        assert_eq!(m.on_event("kube-dns", watcher::Event::Init), None);
        assert_eq!(
            m.on_event(
                "kube-dns",
                watcher::Event::InitApply(cm("kube-dns", "5", "a=b"))
            ),
            None
        );
        let u = m.on_event("kube-dns", watcher::Event::InitDone).unwrap();
        assert_eq!(u.version, "5");
        assert_eq!(u.data.get("federations").map(String::as_str), Some("a=b"));
        let u = m
            .on_event(
                "kube-dns",
                watcher::Event::Apply(cm("kube-dns", "6", "c=d")),
            )
            .unwrap();
        assert_eq!(u.version, "6");
        // Other ConfigMaps are ignored even if the server did not filter.
        assert_eq!(
            m.on_event("kube-dns", watcher::Event::Apply(cm("other", "7", "x=y"))),
            None
        );
        // Deletion reverts to defaults.
        assert_eq!(
            m.on_event("kube-dns", watcher::Event::Delete(cm("kube-dns", "8", ""))),
            Some(ConfigUpdate::default())
        );
    }

    #[test]
    fn absent_configmap_means_defaults() {
        let mut m = ConfigMapMachine::default();
        m.on_event("kube-dns", watcher::Event::Init);
        assert_eq!(
            m.on_event("kube-dns", watcher::Event::InitDone),
            Some(ConfigUpdate::default())
        );
    }
}
