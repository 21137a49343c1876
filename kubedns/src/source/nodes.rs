//! Node watcher for federation answers: the cluster's zone and region come from node labels
//! (`topology.kubernetes.io/zone|region`, else the legacy
//! `failure-domain.beta.kubernetes.io/zone|region`). Started only while federations are
//! configured (legacy listed nodes on demand; this needs `list`/`watch` on nodes, like
//! legacy's `list`). The choice is deterministic: the node with the smallest name that has both
//! labels. [`NodeZones`] is the pure event → choice state machine.

use std::collections::BTreeMap;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Node;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::metrics::WatchMetrics;
use crate::store::Store;

/// Zone label (current).
pub const ZONE_LABEL: &str = "topology.kubernetes.io/zone";
/// Region label (current).
pub const REGION_LABEL: &str = "topology.kubernetes.io/region";
/// Zone label (legacy beta).
pub const LEGACY_ZONE_LABEL: &str = "failure-domain.beta.kubernetes.io/zone";
/// Region label (legacy beta).
pub const LEGACY_REGION_LABEL: &str = "failure-domain.beta.kubernetes.io/region";

/// `(zone, region)` of one node, if it carries both.
pub fn zone_region(node: &Node) -> Option<(String, String)> {
    let labels = node.metadata.labels.as_ref()?;
    let get = |new: &str, old: &str| {
        labels
            .get(new)
            .or_else(|| labels.get(old))
            .filter(|v| !v.is_empty())
            .cloned()
    };
    Some((
        get(ZONE_LABEL, LEGACY_ZONE_LABEL)?,
        get(REGION_LABEL, LEGACY_REGION_LABEL)?,
    ))
}

/// Node name → zone/region, with relist buffering. Pure.
#[derive(Debug, Default)]
pub struct NodeZones {
    nodes: BTreeMap<String, (String, String)>,
    buffer: Option<BTreeMap<String, (String, String)>>,
}

impl NodeZones {
    /// The current choice.
    pub fn current(&self) -> Option<(String, String)> {
        self.nodes.values().next().cloned()
    }

    /// Feed one event; returns the new choice when it changed.
    pub fn on_event(&mut self, event: watcher::Event<Node>) -> Option<Option<(String, String)>> {
        let before = self.current();
        match event {
            watcher::Event::Init => {
                self.buffer = Some(BTreeMap::new());
                return None;
            }
            watcher::Event::InitApply(n) => {
                if let (Some(name), Some(zr)) = (n.metadata.name.clone(), zone_region(&n)) {
                    self.buffer
                        .get_or_insert_with(BTreeMap::new)
                        .insert(name, zr);
                }
                return None;
            }
            watcher::Event::InitDone => self.nodes = self.buffer.take().unwrap_or_default(),
            watcher::Event::Apply(n) => {
                let name = n.metadata.name.clone()?;
                match zone_region(&n) {
                    Some(zr) => self.nodes.insert(name, zr),
                    None => self.nodes.remove(&name),
                };
            }
            watcher::Event::Delete(n) => {
                if let Some(name) = &n.metadata.name {
                    self.nodes.remove(name);
                }
            }
        }
        let after = self.current();
        (after != before).then_some(after)
    }
}

/// Watch nodes while `federations_on` is true (starting when it first becomes true) and keep
/// the store's federation zone current.
pub async fn run_nodes(
    client: Client,
    store: Store,
    metrics: WatchMetrics,
    mut federations_on: watch::Receiver<bool>,
    shutdown: CancellationToken,
) {
    tokio::select! {
        _ = shutdown.cancelled() => return,
        r = federations_on.wait_for(|on| *on) => if r.is_err() { return },
    }
    tracing::info!("federations configured: watching nodes for zone/region labels");
    let api: Api<Node> = Api::all(client);
    let mut stream = watcher(api, watcher::Config::default().any_semantic())
        .default_backoff()
        .boxed();
    let mut zones = NodeZones::default();
    loop {
        let item = tokio::select! {
            _ = shutdown.cancelled() => return,
            item = stream.next() => item,
        };
        match item {
            Some(Ok(event)) => {
                metrics.event("nodes", super::event_type(&event));
                if let Some(choice) = zones.on_event(event) {
                    tracing::info!(zone_region = ?choice, "federation zone/region updated");
                    store.set_federation_zone(choice);
                }
            }
            Some(Err(err)) => {
                metrics.error("nodes");
                tracing::warn!(error = %err, "node watch error (federation answers need list/watch on nodes); retrying");
            }
            None => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn node(name: &str, labels: &[(&str, &str)]) -> Node {
        Node {
            metadata: ObjectMeta {
                name: Some(name.into()),
                labels: Some(
                    labels
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                ),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn labels_new_and_legacy() {
        let n = node("a", &[(LEGACY_ZONE_LABEL, "z"), (LEGACY_REGION_LABEL, "r")]);
        assert_eq!(zone_region(&n), Some(("z".into(), "r".into())));
        let n = node(
            "a",
            &[
                (ZONE_LABEL, "z2"),
                (LEGACY_ZONE_LABEL, "z"),
                (REGION_LABEL, "r2"),
            ],
        );
        assert_eq!(zone_region(&n), Some(("z2".into(), "r2".into())));
        assert_eq!(zone_region(&node("a", &[(ZONE_LABEL, "z")])), None);
    }

    #[test]
    fn choice_tracks_events() {
        let zr = |z: &str| Some((z.to_string(), "reg".to_string()));
        let mut m = NodeZones::default();
        assert_eq!(m.on_event(watcher::Event::Init), None);
        m.on_event(watcher::Event::InitApply(node(
            "b",
            &[(ZONE_LABEL, "zb"), (REGION_LABEL, "reg")],
        )));
        m.on_event(watcher::Event::InitApply(node("c", &[])));
        assert_eq!(m.on_event(watcher::Event::InitDone), Some(zr("zb")));
        assert_eq!(
            m.on_event(watcher::Event::Apply(node(
                "a",
                &[(ZONE_LABEL, "za"), (REGION_LABEL, "reg")]
            ))),
            Some(zr("za"))
        );
        assert_eq!(
            m.on_event(watcher::Event::Apply(node(
                "c",
                &[(ZONE_LABEL, "zc"), (REGION_LABEL, "reg")]
            ))),
            None
        );
        assert_eq!(
            m.on_event(watcher::Event::Delete(node("a", &[]))),
            Some(zr("zb"))
        );
        m.on_event(watcher::Event::Delete(node("b", &[])));
        assert_eq!(
            m.on_event(watcher::Event::Delete(node("c", &[]))),
            Some(None)
        );
    }
}
